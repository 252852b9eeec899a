/**
 * The signer registry, `signers.json` (docs/FORMAT.md section 4).
 * Parsing reports every problem at once, each with its path, so an operator
 * fixes the file in one pass.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { CodedError } from '../domain/errors.ts';
import { isJsonObject } from '../domain/json.ts';
import { isSignatureAlgorithm, keyMismatch, SIGNATURE_ALGORITHMS, type SignatureAlgorithm } from './signature.ts';

export interface RegisteredSigner {
  kid: string;
  algorithm: SignatureAlgorithm;
  publicKey: KeyObject;
  publicKeyPem: string;
  deployedAt: string;
  deployedAtMs: number;
  retiredAt: string | null;
  retiredAtMs: number | null;
  description: string | null;
}

export interface SignerRegistry {
  signers: ReadonlyMap<string, RegisteredSigner>;
}

export class RegistryError extends CodedError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super('INVALID_SIGNER_REGISTRY', `invalid signer registry:\n  - ${problems.join('\n  - ')}`, { problems });
    this.problems = problems;
  }
}

const ENTRY_MEMBERS = new Set(['signer_kid', 'algorithm', 'public_key_pem', 'deployedAt', 'retiredAt', 'description']);
const KID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
/** RFC 3339 with a zone: `2025-02-24T00:00:00Z`, `…00.000Z`, `…+01:00`. */
export const RFC3339_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
export const MAX_REGISTRY_SIGNERS = 1000;

/** Date.parse reads 2026-02-30 as March 2 and 24:00 as the next day: the date and hour must exist as written. */
export function onTheCalendar(value: string): boolean {
  const [year, month, day, hour] = value.slice(0, 13).split(/[-T]/).map(Number) as [number, number, number, number];
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  return date.getUTCMonth() === month - 1 && date.getUTCDate() === day && hour < 24;
}

function parseInstant(value: unknown, path: string, problems: string[]): number | undefined {
  if (
    typeof value !== 'string' ||
    !RFC3339_PATTERN.test(value) ||
    !onTheCalendar(value) ||
    Number.isNaN(Date.parse(value))
  ) {
    problems.push(
      `${path}: must be an RFC 3339 timestamp with a zone, e.g. 2025-02-24T00:00:00Z (got ${JSON.stringify(value)})`,
    );
    return undefined;
  }
  return Date.parse(value);
}

function parsePublicKey(value: unknown, path: string, problems: string[]): KeyObject | undefined {
  if (typeof value !== 'string' || !value.includes('-----BEGIN PUBLIC KEY-----')) {
    problems.push(`${path}: must be an SPKI PEM public key ("-----BEGIN PUBLIC KEY-----")`);
    return undefined;
  }
  try {
    return createPublicKey({ key: value, format: 'pem' });
  } catch (error) {
    problems.push(`${path}: bad PEM: ${(error as Error).message}`);
    return undefined;
  }
}

function parseEntry(entry: unknown, path: string, problems: string[]): RegisteredSigner | undefined {
  if (!isJsonObject(entry)) {
    problems.push(`${path}: must be an object`);
    return undefined;
  }
  const before = problems.length;
  for (const member of Object.keys(entry)) {
    if (!ENTRY_MEMBERS.has(member)) problems.push(`${path}.${member}: unknown member`);
  }
  const kid = entry['signer_kid'];
  if (typeof kid !== 'string' || !KID_PATTERN.test(kid)) {
    problems.push(`${path}.signer_kid: must match ${KID_PATTERN.source} (got ${JSON.stringify(kid)})`);
  }
  const algorithm = entry['algorithm'];
  if (!isSignatureAlgorithm(algorithm)) {
    problems.push(
      `${path}.algorithm: must be one of ${SIGNATURE_ALGORITHMS.join(', ')} (got ${JSON.stringify(algorithm)})`,
    );
  }
  const publicKey = parsePublicKey(entry['public_key_pem'], `${path}.public_key_pem`, problems);
  if (publicKey && isSignatureAlgorithm(algorithm)) {
    const mismatch = keyMismatch(algorithm, publicKey);
    if (mismatch) problems.push(`${path}: algorithm mismatch: ${mismatch}`);
  }
  const deployedAtMs = parseInstant(entry['deployedAt'], `${path}.deployedAt`, problems);
  const retiredAt = entry['retiredAt'] ?? null;
  const retiredAtMs = retiredAt === null ? null : parseInstant(retiredAt, `${path}.retiredAt`, problems);
  if (deployedAtMs !== undefined && typeof retiredAtMs === 'number' && retiredAtMs <= deployedAtMs) {
    problems.push(`${path}: retiredAt must be after deployedAt (empty validity window)`);
  }
  const description = entry['description'] ?? null;
  if (description !== null && typeof description !== 'string') problems.push(`${path}.description: must be a string`);
  if (problems.length > before) return undefined;
  return {
    kid: kid as string,
    algorithm: algorithm as SignatureAlgorithm,
    publicKey: publicKey!,
    publicKeyPem: entry['public_key_pem'] as string,
    deployedAt: entry['deployedAt'] as string,
    deployedAtMs: deployedAtMs!,
    retiredAt: retiredAt as string | null,
    retiredAtMs: retiredAtMs ?? null,
    description: description as string | null,
  };
}

/** Validates a parsed signers.json document. Throws RegistryError listing every problem. */
export function parseRegistry(document: unknown): SignerRegistry {
  const problems: string[] = [];
  if (!isJsonObject(document) || !Array.isArray(document['signers'])) {
    throw new RegistryError(['the document must be an object with a "signers" array']);
  }
  const entries = document['signers'];
  if (entries.length > MAX_REGISTRY_SIGNERS) problems.push(`signers: at most ${MAX_REGISTRY_SIGNERS} entries`);
  const signers = new Map<string, RegisteredSigner>();
  entries.slice(0, MAX_REGISTRY_SIGNERS).forEach((entry, index) => {
    const signer = parseEntry(entry, `signers[${index}]`, problems);
    if (!signer) return;
    if (signers.has(signer.kid))
      problems.push(`signers[${index}].signer_kid: duplicate kid ${JSON.stringify(signer.kid)}`);
    else signers.set(signer.kid, signer);
  });
  if (problems.length > 0) throw new RegistryError(problems);
  return { signers };
}

/** Parses signers.json text; a JSON syntax error is a registry problem too. */
export function parseRegistryText(text: string): SignerRegistry {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new RegistryError([`not JSON: ${(error as Error).message}`]);
  }
  return parseRegistry(document);
}

export interface RegistryEntryJson {
  signer_kid: string;
  algorithm: SignatureAlgorithm;
  public_key_pem: string;
  deployedAt: string;
  retiredAt: string | null;
  description?: string;
}

export function registryEntryJson(signer: RegisteredSigner): RegistryEntryJson {
  return {
    signer_kid: signer.kid,
    algorithm: signer.algorithm,
    public_key_pem: signer.publicKeyPem,
    deployedAt: signer.deployedAt,
    retiredAt: signer.retiredAt,
    ...(signer.description === null ? {} : { description: signer.description }),
  };
}

/** The registry as a signers.json document: public keys only, by construction. */
export function registryJson(registry: SignerRegistry): { signers: RegistryEntryJson[] } {
  return { signers: [...registry.signers.values()].map(registryEntryJson) };
}

export type SignerCheck =
  | { ok: true; signer: RegisteredSigner }
  | { ok: false; reason: 'unknown-signer' | 'algorithm-mismatch' | 'outside-validity-window'; message: string };

/** docs/FORMAT.md section 4: the signer exists, algorithms match, deployedAt <= ts < retiredAt. */
export function checkSigner(registry: SignerRegistry, kid: string, alg: string, tsMs: number): SignerCheck {
  const signer = registry.signers.get(kid);
  if (!signer)
    return { ok: false, reason: 'unknown-signer', message: `signer ${JSON.stringify(kid)} is not in the registry` };
  if (signer.algorithm !== alg) {
    return {
      ok: false,
      reason: 'algorithm-mismatch',
      message: `sig.alg ${JSON.stringify(alg)} but signer ${kid} is ${signer.algorithm}`,
    };
  }
  if (tsMs < signer.deployedAtMs || (signer.retiredAtMs !== null && tsMs >= signer.retiredAtMs)) {
    return {
      ok: false,
      reason: 'outside-validity-window',
      message: `record time is outside signer ${kid}'s window [${signer.deployedAt}, ${signer.retiredAt ?? '∞'})`,
    };
  }
  return { ok: true, signer };
}
