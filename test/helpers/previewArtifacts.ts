/**
 * Preview artifacts for the sandbox tests and the benchmark: .tar.gz archives built entry by entry with
 * the `tar` package's header encoder, so that a test can write exactly the hostile entry it means (a
 * `../` path, an absolute path, a link out) which a well-behaved archiver would refuse to write.
 */
import { gzipSync } from 'node:zlib';
import { Header, type HeaderData } from 'tar';

const TAR_BLOCK_BYTES = 512;

export interface ArtifactEntry {
  path: string;
  type?: HeaderData['type'];
  content?: string | Buffer;
  mode?: number;
  linkpath?: string;
}

/** The tar stream of `entries` (uncompressed), ended by the two zero blocks. */
export function tarOf(entries: readonly ArtifactEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const content = Buffer.from(entry.content ?? '');
    const header = new Header({
      path: entry.path,
      type: entry.type ?? 'File',
      size: content.length,
      mode: entry.mode ?? 0o644,
      mtime: new Date(0),
      uid: 0,
      gid: 0,
      ...(entry.linkpath === undefined ? {} : { linkpath: entry.linkpath }),
    });
    const block = Buffer.alloc(TAR_BLOCK_BYTES);
    header.encode(block, 0);
    blocks.push(block, content, Buffer.alloc((TAR_BLOCK_BYTES - (content.length % TAR_BLOCK_BYTES)) % TAR_BLOCK_BYTES));
  }
  blocks.push(Buffer.alloc(2 * TAR_BLOCK_BYTES));
  return Buffer.concat(blocks);
}

export function tarGzOf(entries: readonly ArtifactEntry[]): Buffer {
  return gzipSync(tarOf(entries));
}

/** An artifact whose entry point is one shell (or other) script, `run`. */
export function scriptArtifact(script: string): Buffer {
  return tarGzOf([{ path: 'run', content: script, mode: 0o755 }]);
}
