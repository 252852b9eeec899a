/**
 * Writes the golden vectors (docs/STYLE.md rule 10): `npm run vectors:generate`
 * rewrites test/vectors/; with a folder argument it writes there instead
 * (test/verifier/vectors.unit.test.ts does that and compares byte for byte, which is
 * what shows that nobody edited the checked-in files by hand).
 *
 * Layout:
 *   index.json                 every case: name, description, files, arguments, expected verdict
 *   cases/<name>/records.jsonl the records, one per line, as `chainbook dump` writes them
 *   cases/<name>/signers.json  the signer registry to check them against
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { vectorCases } from './cases.ts';

export const VECTORS_DIRECTORY = fileURLToPath(new URL('.', import.meta.url));
export const INDEX_FILE = 'index.json';
export const CASES_FOLDER = 'cases';

export interface IndexEntry {
  name: string;
  description: string;
  records: string;
  signers: string;
  args: string[];
  expected: { exitCode: 0 | 1; finding: { chain: string; seq: number; reason: string } | null };
}

function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** Writes every vector into `directory`, replacing its cases folder and index. */
export function writeVectors(directory: string): IndexEntry[] {
  rmSync(join(directory, CASES_FOLDER), { recursive: true, force: true });
  const index = vectorCases().map((vector): IndexEntry => {
    const folder = `${CASES_FOLDER}/${vector.name}`;
    mkdirSync(join(directory, folder), { recursive: true });
    writeFileSync(join(directory, folder, 'records.jsonl'), vector.lines.map((line) => `${line}\n`).join(''));
    writeFileSync(join(directory, folder, 'signers.json'), json(vector.registry));
    return {
      name: vector.name,
      description: vector.description,
      records: `${folder}/records.jsonl`,
      signers: `${folder}/signers.json`,
      args: vector.args,
      expected: vector.expected,
    };
  });
  const names = new Set(index.map((entry) => entry.name));
  if (names.size !== index.length) throw new Error('assertion failed: vector names are unique');
  writeFileSync(
    join(directory, INDEX_FILE),
    json({ format: 'chainbook golden vectors, chain format version 1', cases: index }),
  );
  return index;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const directory = resolve(process.argv[2] ?? VECTORS_DIRECTORY);
  const index = writeVectors(directory);
  process.stdout.write(`wrote ${index.length} vectors to ${directory}\n`);
}
