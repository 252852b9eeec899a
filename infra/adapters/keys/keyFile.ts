/**
 * A 32-byte key kept in a file of the data directory, made on first use with
 * mode 0600: the embedded default's delivery wrapping key and link key.
 * Production gives both from the environment instead (infra/wiring/config.ts
 * refuses to start without them).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export const KEY_FILE_BYTES = 32;

function read(file: string): Buffer {
  const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
  if (key.length !== KEY_FILE_BYTES) throw new Error(`${file} does not hold base64 of ${KEY_FILE_BYTES} bytes`);
  return key;
}

export function readOrCreateKeyFile(file: string): Buffer {
  try {
    return read(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const key = randomBytes(KEY_FILE_BYTES);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    return key;
  } catch (error) {
    // Another process made it first: use theirs.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return read(file);
    throw error;
  }
}
