import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import test, { type ExecutionContext } from 'ava';
import type { ListableBlobStore } from '../../../../commands/blobStore.ts';
import { FolderBlobStore } from '../../../../infra/adapters/objectStores/folderBlobStore.ts';
import { S3BlobStore } from '../../../../infra/adapters/objectStores/s3BlobStore.ts';
import { startS3 } from '../../../helpers/archive.ts';
import { tempDir } from '../../../helpers/runtime.ts';

async function* chunks(bytes: Buffer, size: number, failAfterBytes = Infinity): AsyncIterable<Uint8Array> {
  for (let offset = 0; offset < bytes.length; offset += size) {
    if (offset >= failAfterBytes) throw new Error('the body failed half-way');
    yield bytes.subarray(offset, offset + size);
  }
}

async function read(store: ListableBlobStore, key: string): Promise<Buffer | undefined> {
  const body = await store.get(key);
  if (!body) return undefined;
  const parts: Uint8Array[] = [];
  for await (const part of body) parts.push(part);
  return Buffer.concat(parts);
}

const stores: [string, (t: ExecutionContext) => Promise<ListableBlobStore>][] = [
  [
    'folder',
    async (t) => {
      const folder = tempDir('blobs');
      t.teardown(() => rmSync(folder, { recursive: true, force: true }));
      return new FolderBlobStore(folder);
    },
  ],
  // Parts of 64 KiB, so a 300 KB object is a multipart upload of 5 parts.
  [
    'S3 (multipart)',
    async (t) => {
      const s3 = await startS3(t);
      return new S3BlobStore(s3.client, { bucket: s3.bucket, prefix: 'blobs' }, 64 * 1024);
    },
  ],
];

for (const [name, open] of stores) {
  test(`${name}: an object streamed in any chunking reads back byte for byte, and is deleted`, async (t) => {
    const store = await open(t);
    const bytes = randomBytes(300_000);
    await store.put('artifacts/m-1/a', chunks(bytes, 7_777));
    await store.put('artifacts/m-1/empty', chunks(Buffer.alloc(0), 1));
    t.true((await read(store, 'artifacts/m-1/a'))!.equals(bytes));
    t.is((await store.head('artifacts/m-1/a'))?.sizeBytes, bytes.length);
    t.is((await read(store, 'artifacts/m-1/empty'))!.length, 0);
    t.deepEqual(await store.keys('artifacts/'), ['artifacts/m-1/a', 'artifacts/m-1/empty']);
    await store.delete('artifacts/m-1/a');
    await store.delete('artifacts/m-1/a');
    t.is(await read(store, 'artifacts/m-1/a'), undefined);
    t.is(await store.head('artifacts/m-1/a'), undefined);
  });

  test(`${name}: a body that fails half-way leaves no object, partial or whole`, async (t) => {
    const store = await open(t);
    const bytes = randomBytes(300_000);
    await t.throwsAsync(store.put('artifacts/m-1/b', chunks(bytes, 10_000, 200_000)), {
      message: 'the body failed half-way',
    });
    t.deepEqual(await store.keys(''), []);
    t.is(await read(store, 'artifacts/m-1/b'), undefined);
  });
}
