import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { CodedError } from '../../../domain/errors.ts';
import { parseRegistryText, registryJson, type SignerRegistry } from '../../../chain/registry.ts';
import type { RegistryStore } from '../../../chain/rotation.ts';

/** Reads and validates signers.json; a missing or unreadable file is a clear error. */
export function loadRegistryFile(path: string): SignerRegistry {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new CodedError(
      'SIGNER_REGISTRY_UNREADABLE',
      `cannot read signer registry ${path}: ${(error as Error).message}`,
      { path },
    );
  }
  return parseRegistryText(text);
}

export function registryText(registry: SignerRegistry): string {
  return `${JSON.stringify(registryJson(registry), null, 2)}\n`;
}

/** Replaces signers.json atomically (write a temporary file, rename). */
export function writeRegistryFile(path: string, registry: SignerRegistry): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, registryText(registry), { mode: 0o644 });
  renameSync(temporary, path);
}

export function registryFileExists(path: string): boolean {
  return existsSync(path);
}

/** signers.json as the registry store signer rotation changes (chain/rotation.ts). */
export function registryFileStore(path: string): RegistryStore {
  return { load: () => loadRegistryFile(path), save: (registry) => writeRegistryFile(path, registry) };
}
