/**
 * The blob stores of artifacts and deliveries: a folder in the data directory
 * by default, an S3 bucket when one is configured (with the archive's S3
 * endpoint, region and credentials: S3_ENDPOINT, S3_REGION,
 * S3_FORCE_PATH_STYLE, S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY, or the AWS
 * SDK's standard chain).
 */
import type { ListableBlobStore } from '../../commands/blobStore.ts';
import { FolderBlobStore } from '../adapters/objectStores/folderBlobStore.ts';
import { S3BlobStore } from '../adapters/objectStores/s3BlobStore.ts';
import { s3Client } from '../adapters/objectStores/s3Store.ts';
import type { ArchiveConfig } from './config.ts';

export function openBlobStore(
  bucket: string | undefined,
  folder: string,
  s3: ArchiveConfig['s3'],
): { store: ListableBlobStore; close(): void } {
  if (bucket === undefined) return { store: new FolderBlobStore(folder), close: () => undefined };
  const client = s3Client(s3);
  return { store: new S3BlobStore(client, { bucket, prefix: '' }), close: () => client.destroy() };
}
