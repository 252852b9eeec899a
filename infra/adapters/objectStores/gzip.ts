/** The archive's gzip (archive/objectStore.ts Compression) over node:zlib, off the main thread (libuv's pool). */
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import type { Compression } from '../../../archive/objectStore.ts';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/** zlib level 6 (its default) costs about twice level 1 for 10-15% smaller batches; exports are bound by verification, not this. */
export const GZIP_LEVEL = 6;

export const zlibCompression: Compression = {
  gzip: async (bytes) => gzipAsync(bytes, { level: GZIP_LEVEL }),
  gunzip: async (bytes, maxBytes) => gunzipAsync(bytes, { maxOutputLength: maxBytes }),
};
