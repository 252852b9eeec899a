/** Exports, archive readers and an S3-compatible server (s3rver on 127.0.0.1) for the archive tests. */
import { treeRootReader } from '../../infra/adapters/sql/treeLog.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ExecutionContext } from 'ava';
import S3rver from 's3rver';
import { readIndex } from '../../archive/archiveIndex.ts';
import { ArchiveReader } from '../../archive/archiveReader.ts';
import { appendExported } from '../../archive/exportedEvent.ts';
import { exportArchive, type ExportReport, type ExportSettings } from '../../archive/exporter.ts';
import type { ObjectStore } from '../../archive/objectStore.ts';
import type { SignerRegistry } from '../../chain/registry.ts';
import { zlibCompression } from '../../infra/adapters/objectStores/gzip.ts';
import { S3Store, s3Client } from '../../infra/adapters/objectStores/s3Store.ts';
import { databaseReader } from '../../infra/adapters/sql/databaseReader.ts';
import type { Runtime } from '../../infra/wiring/runtime.ts';
import { inProcessChecker } from '../../verifier/inProcessChecker.ts';

export const SERVICE = 'marketplace';

export function exportSettings(overrides: Partial<ExportSettings> = {}): ExportSettings {
  return {
    service: SERVICE,
    env: 'test',
    version: '0.1.0',
    piiIncluded: false,
    piiPolicyVersion: 'pii-2026-01',
    lockMode: 'COMPLIANCE',
    retentionDays: 2557,
    batchRecords: 10,
    batchBytes: 1024 * 1024,
    ...overrides,
  };
}

/** One export run of the runtime's chain into `store`, as `chainbook export` does it. */
export async function exportTo(
  runtime: Runtime,
  store: ObjectStore,
  overrides: Partial<ExportSettings> = {},
  checks: { signatures?: boolean } = {},
): Promise<ExportReport> {
  const checker = inProcessChecker(runtime.registry, checks);
  try {
    return await exportArchive(
      {
        store,
        compression: zlibCompression,
        database: databaseReader(runtime.db),
        checker,
        registry: runtime.registry,
        signer: runtime.signer,
        nowMs: Date.now,
        recordExport: appendExported(runtime.store),
        treeRoot: treeRootReader(runtime.db),
      },
      exportSettings(overrides),
    );
  } finally {
    await checker.close();
  }
}

export async function archiveReader(
  store: ObjectStore,
  registry: SignerRegistry,
  service = SERVICE,
): Promise<ArchiveReader> {
  return new ArchiveReader({ store, compression: zlibCompression, registry, index: await readIndex(store, service) });
}

export interface TestS3 {
  endpoint: string;
  bucket: string;
  client: S3Client;
  store: S3Store;
  directory: string;
}

/** s3rver on an ephemeral loopback port with one bucket, closed after the test. */
export async function startS3(t: ExecutionContext, prefix = 'audit'): Promise<TestS3> {
  const directory = mkdtempSync(join(tmpdir(), 'chainbook-s3rver-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', directory, silent: true });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const bucket = 'chainbook-audit-archive-test';
  const client = s3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  t.teardown(async () => {
    client.destroy();
    await server.close();
    rmSync(directory, { recursive: true, force: true });
  });
  return { endpoint, bucket, client, store: new S3Store(client, { bucket, prefix }), directory };
}
