/**
 * Where large bytes live outside the chain: the artifacts publishers upload
 * and the ciphertexts delivered to buyers. The chain records the key, the
 * size and the SHA-256 of each object; the bytes stream through, never held
 * whole in memory. infra/adapters/objectStores implements it over a folder
 * (the embedded default, in the data directory) and over S3.
 */

export interface BlobStore {
  /** Where it is, for messages (no credentials). */
  readonly description: string;
  /**
   * Writes every chunk of `body` at `key`, or nothing: when `body` throws or
   * the write fails, no object is left at `key` (nor a partial one). Refuses
   * to replace an object (keys are fresh per write).
   */
  put(key: string, body: AsyncIterable<Uint8Array>): Promise<void>;
  /** The object's bytes in chunks, or undefined when there is none. */
  get(key: string): Promise<AsyncIterable<Uint8Array> | undefined>;
  head(key: string): Promise<{ sizeBytes: number } | undefined>;
  /** Removes the object; nothing when there is none. */
  delete(key: string): Promise<void>;
}

/** Keys under a prefix: for the delivery store's lifetime, tests and cleanup checks. */
export interface ListableBlobStore extends BlobStore {
  keys(prefix: string): Promise<string[]>;
  /** Keys under a prefix last written before `cutoffMs` (epoch milliseconds). */
  olderThan(prefix: string, cutoffMs: number): Promise<string[]>;
}

/** The artifact store and its bound, as the wiring configures them. */
export interface ArtifactStorage {
  store: BlobStore;
  /** ARTIFACT_MAX_BYTES: larger uploads are refused before a byte is read. */
  maxBytes: number;
}

/**
 * A body in pieces of exactly `size` bytes, the last shorter and possibly
 * empty (an empty body is one empty piece): the envelope's chunks, S3's parts.
 */
export async function* rechunk(body: AsyncIterable<Uint8Array>, size: number): AsyncIterable<Buffer> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (const chunk of body) {
    let rest = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    while (pendingBytes + rest.length >= size) {
      const take = size - pendingBytes;
      pending.push(rest.subarray(0, take));
      yield Buffer.concat(pending);
      pending = [];
      pendingBytes = 0;
      rest = rest.subarray(take);
    }
    if (rest.length > 0) {
      // Copied: the producer may reuse its chunk's memory.
      pending.push(Buffer.from(rest));
      pendingBytes += rest.length;
    }
  }
  yield Buffer.concat(pending);
}
