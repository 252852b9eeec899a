/**
 * Preview artifacts for the sandbox tests and the benchmark: .tar.gz archives built entry by entry with
 * the `tar` package's header encoder, so that a test can write exactly the hostile entry it means (a
 * `../` path, an absolute path, a link out) which a well-behaved archiver would refuse to write.
 */
import { execFileSync } from 'node:child_process';
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

export interface ZipEntry {
  path: string;
  content?: string | Buffer;
  /** Unix mode bits with the type: 0o100755 a script, 0o120777 a symbolic link (content: its target). */
  mode?: number;
}

/** Writes the zip with CPython's zipfile (names as given, hostile ones included); optionally declaring a size smaller than the entries' real one. */
const ZIP_WRITER = `
import io, json, struct, sys, zipfile
spec = json.load(sys.stdin)
buffer = io.BytesIO()
with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
    for entry in spec["entries"]:
        info = zipfile.ZipInfo(entry["path"], date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = entry["mode"] << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, bytes.fromhex(entry["content"]))
data = bytearray(buffer.getvalue())
lie = spec.get("declaredSizeBytes")
if lie is not None:
    for signature, offset in ((b"PK\\x03\\x04", 22), (b"PK\\x01\\x02", 24)):
        at = data.find(signature)
        while at != -1:
            struct.pack_into("<I", data, at + offset, lie)
            at = data.find(signature, at + 4)
sys.stdout.buffer.write(bytes(data))
`;

export function zipOf(entries: readonly ZipEntry[], declaredSizeBytes?: number): Buffer {
  const spec = {
    entries: entries.map((entry) => ({
      path: entry.path,
      mode: entry.mode ?? 0o100644,
      content: Buffer.from(entry.content ?? '').toString('hex'),
    })),
    ...(declaredSizeBytes === undefined ? {} : { declaredSizeBytes }),
  };
  return execFileSync('/usr/bin/python3', ['-I', '-c', ZIP_WRITER], {
    input: JSON.stringify(spec),
    maxBuffer: 256 * 1024 * 1024,
  });
}
