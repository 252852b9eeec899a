/**
 * The archive in S3 with Object Lock (`@aws-sdk/client-s3`). Every object is
 * written with ObjectLockMode and ObjectLockRetainUntilDate, Content-MD5 and
 * a SHA-256 checksum the server checks, the runbook's metadata, and
 * If-None-Match: * so S3 itself refuses to replace an object; a HEAD first
 * keeps that true on servers that ignore the header. Bodies are buffers:
 * with the current SDK, streamed uploads to some S3-compatible servers need
 * requestChecksumCalculation WHEN_REQUIRED, set here too.
 */
import { createHash } from 'node:crypto';
import {
  GetObjectCommand,
  GetObjectLockConfigurationCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { CodedError } from '../../../domain/errors.ts';
import { MAX_LIST_PAGE_KEYS } from '../../../archive/limits.ts';
import type { ListPage, ObjectStore, PutOptions } from '../../../archive/objectStore.ts';

/** Attempts per S3 request (the SDK retries throttling and 5xx with backoff). */
export const MAX_S3_ATTEMPTS = 5;

export interface S3Location {
  bucket: string;
  /** Key prefix inside the bucket, without leading or trailing `/`; empty for the bucket's root. */
  prefix: string;
}

export interface S3Settings {
  endpoint: string | undefined;
  region: string;
  forcePathStyle: boolean;
  /** undefined: the AWS SDK's standard credential chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string } | undefined;
}

export function s3Client(settings: S3Settings): S3Client {
  return new S3Client({
    region: settings.region,
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    forcePathStyle: settings.forcePathStyle,
    ...(settings.credentials ? { credentials: settings.credentials } : {}),
    maxAttempts: MAX_S3_ATTEMPTS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** `s3://bucket/prefix` → bucket and prefix; undefined for anything else. */
export function parseS3Url(url: string): S3Location | undefined {
  const match = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url);
  if (!match) return undefined;
  return { bucket: match[1]!, prefix: (match[2] ?? '').replace(/^\/+|\/+$/g, '') };
}

function isNotFound(error: unknown): boolean {
  if (!(error instanceof S3ServiceException)) return false;
  return error.$metadata.httpStatusCode === 404 || error.name === 'NoSuchKey' || error.name === 'NotFound';
}

function isPreconditionFailed(error: unknown): boolean {
  return (
    error instanceof S3ServiceException &&
    (error.$metadata.httpStatusCode === 412 || error.name === 'PreconditionFailed')
  );
}

export class S3Store implements ObjectStore {
  readonly description: string;
  readonly client: S3Client;
  readonly location: S3Location;

  constructor(client: S3Client, location: S3Location) {
    this.client = client;
    this.location = location;
    this.description = `s3://${location.bucket}${location.prefix ? `/${location.prefix}` : ''}`;
  }

  #key(key: string): string {
    return this.location.prefix ? `${this.location.prefix}/${key}` : key;
  }

  #relative(fullKey: string): string {
    return this.location.prefix ? fullKey.slice(this.location.prefix.length + 1) : fullKey;
  }

  async *list(prefix: string, options: { delimiter?: boolean } = {}): AsyncIterable<ListPage> {
    let continuationToken: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.location.bucket,
          Prefix: this.#key(prefix),
          MaxKeys: MAX_LIST_PAGE_KEYS,
          ...(options.delimiter ? { Delimiter: '/' } : {}),
          ...(continuationToken ? { ContinuationToken: continuationToken } : {}),
        }),
      );
      yield {
        keys: (page.Contents ?? []).flatMap((object) => (object.Key === undefined ? [] : [this.#relative(object.Key)])),
        folders: (page.CommonPrefixes ?? []).flatMap((folder) =>
          folder.Prefix === undefined ? [] : [this.#relative(folder.Prefix)],
        ),
      };
      continuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (continuationToken);
  }

  async get(key: string, maxBytes: number): Promise<Uint8Array | undefined> {
    try {
      const response = await this.client.send(
        new GetObjectCommand({ Bucket: this.location.bucket, Key: this.#key(key) }),
      );
      if ((response.ContentLength ?? 0) > maxBytes) {
        await response.Body?.transformToByteArray().catch(() => undefined);
        throw new CodedError(
          'ARCHIVE_OBJECT_TOO_LARGE',
          `${key} in ${this.description} is ${response.ContentLength} bytes, more than ${maxBytes}`,
          { key },
        );
      }
      return response.Body ? Buffer.from(await response.Body.transformToByteArray()) : Buffer.alloc(0);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async head(key: string): Promise<{ sizeBytes: number } | undefined> {
    try {
      const response = await this.client.send(
        new HeadObjectCommand({ Bucket: this.location.bucket, Key: this.#key(key) }),
      );
      return { sizeBytes: response.ContentLength ?? 0 };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async putIfAbsent(key: string, body: Uint8Array, options: PutOptions): Promise<'written' | 'exists'> {
    if (await this.head(key)) return 'exists';
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.location.bucket,
          Key: this.#key(key),
          Body: Buffer.from(body),
          ContentLength: body.byteLength,
          ContentType: options.contentType,
          ContentMD5: createHash('md5').update(body).digest('base64'),
          ChecksumSHA256: createHash('sha256').update(body).digest('base64'),
          Metadata: { ...options.metadata },
          ObjectLockMode: options.lock.mode,
          ObjectLockRetainUntilDate: new Date(options.lock.retainUntilMs),
          IfNoneMatch: '*',
        }),
      );
      return 'written';
    } catch (error) {
      if (isPreconditionFailed(error)) return 'exists';
      throw error;
    }
  }

  /** Whether the bucket has Object Lock enabled, or why that could not be read. */
  async objectLockEnabled(): Promise<{ enabled: true } | { enabled: false; reason: string }> {
    try {
      const response = await this.client.send(new GetObjectLockConfigurationCommand({ Bucket: this.location.bucket }));
      if (response.ObjectLockConfiguration?.ObjectLockEnabled === 'Enabled') return { enabled: true };
      return { enabled: false, reason: `bucket ${this.location.bucket} does not have Object Lock enabled` };
    } catch (error) {
      return {
        enabled: false,
        reason: `cannot read the Object Lock configuration of bucket ${this.location.bucket}: ${(error as Error).name}: ${(error as Error).message}`,
      };
    }
  }
}
