/**
 * A BlobStore in an S3 bucket (production: S3_BUCKET). Bodies stream through
 * in parts of S3_PART_BYTES (8 MiB), so memory stays bounded whatever the
 * size: an object smaller than one part is one PUT; a larger one is a
 * multipart upload, aborted when the body fails half-way, so no partial
 * object is ever visible under its key.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3ServiceException,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { rechunk, type ListableBlobStore } from '../../../commands/blobStore.ts';
import type { S3Location } from './s3Store.ts';

/** Bytes per multipart part (S3's minimum is 5 MiB for every part but the last). */
export const S3_PART_BYTES = 8 * 1024 * 1024;
/** Parts per object: S3's limit, so objects up to 80 GiB at S3_PART_BYTES. */
const MAX_S3_PARTS = 10_000;

function isNotFound(error: unknown): boolean {
  if (!(error instanceof S3ServiceException)) return false;
  return error.$metadata.httpStatusCode === 404 || error.name === 'NoSuchKey' || error.name === 'NotFound';
}

/** The body in parts of exactly `size` bytes, the last one shorter; no empty part after a full one. */
async function* parts(body: AsyncIterable<Uint8Array>, size: number): AsyncIterable<Buffer> {
  let yielded = false;
  for await (const piece of rechunk(body, size)) {
    if (piece.length === 0 && yielded) return;
    yielded = true;
    yield piece;
  }
}

export class S3BlobStore implements ListableBlobStore {
  readonly description: string;
  readonly client: S3Client;
  readonly location: S3Location;
  readonly partBytes: number;

  constructor(client: S3Client, location: S3Location, partBytes = S3_PART_BYTES) {
    this.client = client;
    this.location = location;
    this.partBytes = partBytes;
    this.description = `s3://${location.bucket}${location.prefix ? `/${location.prefix}` : ''}`;
  }

  key(key: string): string {
    return this.location.prefix ? `${this.location.prefix}/${key}` : key;
  }

  async put(key: string, body: AsyncIterable<Uint8Array>): Promise<void> {
    const iterator = parts(body, this.partBytes)[Symbol.asyncIterator]();
    try {
      await this.#put(key, iterator);
    } catch (error) {
      // The body's source (a file, another bucket's response) is closed, not left open, whatever failed.
      await iterator.return?.().catch(() => undefined);
      throw error;
    }
  }

  async #put(key: string, iterator: AsyncIterator<Buffer>): Promise<void> {
    const first = await iterator.next();
    const firstPart = first.done ? Buffer.alloc(0) : first.value;
    const second = await iterator.next();
    const target = { Bucket: this.location.bucket, Key: this.key(key) };
    if (second.done) {
      await this.client.send(new PutObjectCommand({ ...target, Body: firstPart, ContentLength: firstPart.length }));
      return;
    }
    const { UploadId } = await this.client.send(new CreateMultipartUploadCommand(target));
    try {
      const done: { ETag: string; PartNumber: number }[] = [];
      const upload = async (part: Buffer): Promise<void> => {
        const PartNumber = done.length + 1;
        if (PartNumber > MAX_S3_PARTS) throw new Error(`more than ${MAX_S3_PARTS} parts of ${this.partBytes} bytes`);
        const answer = await this.client.send(
          new UploadPartCommand({ ...target, UploadId, PartNumber, Body: part, ContentLength: part.length }),
        );
        done.push({ ETag: answer.ETag ?? '', PartNumber });
      };
      await upload(firstPart);
      await upload(second.value as Buffer);
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) await upload(next.value);
      await this.client.send(
        new CompleteMultipartUploadCommand({ ...target, UploadId, MultipartUpload: { Parts: done } }),
      );
    } catch (error) {
      await this.client.send(new AbortMultipartUploadCommand({ ...target, UploadId })).catch(() => undefined);
      throw error;
    }
  }

  async get(key: string): Promise<AsyncIterable<Uint8Array> | undefined> {
    try {
      const response = await this.client.send(
        new GetObjectCommand({ Bucket: this.location.bucket, Key: this.key(key) }),
      );
      return (response.Body as Readable | undefined) ?? (async function* () {})();
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async head(key: string): Promise<{ sizeBytes: number } | undefined> {
    try {
      const response = await this.client.send(
        new HeadObjectCommand({ Bucket: this.location.bucket, Key: this.key(key) }),
      );
      return { sizeBytes: response.ContentLength ?? 0 };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.location.bucket, Key: this.key(key) }));
  }

  async keys(prefix: string): Promise<string[]> {
    return (await this.listed(prefix)).map((object) => object.key);
  }

  async olderThan(prefix: string, cutoffMs: number): Promise<string[]> {
    return (await this.listed(prefix)).filter((object) => object.modifiedMs < cutoffMs).map((object) => object.key);
  }

  /** Every object under a prefix (without the store's own prefix), with its last modification, in key order. */
  async listed(prefix: string): Promise<{ key: string; modifiedMs: number }[]> {
    const objects: { key: string; modifiedMs: number }[] = [];
    let ContinuationToken: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.location.bucket,
          Prefix: this.key(prefix),
          ...(ContinuationToken ? { ContinuationToken } : {}),
        }),
      );
      for (const object of page.Contents ?? [])
        if (object.Key !== undefined)
          objects.push({ key: object.Key, modifiedMs: object.LastModified?.getTime() ?? Number.POSITIVE_INFINITY });
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
    const strip = this.location.prefix ? this.location.prefix.length + 1 : 0;
    return objects
      .map((object) => ({ ...object, key: object.key.slice(strip) }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
}
