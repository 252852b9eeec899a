/**
 * A BlobStore in a folder (the embedded default: `<data dir>/artifacts` and
 * `<data dir>/deliveries`). An object is streamed to a temporary file beside
 * its name, synced, then linked into place (which fails if the name exists)
 * and the temporary name removed; when the body fails half-way the temporary
 * file is removed, so no partial object is ever visible under its key.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { link, mkdir, open, readdir, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ListableBlobStore } from '../../../commands/blobStore.ts';
import { pathUnder } from './folderKeys.ts';

const TEMPORARY_PREFIX = '.tmp-';

function isMissing(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

export class FolderBlobStore implements ListableBlobStore {
  readonly description: string;
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
    this.description = this.root;
  }

  #path(key: string): string {
    return pathUnder(this.root, key, "the store's folder", TEMPORARY_PREFIX);
  }

  async put(key: string, body: AsyncIterable<Uint8Array>): Promise<void> {
    const path = this.#path(key);
    const directory = dirname(path);
    await mkdir(directory, { recursive: true, mode: 0o700 });
    const temporary = join(directory, `${TEMPORARY_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}`);
    try {
      await pipeline(Readable.from(body), createWriteStream(temporary, { flags: 'wx', mode: 0o600 }));
      const handle = await open(temporary, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      await link(temporary, path);
    } finally {
      await unlink(temporary).catch(() => undefined);
    }
  }

  async get(key: string): Promise<AsyncIterable<Uint8Array> | undefined> {
    if (!(await this.head(key))) return undefined;
    return createReadStream(this.#path(key));
  }

  async head(key: string): Promise<{ sizeBytes: number } | undefined> {
    try {
      const stats = await stat(this.#path(key));
      return stats.isFile() ? { sizeBytes: stats.size } : undefined;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    await unlink(this.#path(key)).catch((error: unknown) => {
      if (!isMissing(error)) throw error;
    });
  }

  /** Every key under `prefix` (temporary files included: a test of "no partial object" must see them). */
  async keys(prefix: string): Promise<string[]> {
    const found: string[] = [];
    const visit = async (relative: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(relative === '' ? this.root : join(this.root, relative), { withFileTypes: true });
      } catch (error) {
        if (isMissing(error)) return;
        throw error;
      }
      for (const entry of entries) {
        const name = relative === '' ? entry.name : `${relative}/${entry.name}`;
        if (entry.isDirectory()) await visit(name);
        else found.push(name);
      }
    };
    await visit('');
    return found.filter((key) => key.startsWith(prefix)).sort();
  }

  /**
   * Keys last written before the cutoff. A temporary file (a write that never
   * finished: a crash, a kill) is not an object: an old one is removed here,
   * so a sweep both skips and cleans it.
   */
  async olderThan(prefix: string, cutoffMs: number): Promise<string[]> {
    const old: string[] = [];
    for (const key of await this.keys(prefix)) {
      const temporary = key.split('/').at(-1)!.startsWith(TEMPORARY_PREFIX);
      // Listed from the folder itself, so the raw path is the file's; #path refuses temporary names.
      const path = temporary ? join(this.root, key) : this.#path(key);
      // Another sweep, or a revocation, may have removed it since it was listed.
      const modified = await stat(path).then(
        (stats) => stats.mtimeMs,
        (error: unknown) => (isMissing(error) ? undefined : Promise.reject(error)),
      );
      if (modified === undefined || modified >= cutoffMs) continue;
      if (temporary)
        await unlink(path).catch((error: unknown) => (isMissing(error) ? undefined : Promise.reject(error)));
      else old.push(key);
    }
    return old;
  }
}
