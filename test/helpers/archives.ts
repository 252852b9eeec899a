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

/** The central directory's entries of a zip without a comment (as `zip -X` makes it): their offsets in it. */
function centralEntries(zip: Buffer): number[] {
  const eocd = zip.length - 22;
  if (zip.readUInt32LE(eocd) !== 0x06054b50) throw new Error('a zip with a comment');
  const entries: number[] = [];
  let at = zip.readUInt32LE(eocd + 16);
  for (let count = zip.readUInt16LE(eocd + 10); count > 0; count -= 1) {
    entries.push(at);
    at += 46 + zip.readUInt16LE(at + 28) + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
  }
  return entries;
}

/**
 * The zip with its central directory saying every member is stored, its compressed bytes as they are, while
 * the local headers still say deflated: what a streaming extractor (reading the local headers) inflates is
 * not what a reader of the central directory sees.
 */
export function storedInCentralDirectory(zip: Buffer): Buffer {
  const out = Buffer.from(zip);
  for (const entry of centralEntries(out)) {
    out.writeUInt16LE(0, entry + 10);
    out.writeUInt32LE(out.readUInt32LE(entry + 20), entry + 24);
  }
  return out;
}

/**
 * `hidden`'s local entries, then `listed` whole with its offsets moved past them: a zip whose central
 * directory lists only `listed`'s members, whose local headers (what a streaming extractor reads) start
 * with `hidden`'s.
 */
export function withUnlistedLocalEntries(hidden: Buffer, listed: Buffer): Buffer {
  const locals = hidden.subarray(0, hidden.readUInt32LE(hidden.length - 22 + 16));
  const out = Buffer.concat([locals, listed]);
  const shift = locals.length;
  const eocd = out.length - 22;
  for (const entry of centralEntries(listed))
    out.writeUInt32LE(out.readUInt32LE(shift + entry + 42) + shift, shift + entry + 42);
  out.writeUInt32LE(out.readUInt32LE(eocd + 16) + shift, eocd + 16);
  return out;
}

/**
 * The tar with its first header changed as a hand-made tar would have it: `type` its type letter (GNU tar
 * extracts a letter it does not know as a file), `v7` without the ustar magic and the fields after it (a
 * pre-POSIX tar, which GNU tar extracts too); the checksum made again.
 */
export function withFirstTarHeader(tar: Buffer, change: { type?: string; v7?: boolean }): Buffer {
  const out = Buffer.from(tar);
  if (change.type !== undefined) out.write(change.type, 156, 'latin1');
  if (change.v7 === true) out.fill(0, 257, 345);
  out.fill(0x20, 148, 156);
  let sum = 0;
  for (let at = 0; at < 512; at += 1) sum += out[at]!;
  out.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return out;
}

/**
 * `outer` (one deflated member) made a streamed entry (general purpose bit 3: sizes and CRC in a data
 * descriptor after the data, zeros in the local header), with `hidden`'s local entries after that
 * descriptor, all counted in the central directory's compressed size: a reader of the central directory
 * inflates the member and stops at the end of its stream; a streaming extractor reads on, past the
 * descriptor, into `hidden`'s entries.
 */
export function withEntriesAfterDeflateStream(outer: Buffer, hidden: Buffer): Buffer {
  const [entry] = centralEntries(outer);
  const cdOffset = outer.readUInt32LE(outer.length - 22 + 16);
  const crc = outer.readUInt32LE(14);
  const compressedSize = outer.readUInt32LE(18);
  const uncompressedSize = outer.readUInt32LE(22);
  const descriptor = Buffer.alloc(16);
  descriptor.writeUInt32LE(0x08074b50, 0);
  descriptor.writeUInt32LE(crc, 4);
  descriptor.writeUInt32LE(compressedSize, 8);
  descriptor.writeUInt32LE(uncompressedSize, 12);
  const inserted = Buffer.concat([descriptor, hidden.subarray(0, hidden.readUInt32LE(hidden.length - 22 + 16))]);
  const out = Buffer.concat([outer.subarray(0, cdOffset), inserted, outer.subarray(cdOffset)]);
  const shift = inserted.length;
  out.writeUInt16LE(out.readUInt16LE(6) | 0x8, 6);
  out.fill(0, 14, 26);
  const central = shift + entry!;
  out.writeUInt16LE(out.readUInt16LE(central + 8) | 0x8, central + 8);
  out.writeUInt32LE(compressedSize + shift, central + 20);
  out.writeUInt32LE(cdOffset + shift, out.length - 22 + 16);
  return out;
}

/** A zip of `count` empty folders (entries with no bytes), by `zip -r`. */
export function zipOfFolders(count: number): Buffer {
  const folder = mkdtempSync(join(tmpdir(), 'chainbook-archive-'));
  try {
    for (let index = 0; index < count; index += 1)
      mkdirSync(join(folder, 'files', `folder-${index}`), { recursive: true });
    execFileSync('zip', ['-q', '-r', '-X', join(folder, 'out.zip'), '.'], { cwd: join(folder, 'files') });
    return readFileSync(join(folder, 'out.zip'));
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

/** The bytes compressed by a command that reads standard input (`xz -c`, `bzip2 -c`). */
export function compressedBy(command: 'xz' | 'bzip2', content: Uint8Array): Buffer {
  return execFileSync(command, ['-c'], { input: content });
}
