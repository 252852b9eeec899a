/**
 * Unpacks a preview's artifact (a .tar.gz or a .zip) into a fresh folder, after checking every entry against the
 * bounds of docs/PREVIEWS.md, "The artifact": how many entries, how many bytes in all once unpacked, how
 * long a path, how deep; no absolute path, no `..`, no hard link, no device or pipe, and a symbolic link
 * only when its target stays inside the tree. Nothing is written until the whole archive has been read
 * and found good, so a refused archive leaves nothing behind, and the unpacked size is bounded while
 * decompressing (zlib's maxOutputLength), so a compression bomb is refused without being inflated.
 *
 * The tar format is read by the `tar` package's parser, the zip format by CPython's zipfile
 * (zipEntries.py beside this file, run as /usr/bin/python3 in isolated mode: the sum of the central
 * directory's declared sizes is checked before anything is inflated, and each entry is read with its
 * size and CRC-32 checked); the files are written here, by the checked names, with fixed modes and no
 * owner from the archive.
 */
import { execFile } from 'node:child_process';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { dirname, join, posix } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import { assert, CodedError } from '../../../domain/errors.ts';

export interface ArchiveBounds {
  maxEntries: number;
  maxUnpackedBytes: number;
  maxPathBytes: number;
  maxPathDepth: number;
}

/** A checked entry, held in memory until every entry has been checked. */
type Entry =
  | { kind: 'file'; path: string; executable: boolean; content: Buffer }
  | { kind: 'folder'; path: string }
  | { kind: 'symlink'; path: string; target: string };

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
/** A local file header, or the end of an empty archive's central directory. */
const ZIP_MAGICS = [Buffer.from('PK\x03\x04', 'latin1'), Buffer.from('PK\x05\x06', 'latin1')];
const ZIP_READER = fileURLToPath(new URL('./zipEntries.py', import.meta.url));
const PYTHON = '/usr/bin/python3';
/** Reading a zip is bounded in time too: a run of zipEntries.py past this is killed and the archive refused. */
const ZIP_READ_TIMEOUT_MS = 60_000;
/** zipEntries.py's exit code for a refusal (its reason on standard error). */
const ZIP_REFUSED_EXIT_CODE = 3;
/** Room for each entry's header line in zipEntries.py's output, past the content bytes. */
const ZIP_HEADER_BYTES_PER_ENTRY = 4096 + 128;
const FILE_MODE = 0o644;
const EXECUTABLE_MODE = 0o755;
const FOLDER_MODE = 0o755;
/** A tar stream carries headers and padding besides the files: room for them past the files' bytes. */
const TAR_OVERHEAD_BYTES_PER_ENTRY = 1536;

function refuse(reason: string, details: Record<string, unknown> = {}): never {
  throw new CodedError('PREVIEW_ARCHIVE_REFUSED', `preview archive refused: ${reason}`, { reason, ...details });
}

/** A relative path of plain names: no `..`, no `.`, no empty name, no NUL or backslash, within the bounds. */
export function checkedRelativePath(raw: string, bounds: Pick<ArchiveBounds, 'maxPathBytes' | 'maxPathDepth'>): string {
  const path = raw.endsWith('/') ? raw.slice(0, -1) : raw;
  if (path.length === 0) refuse('empty path');
  if (Buffer.byteLength(path) > bounds.maxPathBytes) refuse('path too long', { path: path.slice(0, 64) });
  if (path.startsWith('/')) refuse('absolute path', { path });
  if (/[\0\\]/u.test(path)) refuse('path with NUL or backslash');
  const names = path.split('/');
  if (names.length > bounds.maxPathDepth) refuse('path too deep', { path });
  for (const name of names) {
    if (name === '' || name === '.' || name === '..') refuse('path with an empty, `.` or `..` name', { path });
  }
  return path;
}

/** A symbolic link's target, when it stays inside the tree read from where the link is. */
function checkedLinkTarget(path: string, target: string): string {
  if (target.length === 0 || target.startsWith('/') || target.includes('\0')) refuse('link out of the tree', { path });
  const resolved = posix.normalize(posix.join(posix.dirname(path), target));
  if (resolved === '..' || resolved.startsWith('../')) refuse('link out of the tree', { path, target });
  return target;
}

function gunzipBounded(archive: Buffer, bounds: ArchiveBounds): Buffer {
  if (archive.length < 2 || !archive.subarray(0, 2).equals(GZIP_MAGIC)) refuse('not a .tar.gz or .zip archive');
  const limitBytes = bounds.maxUnpackedBytes + (bounds.maxEntries + 2) * TAR_OVERHEAD_BYTES_PER_ENTRY;
  try {
    return gunzipSync(archive, { maxOutputLength: limitBytes });
  } catch (error) {
    if (error instanceof RangeError)
      refuse('unpacked size over the bound', { maxUnpackedBytes: bounds.maxUnpackedBytes });
    refuse('not a valid gzip stream');
  }
}

function entryOf(entry: ReadEntry, content: Buffer, bounds: ArchiveBounds): Entry {
  const path = checkedRelativePath(entry.path, bounds);
  switch (entry.type) {
    case 'File':
    case 'OldFile':
    case 'ContiguousFile':
      return { kind: 'file', path, executable: ((entry.mode ?? 0) & 0o111) !== 0, content };
    case 'Directory':
      return { kind: 'folder', path };
    case 'SymbolicLink':
      return { kind: 'symlink', path, target: checkedLinkTarget(path, entry.linkpath ?? '') };
    default:
      return refuse('entry type not allowed', { path, type: entry.type });
  }
}

function isZip(archive: Buffer): boolean {
  return ZIP_MAGICS.some((magic) => archive.length >= 4 && archive.subarray(0, 4).equals(magic));
}

/** One header line of zipEntries.py. */
interface ZipHeader {
  path?: unknown;
  kind?: unknown;
  executable?: unknown;
  size: number;
}

function zipEntryOf(header: ZipHeader, content: Buffer, bounds: ArchiveBounds): Entry {
  const path = checkedRelativePath(typeof header.path === 'string' ? header.path : '', bounds);
  switch (header.kind) {
    case 'file':
      return { kind: 'file', path, executable: header.executable === true, content };
    case 'folder':
      return { kind: 'folder', path };
    case 'symlink':
      return { kind: 'symlink', path, target: checkedLinkTarget(path, content.toString('utf8')) };
    default:
      return refuse('entry type not allowed', { path });
  }
}

/** Every entry of a zip archive, read by zipEntries.py and checked here, or a refusal. */
async function readZipEntries(archive: Buffer, bounds: ArchiveBounds): Promise<Entry[]> {
  const output = await new Promise<Buffer>((resolve, reject) => {
    const child = execFile(
      PYTHON,
      ['-I', ZIP_READER, String(bounds.maxEntries), String(bounds.maxUnpackedBytes)],
      {
        encoding: 'buffer',
        env: {},
        timeout: ZIP_READ_TIMEOUT_MS,
        maxBuffer: bounds.maxUnpackedBytes + bounds.maxEntries * ZIP_HEADER_BYTES_PER_ENTRY,
      },
      (error, stdout, stderr) => {
        if (error === null) return resolve(stdout);
        if ((error as { code?: unknown }).code === ZIP_REFUSED_EXIT_CODE) {
          const reason = (JSON.parse(stderr.toString('utf8') || '{}') as { reason?: string }).reason;
          return reject(new CodedError('PREVIEW_ARCHIVE_REFUSED', `preview archive refused: ${reason}`, { reason }));
        }
        // The reader could not start (no python3 here): the sandbox is what is missing. Any other failure
        // (an exception of the reader on this archive, its time or output bound) is the archive's.
        const code = (error as { code?: unknown }).code;
        if (code === 'ENOENT' || code === 'EACCES') {
          return reject(
            new CodedError('PREVIEW_SANDBOX_UNAVAILABLE', 'the zip reader could not be started', {
              reason: error.message.slice(0, 300),
            }),
          );
        }
        reject(
          new CodedError('PREVIEW_ARCHIVE_REFUSED', 'preview archive refused: the zip reader could not read it', {
            reason: 'the zip reader could not read it',
          }),
        );
      },
    );
    child.stdin?.end(archive);
  });
  const entries: Entry[] = [];
  for (let offset = 0; offset < output.length;) {
    const newline = output.indexOf(0x0a, offset);
    const header = JSON.parse(output.subarray(offset, newline).toString('utf8')) as ZipHeader;
    assert(newline !== -1 && Number.isSafeInteger(header.size) && header.size >= 0, 'zipEntries.py: a header line');
    const content = output.subarray(newline + 1, newline + 1 + header.size);
    entries.push(zipEntryOf(header, Buffer.from(content), bounds));
    offset = newline + 1 + header.size;
  }
  return entries;
}

/** The entries of a .tar.gz or a .zip, each checked, or a refusal. */
async function entriesOf(archive: Buffer, bounds: ArchiveBounds): Promise<Entry[]> {
  return isZip(archive) ? readZipEntries(archive, bounds) : readEntries(gunzipBounded(archive, bounds), bounds);
}

/** Every entry of the tar stream, checked, or a refusal. */
async function readEntries(tarBytes: Buffer, bounds: ArchiveBounds): Promise<Entry[]> {
  const entries: Entry[] = [];
  let unpackedBytes = 0;
  let problem: unknown;
  const parser = new Parser({
    strict: true,
    onReadEntry: (entry: ReadEntry) => {
      const chunks: Buffer[] = [];
      entry.on('data', (chunk: Buffer) => chunks.push(chunk));
      entry.on('end', () => {
        try {
          if (entries.length >= bounds.maxEntries) refuse('too many entries', { maxEntries: bounds.maxEntries });
          unpackedBytes += entry.size;
          if (unpackedBytes > bounds.maxUnpackedBytes) refuse('unpacked size over the bound');
          entries.push(entryOf(entry, Buffer.concat(chunks), bounds));
        } catch (error) {
          problem ??= error;
        }
      });
    },
  });
  await new Promise<void>((resolve) => {
    parser.on('error', (error: unknown) => {
      problem ??= error;
    });
    parser.on('end', resolve);
    parser.end(tarBytes);
  });
  if (problem instanceof CodedError) throw problem;
  if (problem !== undefined) refuse('not a valid tar stream');
  return entries;
}

/**
 * A link's target is read name by name from the link's folder, as the kernel will: it may not pass
 * through another link of the archive (whose target the textual check of checkedLinkTarget did not
 * follow: `a/up -> ..` then `out -> a/up/../etc` leaves the tree) nor climb above the tree.
 */
function checkLinkChain(path: string, target: string, links: ReadonlySet<string>): void {
  const names = posix.dirname(path) === '.' ? [] : posix.dirname(path).split('/');
  for (const name of target.split('/')) {
    if (name === '' || name === '.') continue;
    if (name === '..') {
      if (names.pop() === undefined) refuse('link out of the tree', { path, target });
      continue;
    }
    names.push(name);
    if (links.has(names.join('/'))) refuse('link through another link', { path, target });
  }
}

/** No entry may sit under a symbolic link (writing it would follow the link) or be named twice. */
function checkTree(entries: readonly Entry[]): void {
  const links = new Set(entries.filter((entry) => entry.kind === 'symlink').map((entry) => entry.path));
  for (const entry of entries) if (entry.kind === 'symlink') checkLinkChain(entry.path, entry.target, links);
  const seen = new Set<string>();
  for (const entry of entries) {
    if (seen.has(entry.path) && entry.kind !== 'folder') refuse('path named twice', { path: entry.path });
    seen.add(entry.path);
    for (let parent = posix.dirname(entry.path); parent !== '.'; parent = posix.dirname(parent)) {
      if (links.has(parent)) refuse('entry under a link', { path: entry.path });
    }
  }
}

/** Checks the whole archive as unpackArchive would, writing nothing: resolves with the entry count, or refuses. */
export async function checkArchive(archive: Buffer, bounds: ArchiveBounds): Promise<number> {
  const entries = await entriesOf(archive, bounds);
  checkTree(entries);
  return entries.length;
}

/**
 * Unpacks `archive` into `folder` (which must exist and be empty), readable by all and writable by
 * none but the service (the preview sees it read-only anyway). Resolves with the entry count.
 */
export async function unpackArchive(archive: Buffer, folder: string, bounds: ArchiveBounds): Promise<number> {
  const entries = await entriesOf(archive, bounds);
  checkTree(entries);
  for (const entry of entries) {
    const target = join(folder, entry.path);
    if (entry.kind === 'folder') {
      await mkdir(target, { recursive: true, mode: FOLDER_MODE });
      continue;
    }
    await mkdir(dirname(target), { recursive: true, mode: FOLDER_MODE });
    if (entry.kind === 'file') {
      await writeFile(target, entry.content, { flag: 'wx', mode: entry.executable ? EXECUTABLE_MODE : FILE_MODE });
    } else {
      await symlink(entry.target, target);
    }
  }
  return entries.length;
}
