/**
 * The archive in a folder (the embedded default). Write once: an object is
 * written to a temporary file, synced, made read-only (0444), then linked
 * into place, which fails when the name exists, so an object is never
 * replaced, even by two exporters racing. Reads ignore the temporary files.
 * A folder is not WORM storage against its owner (root can still change a
 * read-only file): production archives go to S3 with Object Lock.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync } from 'node:fs';
import { chmod, link, mkdir, open, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { assert, CodedError } from '../../../domain/errors.ts';
import { MAX_LIST_PAGE_KEYS } from '../../../archive/limits.ts';
import type { ListPage, ObjectStore, PutOptions } from '../../../archive/objectStore.ts';
import { pathUnder } from './folderKeys.ts';

const TEMPORARY_PREFIX = '.tmp-';
export const READ_ONLY_MODE = 0o444;

function isMissing(error: unknown): boolean {
  return (error as { code?: unknown }).code === 'ENOENT' || (error as { code?: unknown }).code === 'ENOTDIR';
}

/** Syncs a directory so a link made in it survives a crash. */
function syncDirectory(directory: string): void {
  const descriptor = openSync(directory, 'r');
  try {
    fsyncSync(descriptor);
  } finally {
    closeSync(descriptor);
  }
}

export class FolderStore implements ObjectStore {
  readonly description: string;
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
    this.description = this.root;
  }

  #path(key: string): string {
    return pathUnder(this.root, key, 'the archive folder');
  }

  async *list(prefix: string, options: { delimiter?: boolean } = {}): AsyncIterable<ListPage> {
    const keys = (await this.#walk(prefix, options.delimiter === true)).sort();
    const folders = keys.filter((key) => key.endsWith('/'));
    const objects = keys.filter((key) => !key.endsWith('/'));
    for (let offset = 0; offset < Math.max(objects.length, folders.length, 1); offset += MAX_LIST_PAGE_KEYS) {
      yield {
        keys: objects.slice(offset, offset + MAX_LIST_PAGE_KEYS),
        folders: folders.slice(offset, offset + MAX_LIST_PAGE_KEYS),
      };
    }
  }

  /** Keys under `prefix` (a folder path ending in `/`, or empty); with `oneLevel`, the folders there end in `/`. */
  async #walk(prefix: string, oneLevel: boolean): Promise<string[]> {
    assert(prefix === '' || prefix.endsWith('/'), `folder listings take a prefix ending in /, got ${prefix}`);
    const found: string[] = [];
    const visit = async (relative: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(relative === '' ? this.root : this.#path(relative.slice(0, -1)), {
          withFileTypes: true,
        });
      } catch (error) {
        if (isMissing(error)) return;
        throw error;
      }
      for (const entry of entries) {
        if (entry.name.startsWith(TEMPORARY_PREFIX)) continue;
        if (entry.isDirectory()) {
          if (oneLevel) found.push(`${relative}${entry.name}/`);
          else await visit(`${relative}${entry.name}/`);
        } else if (entry.isFile()) found.push(`${relative}${entry.name}`);
      }
    };
    await visit(prefix);
    return found;
  }

  async get(key: string, maxBytes: number): Promise<Uint8Array | undefined> {
    const size = (await this.head(key))?.sizeBytes;
    if (size === undefined) return undefined;
    if (size > maxBytes)
      throw new CodedError(
        'ARCHIVE_OBJECT_TOO_LARGE',
        `${key} in ${this.description} is ${size} bytes, more than ${maxBytes}`,
        { key },
      );
    try {
      return await readFile(this.#path(key));
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
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

  async putIfAbsent(key: string, body: Uint8Array, _options?: PutOptions): Promise<'written' | 'exists'> {
    const path = this.#path(key);
    const directory = dirname(path);
    await mkdir(directory, { recursive: true });
    const temporary = join(directory, `${TEMPORARY_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}`);
    const handle = await open(temporary, 'wx', 0o600);
    try {
      await handle.writeFile(body);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await chmod(temporary, READ_ONLY_MODE);
      await link(temporary, path);
      syncDirectory(directory);
      return 'written';
    } catch (error) {
      if ((error as { code?: unknown }).code === 'EEXIST') return 'exists';
      throw error;
    } finally {
      await unlink(temporary).catch(() => undefined);
    }
  }
}
