/**
 * What the archive is written to and read from: a flat namespace of
 * immutable objects. infra/adapters/objectStores implements it over a folder (files made
 * read-only) and over S3 with Object Lock. Keys use `/` as a separator and
 * are relative to the store's root (a folder, or a bucket and prefix).
 */

export interface ObjectLock {
  /** S3 Object Lock mode; the folder target makes files read-only whatever the mode. */
  mode: 'COMPLIANCE' | 'GOVERNANCE';
  retainUntilMs: number;
}

export interface PutOptions {
  contentType: string;
  /** Stored beside the object (S3 user metadata; the folder target keeps none). */
  metadata: Readonly<Record<string, string>>;
  lock: ObjectLock;
}

export interface ListPage {
  /** Object keys, in lexical (UTF-8 byte) order. */
  keys: string[];
  /** With a delimiter: the next level's folders (`<prefix><name>/`), in lexical order. */
  folders: string[];
}

export interface ObjectStore {
  /** Where it is, for messages (no credentials). */
  readonly description: string;
  /** Keys under `prefix` in lexical order, in pages of at most MAX_LIST_PAGE_KEYS; `delimiter` lists one level. */
  list(prefix: string, options?: { delimiter?: boolean }): AsyncIterable<ListPage>;
  /** The object's bytes, or undefined when there is none. Refuses objects over `maxBytes`. */
  get(key: string, maxBytes: number): Promise<Uint8Array | undefined>;
  head(key: string): Promise<{ sizeBytes: number } | undefined>;
  /**
   * Writes the object unless one exists at `key`; never replaces one.
   * `exists`: an object was already there and is left as it was.
   */
  putIfAbsent(key: string, body: Uint8Array, options: PutOptions): Promise<'written' | 'exists'>;
}

/** gzip, from infra (node:zlib): the archive format does no I/O of its own. */
export interface Compression {
  gzip(bytes: Uint8Array): Promise<Uint8Array>;
  /** Fails when the output would pass `maxBytes` or the input is not valid gzip. */
  gunzip(bytes: Uint8Array, maxBytes: number): Promise<Uint8Array>;
}
