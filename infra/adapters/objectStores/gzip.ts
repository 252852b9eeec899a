/** The archive's gzip (archive/objectStore.ts Compression) over node:zlib, off the main thread (libuv's pool). */
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import type { Compression } from '../../../archive/objectStore.ts';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/** zlib level 6 (its default) costs about twice level 1 for 10-15% smaller batches; exports are bound by verification, not this. */
export const GZIP_LEVEL = 6;

/**
 * Bytes zlib writes per call back into JavaScript. Its default (16 KiB) makes
 * a 7 MiB batch come back in about 450 pieces, each a callback on the main
 * thread and a copy; 1 MiB makes a handful. The compressed bytes do not
 * depend on it (zlib's output does not depend on how its output buffer is
 * cut), so archives stay byte for byte the same.
 */
export const ZLIB_CHUNK_BYTES = 1024 * 1024;

export const zlibCompression: Compression = {
  gzip: async (bytes) => gzipAsync(bytes, { level: GZIP_LEVEL, chunkSize: ZLIB_CHUNK_BYTES }),
  gunzip: async (bytes, maxBytes) => gunzipAsync(bytes, { maxOutputLength: maxBytes, chunkSize: ZLIB_CHUNK_BYTES }),
};
