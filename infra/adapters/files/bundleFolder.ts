/** The auditor bundle's folder (archive/auditBundle.ts BundleOutput), its check script, and the proof documents of a folder. */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AUDITOR_CHECK_SCRIPT_URL, type BundleOutput } from '../../../archive/auditBundle.ts';

export function bundleFolder(directory: string): BundleOutput {
  const at = (path: string): string => join(directory, ...path.split('/'));
  return {
    description: directory,
    isEmpty: () => !existsSync(directory) || readdirSync(directory).length === 0,
    makeFolder(path) {
      mkdirSync(at(path), { recursive: true });
    },
    write(path, content, options = {}) {
      mkdirSync(dirname(at(path)), { recursive: true });
      writeFileSync(at(path), content, options.executable ? { mode: 0o755 } : {});
    },
  };
}

/** The auditor's check script shipped with the archive code. */
export function auditorCheckScript(): string {
  return readFileSync(AUDITOR_CHECK_SCRIPT_URL, 'utf8');
}

/** The proof documents of a folder (`<data dir>/proofs` by default), for the bundle. */
export function proofTextsIn(directory: string): { name: string; text: string }[] {
  if (!existsSync(directory)) return [];
  return readdirSync(directory)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((name) => ({ name, text: readFileSync(join(directory, name), 'utf8') }));
}
