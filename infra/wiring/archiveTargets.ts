/**
 * Where the archive is: a folder, or `s3://bucket/prefix` (S3_ENDPOINT,
 * S3_REGION, S3_FORCE_PATH_STYLE; credentials from S3_ACCESS_KEY_ID and
 * S3_SECRET_ACCESS_KEY or else the AWS SDK's standard chain).
 */
import { listServices, readIndex } from '../../archive/archiveIndex.ts';
import { ArchiveReader } from '../../archive/archiveReader.ts';
import type { ObjectStore } from '../../archive/objectStore.ts';
import type { SignerRegistry } from '../../chain/registry.ts';
import { CodedError } from '../../domain/errors.ts';
import type { ArchiveConfig } from './config.ts';
import { FolderStore } from '../adapters/objectStores/folderStore.ts';
import { zlibCompression } from '../adapters/objectStores/gzip.ts';
import { parseS3Url, S3Store, s3Client } from '../adapters/objectStores/s3Store.ts';

export function isS3Target(target: string): boolean {
  return target.startsWith('s3://');
}

export function openArchiveStore(target: string, config: ArchiveConfig): FolderStore | S3Store {
  if (!isS3Target(target)) return new FolderStore(target);
  const location = parseS3Url(target);
  if (!location) throw new CodedError('USAGE', `${target} is not s3://bucket/prefix`);
  return new S3Store(s3Client(config.s3), location);
}

/** The service to read: the one asked for, or the archive's only one. */
export async function chooseService(store: ObjectStore, asked: string | undefined): Promise<string> {
  const services = await listServices(store);
  if (asked !== undefined) {
    if (!services.includes(asked))
      throw new CodedError(
        'ARCHIVE_EMPTY',
        `${store.description} holds no batches of service ${asked} (it has: ${services.join(', ') || 'nothing'})`,
      );
    return asked;
  }
  if (services.length === 1) return services[0]!;
  if (services.length === 0) throw new CodedError('ARCHIVE_EMPTY', `${store.description} holds no archive batches`);
  throw new CodedError(
    'USAGE',
    `${store.description} holds several services (${services.join(', ')}): choose one with --service`,
  );
}

/** The archive as a RecordReader, for audit-verify and replay. */
export async function openArchiveReader(
  target: string,
  config: ArchiveConfig,
  registry: SignerRegistry,
  service: string | undefined,
): Promise<{ reader: ArchiveReader; store: ObjectStore; close(): void }> {
  const store = openArchiveStore(target, config);
  try {
    const index = await readIndex(store, await chooseService(store, service));
    return {
      reader: new ArchiveReader({ store, compression: zlibCompression, registry, index }),
      store,
      close: () => closeStore(store),
    };
  } catch (error) {
    closeStore(store);
    throw error;
  }
}

export function closeStore(store: ObjectStore): void {
  if (store instanceof S3Store) store.client.destroy();
}
