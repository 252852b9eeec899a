/**
 * The archives inside an artifact, decompressed within bounds so that the secrets and YARA plugins search
 * every member (docs/DOMAIN.md, "Content inspection", "Archives"): a key in a deflated zip member, a .gz or
 * a .tar.gz is otherwise invisible to them. Zip (stored and deflated members) is read by `yauzl`, gzip by
 * node:zlib, tar by the `tar` package's parser; an archive found among the members is opened in turn, down
 * to `maxDepth` archives deep.
 *
 * Bounds, as the preview sandbox's unpacking has (infra/adapters/sandbox/unpackArchive.ts): members in all,
 * bytes unpacked in all (every level's output counts: a .tar.gz's tar stream and then its files), the
 * ratio of a member's unpacked size to its compressed size (above `RATIO_FLOOR_BYTES`), and depth. A zip's
 * declared sizes are checked before a member is inflated (and yauzl holds the member to its declared size),
 * a gzip stream is inflated with zlib's `maxOutputLength`, so a compression bomb is refused without being
 * inflated. A bound reached, an encrypted member, a member of a method yauzl cannot inflate, or an archive
 * that cannot be read is a finding with its configured tier (QUARANTINE by default): never a silent pass.
 * What was unpacked before the bound is still searched.
 *
 * A zip is found by its end (the end-of-central-directory record) as well as by its first bytes: a zip after
 * other bytes (a self-extracting archive, a zip appended to an image or to another archive) is what `unzip`
 * opens, so it is walked too. Each member's local header must agree with the central directory (method,
 * sizes), and no local header may lie outside the members the central directory lists: a streaming
 * extractor reads the local headers, and what it would unpack is otherwise not what was searched.
 *
 * Members are named by position (`2/5`: the fifth member of the archive that is the second member of the
 * content), never by their names: a name is the publisher's text and goes nowhere near the chain.
 */
import { constants } from 'node:buffer';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import yauzl, { type Entry, type ZipFile } from 'yauzl';
import {
  mostSevere,
  UNPACK_RESULT_NAME,
  type ArchiveMember,
  type PluginVerdict,
  type Tier,
  type Unpacked,
  type Unpacker,
} from '../../../commands/content/inspector.ts';

const gunzipAsync = promisify(gunzip);

export interface ArchiveLimits {
  /** Archives opened one inside another (a .tar.gz is two: the gzip stream, then the tar). */
  maxDepth: number;
  /** Members of every archive, in all. */
  maxMembers: number;
  /** Bytes of every member at every level, in all. */
  maxUnpackedBytes: number;
  /** A member's unpacked size over its compressed size, for members above RATIO_FLOOR_BYTES. */
  maxRatio: number;
  /** A bound reached, or an archive or member that cannot be read. */
  limitTier: Tier;
  /** An encrypted zip member (its bytes cannot be searched). */
  encryptedTier: Tier;
}

const MIB = 1024 ** 2;
export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = {
  maxDepth: 4,
  maxMembers: 10_000,
  maxUnpackedBytes: 256 * MIB,
  maxRatio: 200,
  limitTier: 'QUARANTINE',
  encryptedTier: 'QUARANTINE',
};
/** Members this small are not held to the ratio: a few kilobytes of zeros compress a thousandfold, harmlessly. */
export const RATIO_FLOOR_BYTES = MIB;
/** Findings listed in the verdict's reason (the labels say every kind). */
const MAX_FINDINGS_IN_REASON = 5;

type ArchiveKind = 'zip' | 'gzip' | 'tar';
type FindingKind = 'limit-exceeded' | 'encrypted' | 'unreadable';

interface Finding {
  kind: FindingKind;
  /** Where: `the content`, `member 1/3`. */
  where: string;
  what: string;
}

/** Thrown to end the whole walk when a bound on the total is reached (members, bytes). */
class WalkBoundReached extends Error {}

interface Walk {
  limits: ArchiveLimits;
  signal: AbortSignal;
  members: ArchiveMember[];
  unpackedBytes: number;
  /** Zip entries read, folders and entries not unpacked included: the member bound holds them too. */
  zipEntries: number;
  kinds: Set<ArchiveKind>;
  findings: Finding[];
}

const ZIP_MAGICS = ['504b0304', '504b0506', '504b0708'];
const TAR_MAGIC_OFFSET = 257;

export function archiveKindOf(bytes: Uint8Array): ArchiveKind | undefined {
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 4)).toString('hex');
  if (ZIP_MAGICS.includes(head)) return 'zip';
  if (head.startsWith('1f8b08')) return 'gzip';
  const magic = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).subarray(
    TAR_MAGIC_OFFSET,
    TAR_MAGIC_OFFSET + 5,
  );
  if (magic.toString('latin1') === 'ustar' || isTarHeader(bytes)) return 'tar';
  return undefined;
}

/**
 * Compressed streams and archives the walk does not open, by their magic numbers: what they hold cannot
 * be searched, so they are findings (`archive.unreadable`), never a silent pass.
 */
const UNREAD_FORMATS: readonly { name: string; magic: Buffer }[] = [
  { name: 'a bzip2 stream', magic: Buffer.from('BZh', 'latin1') },
  { name: 'an xz stream', magic: Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]) },
  { name: 'a zstd stream', magic: Buffer.from([0x28, 0xb5, 0x2f, 0xfd]) },
  { name: 'an lz4 stream', magic: Buffer.from([0x04, 0x22, 0x4d, 0x18]) },
  { name: 'an lzip stream', magic: Buffer.from('LZIP', 'latin1') },
  { name: 'a compress (.Z) stream', magic: Buffer.from([0x1f, 0x9d]) },
  { name: 'a 7z archive', magic: Buffer.from([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c]) },
  { name: 'a RAR archive', magic: Buffer.from('Rar!\x1a\x07', 'latin1') },
  { name: 'a cabinet archive', magic: Buffer.from([0x4d, 0x53, 0x43, 0x46, 0, 0, 0, 0]) },
];

/** The name of a format the walk does not open that the bytes begin with, if any. */
export function unreadFormatOf(bytes: Uint8Array): string | undefined {
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 8));
  // Their short magic numbers with the byte after it: a block size digit, compress's bits (9 to 16).
  const after: Readonly<Record<string, (byte: number) => boolean>> = {
    'a bzip2 stream': (byte) => byte >= 0x31 && byte <= 0x39,
    'a compress (.Z) stream': (byte) => (byte & 0x60) === 0 && (byte & 0x1f) >= 9 && (byte & 0x1f) <= 16,
  };
  return UNREAD_FORMATS.find(({ name, magic }) => {
    if (head.length <= magic.length || !head.subarray(0, magic.length).equals(magic)) return false;
    return after[name]?.(head[magic.length]!) ?? true;
  })?.name;
}

const TAR_BLOCK = 512;
const TAR_CHECKSUM_OFFSET = 148;
const TAR_CHECKSUM_BYTES = 8;

/**
 * A pre-POSIX (v7) tar has no `ustar` magic, and GNU tar still extracts it: its first block is a header
 * when it names a file and its checksum (octal, the sum of the block's bytes with the checksum field as
 * spaces) checks.
 */
function isTarHeader(bytes: Uint8Array): boolean {
  if (bytes.byteLength < TAR_BLOCK || bytes[0] === 0) return false;
  const field = Buffer.from(bytes.buffer, bytes.byteOffset + TAR_CHECKSUM_OFFSET, TAR_CHECKSUM_BYTES)
    .toString('latin1')
    .replace(/[\0 ]+$/, '');
  if (!/^[0-7]{1,7}$/.test(field)) return false;
  let sum = 0;
  for (let at = 0; at < TAR_BLOCK; at += 1)
    sum += at >= TAR_CHECKSUM_OFFSET && at < TAR_CHECKSUM_OFFSET + TAR_CHECKSUM_BYTES ? 0x20 : bytes[at]!;
  return sum === parseInt(field, 8);
}

function whereOf(path: readonly number[]): string {
  return path.length === 0 ? 'the content' : `member ${path.join('/')}`;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Counts a member against the totals (ending the walk past one), keeps it, and walks into it. */
async function addMember(walk: Walk, path: readonly number[], bytes: Buffer, depth: number): Promise<void> {
  if (walk.members.length >= walk.limits.maxMembers) {
    walk.findings.push({
      kind: 'limit-exceeded',
      where: whereOf(path),
      what: `over ${walk.limits.maxMembers} members`,
    });
    throw new WalkBoundReached();
  }
  walk.unpackedBytes += bytes.length;
  walk.members.push({ path: path.join('/'), bytes });
  await walkInto(walk, path, bytes, depth);
}

/** What is left of the total bytes, and the ratio's bound for `compressedBytes`; the smaller, with which it is. */
function outputBound(walk: Walk, compressedBytes: number): { bytes: number; by: 'total' | 'ratio' } {
  const left = walk.limits.maxUnpackedBytes - walk.unpackedBytes;
  const byRatio = Math.max(RATIO_FLOOR_BYTES, compressedBytes * walk.limits.maxRatio);
  return byRatio < left ? { bytes: byRatio, by: 'ratio' } : { bytes: left, by: 'total' };
}

function overBound(walk: Walk, path: readonly number[], by: 'total' | 'ratio'): void {
  const what =
    by === 'total'
      ? `over ${walk.limits.maxUnpackedBytes} bytes unpacked in all`
      : `unpacks to over ${walk.limits.maxRatio} times its compressed size`;
  walk.findings.push({ kind: 'limit-exceeded', where: whereOf(path), what });
  if (by === 'total') throw new WalkBoundReached();
}

/** The gzip stream's one member (position 1); returns the positions used. */
async function walkGzip(walk: Walk, path: readonly number[], bytes: Buffer, depth: number): Promise<number> {
  const bound = outputBound(walk, bytes.length);
  let output: Buffer;
  try {
    output = await gunzipAsync(bytes, { maxOutputLength: Math.min(Math.max(1, bound.bytes), constants.MAX_LENGTH) });
  } catch (error) {
    if (error instanceof RangeError || (error as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE')
      overBound(walk, path, bound.by);
    else walk.findings.push({ kind: 'unreadable', where: whereOf(path), what: 'not a valid gzip stream' });
    return 1;
  }
  await addMember(walk, [...path, 1], output, depth);
  return 1;
}

/**
 * The tar stream's files and every other entry that carries bytes (folders and links carry none), in order, at most
 * `maxFiles` of them (the next is not kept: the caller finds the bound reached), and how many entries
 * with bytes the parser skipped; undefined when the stream is not a valid tar.
 */
async function tarFiles(bytes: Buffer, maxFiles: number): Promise<{ files: Buffer[]; skipped: number } | undefined> {
  const files: Buffer[] = [];
  let valid = true;
  let skipped = 0;
  const parser = new Parser({
    strict: true,
    onReadEntry: (entry: ReadEntry) => {
      const keep = files.length <= maxFiles;
      const file = entry.type === 'File' || entry.type === 'OldFile' || entry.type === 'ContiguousFile';
      const chunks: Buffer[] = [];
      entry.on('data', (chunk: Buffer) => {
        if (keep) chunks.push(chunk);
      });
      // An entry of another type that carries bytes (an unknown type, a sparse file) is a file to GNU tar,
      // which extracts it as one: searched too.
      entry.on('end', () => {
        if (keep && (file || chunks.length > 0)) files.push(Buffer.concat(chunks));
      });
    },
  });
  await new Promise<void>((resolve) => {
    parser.on('error', () => {
      valid = false;
    });
    // An entry of a type the parser does not know (GNU tar extracts it as a file: a sparse file, any other
    // letter) or an extended header too large for it: bytes a buyer may unpack that are not searched.
    parser.on('ignoredEntry', (entry: ReadEntry) => {
      if (entry.size > 0) skipped += 1;
    });
    parser.on('end', resolve);
    parser.end(bytes);
  });
  return valid ? { files, skipped } : undefined;
}

/** The tar stream's files, at positions 1 to n; returns the positions used. */
async function walkTar(walk: Walk, path: readonly number[], bytes: Buffer, depth: number): Promise<number> {
  const read = await tarFiles(bytes, walk.limits.maxMembers - walk.members.length);
  if (read === undefined) {
    walk.findings.push({ kind: 'unreadable', where: whereOf(path), what: 'not a readable tar stream' });
    return 0;
  }
  const { files, skipped } = read;
  if (skipped > 0)
    walk.findings.push({
      kind: 'unreadable',
      where: whereOf(path),
      what: `${skipped} entr${skipped === 1 ? 'y' : 'ies'} of a type not read`,
    });
  for (const [index, file] of files.entries()) {
    if (walk.signal.aborted) throw new WalkBoundReached();
    // A tar stores its files as they are: the total bound applies, not the ratio.
    if (walk.unpackedBytes + file.length > walk.limits.maxUnpackedBytes) {
      overBound(walk, path, 'total');
      break;
    }
    await addMember(walk, [...path, index + 1], file, depth);
  }
  return files.length;
}

const EOCD = Buffer.from([0x50, 0x4b, 0x05, 0x06]);
const EOCD_BYTES = 22;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_LOCATOR_BYTES = 20;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
/** A zip64 end-of-central-directory record without extensible data (what every writer makes). */
const ZIP64_EOCD_BYTES = 56;
const LOCAL_HEADER = Buffer.from([0x50, 0x4b, 0x03, 0x04]);
/** Bit 3 of the general purpose flags: the sizes follow the data (a data descriptor), the local header has zeros. */
const DATA_DESCRIPTOR_FLAG = 0x8;
const ZIP64_SIZE = 0xffffffff;

interface ZipLocation {
  /** Where the zip begins in the bytes: after what precedes it (0 for a zip file of its own). */
  start: number;
  /** Where its central directory begins, from `start`. */
  centralDirectoryOffset: number;
}

/**
 * Where the zip whose end-of-central-directory record ends the bytes begins (the record found as yauzl and
 * `unzip` find it: the last signature in the bytes' last 64 KiB, its comment reaching the end exactly), or
 * undefined when none ends them. The bytes before `start` are not the zip's: `unzip` skips them.
 */
export function zipLocationOf(bytes: Buffer): ZipLocation | undefined {
  if (bytes.length < EOCD_BYTES) return undefined;
  const from = Math.max(0, bytes.length - EOCD_BYTES - 0xffff);
  const found = bytes.subarray(from).lastIndexOf(EOCD, bytes.length - EOCD_BYTES - from);
  const at = found === -1 ? -1 : from + found;
  if (at !== -1) {
    if (at + EOCD_BYTES + bytes.readUInt16LE(at + 20) !== bytes.length) return undefined;
    let directoryEnd = at;
    let size = bytes.readUInt32LE(at + 12);
    let offset = bytes.readUInt32LE(at + 16);
    // A zip64 end of central directory (its locator just before this record): the directory ends before it.
    const zip64At = at - ZIP64_LOCATOR_BYTES - ZIP64_EOCD_BYTES;
    if (at >= ZIP64_LOCATOR_BYTES && bytes.readUInt32LE(at - ZIP64_LOCATOR_BYTES) === ZIP64_LOCATOR_SIGNATURE) {
      if (zip64At < 0 || bytes.readUInt32LE(zip64At) !== ZIP64_EOCD_SIGNATURE)
        return { start: 0, centralDirectoryOffset: offset };
      directoryEnd = zip64At;
      size = Number(bytes.readBigUInt64LE(zip64At + 40));
      offset = Number(bytes.readBigUInt64LE(zip64At + 48));
    }
    const start = directoryEnd - size - offset;
    // An impossible directory: from the beginning, where yauzl finds it unreadable.
    return start >= 0 ? { start, centralDirectoryOffset: offset } : { start: 0, centralDirectoryOffset: offset };
  }
  return undefined;
}

function openZip(bytes: Buffer): Promise<ZipFile> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(
      bytes,
      { lazyEntries: true, validateEntrySizes: true, decodeStrings: true, strictFileNames: false },
      (error, zip) => {
        if (error) return reject(error);
        // An error yauzl emits while no read is waiting would otherwise end the process: each read listens itself.
        zip.on('error', () => undefined);
        resolve(zip);
      },
    );
  });
}

function nextEntry(zip: ZipFile): Promise<Entry | undefined> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      zip.off('entry', onEntry);
      zip.off('end', onEnd);
      zip.off('error', onError);
    };
    const onEntry = (entry: Entry) => {
      cleanup();
      resolve(entry);
    };
    const onEnd = () => {
      cleanup();
      resolve(undefined);
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    zip.on('entry', onEntry);
    zip.on('end', onEnd);
    zip.on('error', onError);
    zip.readEntry();
  });
}

interface LocalHeader {
  fileDataStart: number;
  generalPurposeBitFlag: number;
  compressionMethod: number;
  compressedSize: number;
  uncompressedSize: number;
}

/** yauzl's reading of an entry's local header (not in its type declarations). */
function readLocalHeader(zip: ZipFile, entry: Entry): Promise<LocalHeader> {
  const reader = zip as unknown as {
    readLocalFileHeader(entry: Entry, callback: (error: Error | null, header: LocalHeader) => void): void;
  };
  return new Promise((resolve, reject) => {
    reader.readLocalFileHeader(entry, (error, header) => (error ? reject(error) : resolve(header)));
  });
}

/** What in the local header differs from the central directory's entry, or undefined when nothing does. */
function disagreement(entry: Entry, local: LocalHeader): string | undefined {
  if (local.compressionMethod !== entry.compressionMethod) return 'its local header names another method';
  if ((local.generalPurposeBitFlag & 1) !== (entry.generalPurposeBitFlag & 1))
    return 'its local header says otherwise about encryption';
  if ((local.generalPurposeBitFlag & DATA_DESCRIPTOR_FLAG) !== 0) return undefined;
  const sameSize = (declared: number, localSize: number) => localSize === ZIP64_SIZE || localSize === declared;
  if (
    !sameSize(entry.compressedSize, local.compressedSize) ||
    !sameSize(entry.uncompressedSize, local.uncompressedSize)
  )
    return 'its local header declares other sizes';
  return undefined;
}

function readMember(zip: ZipFile, entry: Entry): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    zip.openReadStream(entry, (error, stream) => {
      if (error) return reject(error);
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', reject);
      stream.on('end', () => resolve(Buffer.concat(chunks)));
    });
  });
}

/**
 * One zip entry: its local header checked against the central directory, then its declared sizes (which
 * yauzl holds it to) before anything is inflated. Returns the bytes the entry spans (local header to the
 * end of its data), or undefined when its local header cannot be read.
 */
async function zipEntry(
  walk: Walk,
  zip: ZipFile,
  entry: Entry,
  path: readonly number[],
  depth: number,
): Promise<[number, number] | undefined> {
  let local: LocalHeader;
  try {
    local = await readLocalHeader(zip, entry);
  } catch {
    walk.findings.push({ kind: 'unreadable', where: whereOf(path), what: 'its local header cannot be read' });
    return undefined;
  }
  // A deflated member's bytes are searched for local headers too: a deflate stream that ends before the
  // declared size leaves room for an entry a streaming extractor reads next. A stored member's are its own.
  const dataEnd = local.fileDataStart + entry.compressedSize;
  const span: [number, number] = [
    entry.relativeOffsetOfLocalHeader,
    entry.compressionMethod === 0 ? dataEnd : local.fileDataStart,
  ];
  const differs = disagreement(entry, local);
  if (differs !== undefined) {
    walk.findings.push({ kind: 'unreadable', where: whereOf(path), what: differs });
    return span;
  }
  if (entry.fileName.endsWith('/') && entry.uncompressedSize === 0) return span;
  if (entry.isEncrypted()) {
    walk.findings.push({ kind: 'encrypted', where: whereOf(path), what: 'encrypted' });
    return span;
  }
  if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) {
    walk.findings.push({
      kind: 'unreadable',
      where: whereOf(path),
      what: `compression method ${entry.compressionMethod} is not read`,
    });
    return span;
  }
  const bound = outputBound(walk, entry.compressedSize);
  if (entry.uncompressedSize > bound.bytes) {
    overBound(walk, path, bound.by);
    return span;
  }
  let bytes: Buffer;
  try {
    bytes = await readMember(zip, entry);
  } catch {
    walk.findings.push({ kind: 'unreadable', where: whereOf(path), what: 'its data cannot be read' });
    return span;
  }
  await addMember(walk, path, bytes, depth);
  return span;
}

/** Compression methods a local header may name (stored, deflate, deflate64, bzip2, LZMA, zstd, xz, PPMd, AES). */
const ZIP_METHODS = new Set([0, 8, 9, 12, 14, 93, 95, 98, 99]);
const LOCAL_HEADER_BYTES = 30;

/**
 * Whether a local header lies in the bytes between `from` and `to`: its signature, then a version and a
 * method a zip writer would put there, its name within the bytes (so that compressed bytes that happen to
 * hold the signature are not one).
 */
function localHeaderIn(bytes: Buffer, from: number, to: number): boolean {
  for (let at = bytes.indexOf(LOCAL_HEADER, from); at !== -1 && at < to; at = bytes.indexOf(LOCAL_HEADER, at + 1)) {
    if (at + LOCAL_HEADER_BYTES > bytes.length) return false;
    const plausible =
      bytes.readUInt16LE(at + 4) <= 63 &&
      ZIP_METHODS.has(bytes.readUInt16LE(at + 8)) &&
      at + LOCAL_HEADER_BYTES + bytes.readUInt16LE(at + 26) + bytes.readUInt16LE(at + 28) <= bytes.length;
    if (plausible) return true;
  }
  return false;
}

/** Whether a local header lies in the bytes outside every span (what a streaming extractor would also unpack). */
function localHeaderOutside(bytes: Buffer, spans: [number, number][], end: number): boolean {
  let from = 0;
  for (const [spanStart, spanEnd] of [...spans.sort((a, b) => a[0] - b[0]), [end, end] as [number, number]]) {
    if (localHeaderIn(bytes, from, Math.min(spanStart, end))) return true;
    from = Math.max(from, spanEnd);
  }
  return false;
}

/**
 * The zip whose end ends the bytes, at `location` (from its first bytes when none was found: yauzl finds it
 * unreadable), its members at positions `first` on.
 */
async function walkZip(
  walk: Walk,
  path: readonly number[],
  bytes: Buffer,
  location: ZipLocation | undefined,
  depth: number,
  first: number,
): Promise<void> {
  const start = location?.start ?? 0;
  if (start > 0 && localHeaderIn(bytes, 0, start))
    walk.findings.push({ kind: 'unreadable', where: whereOf(path), what: 'local entries before the zip it ends with' });
  const zipBytes = bytes.subarray(start);
  let zip: ZipFile;
  try {
    zip = await openZip(zipBytes);
  } catch {
    walk.findings.push({ kind: 'unreadable', where: whereOf(path), what: 'not a readable zip archive' });
    return;
  }
  const spans: [number, number][] = [];
  try {
    for (let index = first; ; index += 1) {
      if (walk.signal.aborted) throw new WalkBoundReached();
      let entry: Entry | undefined;
      try {
        entry = await nextEntry(zip);
      } catch {
        walk.findings.push({ kind: 'unreadable', where: whereOf(path), what: 'its central directory cannot be read' });
        return;
      }
      if (entry === undefined) break;
      // A central directory of a million folders (or encrypted entries) adds no member, and would take the
      // walk its whole timeout to list: every entry counts.
      walk.zipEntries += 1;
      if (walk.zipEntries > walk.limits.maxMembers) {
        walk.findings.push({
          kind: 'limit-exceeded',
          where: whereOf(path),
          what: `over ${walk.limits.maxMembers} members`,
        });
        throw new WalkBoundReached();
      }
      const span = await zipEntry(walk, zip, entry, [...path, index], depth);
      if (span === undefined) return;
      spans.push(span);
    }
  } finally {
    zip.close();
  }
  if (localHeaderOutside(zipBytes, spans, location?.centralDirectoryOffset ?? zipBytes.length))
    walk.findings.push({
      kind: 'unreadable',
      where: whereOf(path),
      what: 'local entries its central directory does not list',
    });
}

/**
 * Opens the bytes if they are an archive, one level deeper than `depth`: by their first bytes, and a zip
 * by its end too (after a gzip or tar stream, or after bytes of no archive at all).
 */
async function walkInto(walk: Walk, path: readonly number[], bytes: Buffer, depth: number): Promise<void> {
  const kind = archiveKindOf(bytes);
  const zipAt = zipLocationOf(bytes);
  if (kind === undefined && zipAt === undefined) {
    const unread = unreadFormatOf(bytes);
    if (unread !== undefined)
      walk.findings.push({ kind: 'unreadable', where: whereOf(path), what: `${unread} is not read` });
    return;
  }
  if (depth >= walk.limits.maxDepth) {
    walk.findings.push({
      kind: 'limit-exceeded',
      where: whereOf(path),
      what: `an archive nested over ${walk.limits.maxDepth} deep`,
    });
    return;
  }
  let used = 0;
  if (kind !== undefined) walk.kinds.add(kind);
  if (kind === 'gzip') used = await walkGzip(walk, path, bytes, depth + 1);
  if (kind === 'tar') used = await walkTar(walk, path, bytes, depth + 1);
  if (kind === 'zip' || zipAt !== undefined) {
    walk.kinds.add('zip');
    await walkZip(walk, path, bytes, zipAt, depth + 1, used + 1);
  }
}

function tierOf(kind: FindingKind, limits: ArchiveLimits): Tier {
  return kind === 'encrypted' ? limits.encryptedTier : limits.limitTier;
}

function verdictOf(walk: Walk): PluginVerdict {
  const labels = [...walk.kinds].map((kind) => `archive.${kind}`);
  labels.push(...new Set(walk.findings.map((finding) => `archive.${finding.kind}`)));
  const summary = `${walk.members.length} member${walk.members.length === 1 ? '' : 's'}, ${walk.unpackedBytes} bytes unpacked`;
  if (walk.findings.length === 0)
    return { tier: 'CLEAR', labels, ...(walk.kinds.size > 0 ? { reason: `searched ${summary}` } : {}) };
  const listed = walk.findings
    .slice(0, MAX_FINDINGS_IN_REASON)
    .map((finding) => `${finding.where}: ${finding.what}`)
    .join('; ');
  const more =
    walk.findings.length > MAX_FINDINGS_IN_REASON ? `; and ${walk.findings.length - MAX_FINDINGS_IN_REASON} more` : '';
  return {
    tier: mostSevere(walk.findings.map((finding) => tierOf(finding.kind, walk.limits))),
    labels,
    reason: `not every member could be searched (${listed}${more}); searched ${summary}`,
  };
}

/** The inspector's `unpack` (commands/content/inspector.ts), recorded as the result `archive`. */
export function archiveUnpacker(limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS): Unpacker {
  return async (bytes, signal): Promise<Unpacked> => {
    const walk: Walk = { limits, signal, members: [], unpackedBytes: 0, zipEntries: 0, kinds: new Set(), findings: [] };
    try {
      await walkInto(walk, [], asBuffer(bytes), 0);
    } catch (error) {
      if (!(error instanceof WalkBoundReached)) throw error;
    }
    if (signal.aborted) throw new Error(`${UNPACK_RESULT_NAME}: aborted`);
    return { members: walk.members, verdict: verdictOf(walk) };
  };
}
