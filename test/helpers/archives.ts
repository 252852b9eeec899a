/**
 * Real archives for the inspection tests, made at run time: zip files by Info-ZIP's `zip` command (Debian's
 * `zip` package, installed by scripts/ci/install-tools.sh: deflated by default, stored with -0, traditional
 * PKWARE encryption with -P), tar and .tar.gz by the `tar` package, gzip by node:zlib.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { create } from 'tar';

export interface ArchiveFile {
  name: string;
  content: Uint8Array | string;
}

function inFolder<T>(files: readonly ArchiveFile[], make: (folder: string, names: string[]) => T): T {
  const folder = mkdtempSync(join(tmpdir(), 'chainbook-archive-'));
  try {
    for (const file of files) {
      const path = join(folder, 'files', file.name);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, file.content);
    }
    return make(
      folder,
      files.map((file) => file.name),
    );
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

export interface ZipOptions {
  /** Stored members (zip -0) instead of deflated. */
  store?: boolean;
  /** Traditional PKWARE encryption with this password (zip -P). */
  password?: string;
}

/** A zip of the files, in the order given, by the `zip` command. */
export function zipOf(files: readonly ArchiveFile[], options: ZipOptions = {}): Buffer {
  return inFolder(files, (folder, names) => {
    const out = join(folder, 'out.zip');
    const args = ['-q', '-X', options.store === true ? '-0' : '-6'];
    if (options.password !== undefined) args.push('-P', options.password);
    execFileSync('zip', [...args, out, ...names], { cwd: join(folder, 'files') });
    return readFileSync(out);
  });
}

/** A tar of the files, in the order given; gzipped with `gzip: true`. */
export function tarOf(files: readonly ArchiveFile[], options: { gzip?: boolean } = {}): Buffer {
  return inFolder(files, (folder, names) => {
    const out = join(folder, 'out.tar');
    create({ sync: true, cwd: join(folder, 'files'), file: out, gzip: options.gzip === true, portable: true }, names);
    return readFileSync(out);
  });
}

export function gzipOf(content: Uint8Array | string): Buffer {
  return gzipSync(content);
}

/** A zip of one member of `sizeBytes` zeros, made by `zip` from standard input (nothing that size is written). */
export function zipOfZeros(sizeBytes: number): Buffer {
  const folder = mkdtempSync(join(tmpdir(), 'chainbook-archive-'));
  try {
    const out = join(folder, 'bomb.zip');
    execFileSync('bash', ['-c', `head -c ${sizeBytes} /dev/zero | zip -q -9 "${out}" -`]);
    return readFileSync(out);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}
