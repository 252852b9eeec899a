/**
 * The auditor bundle as a .tar.gz written while it is read (archive/auditBundle.ts
 * BundleOutput): each file becomes a POSIX ustar entry under one top folder,
 * gzipped with node:zlib, and handed to the reader as it is compressed. A
 * write waits while the reader is behind, so what is held is one bundled file
 * (a batch, at most MAX_ARCHIVE_BATCH_BYTES) and zlib's buffers, never the
 * whole bundle. Unpacked with `tar -xzf`, the top folder holds exactly the
 * files `chainbook audit-bundle --out` writes (infra/adapters/files/bundleFolder.ts),
 * with the same modes.
 */
import { createGzip, type Gzip } from 'node:zlib';
import type { BundleOutput } from '../../../archive/auditBundle.ts';
import { assert } from '../../../domain/errors.ts';

/** A tar file is a sequence of 512-byte blocks: a header block, then the content padded to a whole block. */
const TAR_BLOCK_BYTES = 512;
/** The ustar header's name and prefix fields; a longer path goes in a PAX extended header. */
const USTAR_NAME_BYTES = 100;
const USTAR_PREFIX_BYTES = 155;
/** The largest size the header's 11 octal digits hold (8 GiB - 1). */
const USTAR_MAX_SIZE_BYTES = 8 ** 11 - 1;
const FILE_MODE = 0o644;
const EXECUTABLE_MODE = 0o755;
const FOLDER_MODE = 0o755;

type EntryType = 'file' | 'folder' | 'pax';
const TYPE_FLAG: Record<EntryType, string> = { file: '0', folder: '5', pax: 'x' };

/** A number as `width - 1` octal digits and a NUL, as the ustar fields hold them. */
function octal(value: number, width: number): string {
  const digits = value.toString(8);
  assert(digits.length < width, `tar: ${value} does not fit in ${width - 1} octal digits`);
  return `${digits.padStart(width - 1, '0')}\0`;
}

/** name and prefix fields for a path, or undefined when it cannot be split to fit them. */
function splitPath(path: string): { name: string; prefix: string } | undefined {
  if (Buffer.byteLength(path) <= USTAR_NAME_BYTES) return { name: path, prefix: '' };
  for (let slash = path.indexOf('/'); slash !== -1; slash = path.indexOf('/', slash + 1)) {
    const prefix = path.slice(0, slash);
    const name = path.slice(slash + 1);
    if (Buffer.byteLength(prefix) > USTAR_PREFIX_BYTES) return undefined;
    if (name !== '' && Buffer.byteLength(name) <= USTAR_NAME_BYTES) return { name, prefix };
  }
  return undefined;
}

interface Entry {
  name: string;
  prefix: string;
  type: EntryType;
  mode: number;
  sizeBytes: number;
  mtimeSeconds: number;
}

/** One ustar header block (POSIX.1-1988 field layout; owner 0, no user or group names). */
function headerBlock(entry: Entry): Buffer {
  assert(entry.sizeBytes <= USTAR_MAX_SIZE_BYTES, 'tar: an entry past the ustar size limit');
  const block = Buffer.alloc(TAR_BLOCK_BYTES);
  const field = (offset: number, width: number, text: string) => {
    assert(Buffer.byteLength(text) <= width, `tar: a header field of ${width} bytes got ${JSON.stringify(text)}`);
    block.write(text, offset, width, 'utf8');
  };
  field(0, 100, entry.name);
  field(100, 8, octal(entry.mode, 8));
  field(108, 8, octal(0, 8));
  field(116, 8, octal(0, 8));
  field(124, 12, octal(entry.sizeBytes, 12));
  field(136, 12, octal(entry.mtimeSeconds, 12));
  field(148, 8, ' '.repeat(8)); // the checksum is summed with its own field as spaces
  field(156, 1, TYPE_FLAG[entry.type]);
  field(257, 6, 'ustar\0');
  field(263, 2, '00');
  field(345, 155, entry.prefix);
  let checksum = 0;
  for (const byte of block) checksum += byte;
  field(148, 8, `${checksum.toString(8).padStart(6, '0')}\0 `);
  return block;
}

/** A PAX extended header's one record, `<length> path=<path>\n`, whose length counts its own digits. */
function paxPathRecord(path: string): Buffer {
  const rest = ` path=${path}\n`;
  const restBytes = Buffer.byteLength(rest);
  let length = restBytes + String(restBytes).length;
  // Adding the digits may add a digit (97 bytes + 2 digits = 99, but 99 + … = 100 has 3).
  if (String(length).length !== String(restBytes).length) length = restBytes + String(length).length;
  return Buffer.from(`${length}${rest}`, 'utf8');
}

function padding(sizeBytes: number): Buffer {
  return Buffer.alloc((TAR_BLOCK_BYTES - (sizeBytes % TAR_BLOCK_BYTES)) % TAR_BLOCK_BYTES);
}

/** Resolves when the stream takes more, rejects when it was closed (the reader went away) first. */
function drained(stream: Gzip): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      stream.off('close', onClose);
      resolve();
    };
    const onClose = () => {
      stream.off('drain', onDrain);
      reject(new Error('the bundle download ended before the bundle was written'));
    };
    stream.once('drain', onDrain);
    stream.once('close', onClose);
  });
}

export interface BundleTarGzip {
  /** Where writeAuditBundle writes. */
  output: BundleOutput;
  /** The .tar.gz bytes as they are compressed; ends after finish, fails after fail. */
  body: AsyncIterable<Uint8Array>;
  /** Ends the archive (two zero blocks) and the gzip stream. */
  finish(): Promise<void>;
  /** Stops the stream with this error: a reader that has seen no byte yet gets the error itself. */
  fail(error: Error): void;
}

/** A bundle written as `<root>/…` entries of a gzipped tar, every entry dated mtimeMs. */
export function bundleTarGzip(root: string, mtimeMs: number): BundleTarGzip {
  const gzip = createGzip();
  const mtimeSeconds = Math.floor(mtimeMs / 1000);
  const folders = new Set<string>();
  let entries = 0;

  async function push(bytes: Uint8Array): Promise<void> {
    if (gzip.destroyed) throw new Error('the bundle download ended before the bundle was written');
    if (!gzip.write(bytes)) await drained(gzip);
  }

  async function entry(path: string, type: EntryType, mode: number, content: Uint8Array): Promise<void> {
    const full = type === 'folder' ? `${path}/` : path;
    let split = splitPath(full);
    if (split === undefined) {
      const record = paxPathRecord(full);
      const paxName = `PaxHeader/${entries}`;
      await push(
        headerBlock({
          name: paxName,
          prefix: '',
          type: 'pax',
          mode: FILE_MODE,
          sizeBytes: record.length,
          mtimeSeconds,
        }),
      );
      await push(Buffer.concat([record, padding(record.length)]));
      // Readers that know PAX take the path above; the header's own name is only a placeholder that fits.
      split = { name: `PaxHeader-placeholder-${entries}`, prefix: '' };
    }
    entries += 1;
    await push(headerBlock({ ...split, type, mode, sizeBytes: content.length, mtimeSeconds }));
    if (content.length > 0) {
      await push(content);
      await push(padding(content.length));
    }
  }

  /** The folder and those above it that have no entry yet, outermost first, as `mkdir -p` makes them. */
  async function folder(path: string): Promise<void> {
    const parts = path.split('/');
    for (let depth = 1; depth <= parts.length; depth++) {
      const prefix = parts.slice(0, depth).join('/');
      if (folders.has(prefix)) continue;
      folders.add(prefix);
      await entry(prefix, 'folder', FOLDER_MODE, new Uint8Array());
    }
  }

  const output: BundleOutput = {
    description: `${root}.tar.gz`,
    isEmpty: () => entries === 0,
    makeFolder: (path) => folder(`${root}/${path}`),
    async write(path, content, options = {}) {
      const full = `${root}/${path}`;
      await folder(full.slice(0, full.lastIndexOf('/')));
      const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
      await entry(full, 'file', options.executable ? EXECUTABLE_MODE : FILE_MODE, bytes);
    },
  };

  return {
    output,
    body: gzip,
    async finish() {
      await push(Buffer.alloc(2 * TAR_BLOCK_BYTES));
      gzip.end();
    },
    fail: (error) => gzip.destroy(error),
  };
}
