import { createHash, randomBytes } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import type { ListableBlobStore } from '../../../../commands/blobStore.ts';
import { ENGINES } from '../../../helpers/databases.ts';
import { PRODUCT, testServer, uploadArtifactOver, type TestServer } from '../../../helpers/http.ts';
import { startS3 } from '../../../helpers/archive.ts';

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

async function submitted(server: TestServer, artifact: Uint8Array, as: 'publisher' | 'otherPublisher' = 'publisher') {
  const product: Record<string, unknown> = { ...PRODUCT, artifactSha256: sha256(artifact), sizeBytes: artifact.length };
  if (as === 'otherPublisher') product['royaltySplits'] = [{ partyId: 'publisher-2', basisPoints: 10_000 }];
  const response = await server.request('POST', '/manifests', { as, body: product });
  if (response.status !== 200) throw new Error(response.text);
  return response.body.manifestId as string;
}

async function bytesOf(store: ListableBlobStore, key: string): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of (await store.get(key))!) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function refusesAll(t: ExecutionContext, server: TestServer): Promise<void> {
  const store = server.app.deps.artifacts.store as ListableBlobStore;
  const artifact = randomBytes(300_000);
  const manifestId = await submitted(server, artifact);
  const other = await submitted(server, randomBytes(10), 'otherPublisher');
  const before = await server.snapshot();
  const keysBefore = await store.keys('artifacts/');
  const wrongBytes = Buffer.from(artifact);
  wrongBytes[1000]! ^= 1;
  const cases: [string, () => Promise<{ status: number; body: { error: { code: string } } }>, number, string][] = [
    [
      'approval before the upload',
      () => server.request('POST', `/manifests/${manifestId}/approve`, { as: 'operator' }),
      409,
      'ARTIFACT_NOT_STORED',
    ],
    ['the wrong hash', () => uploadArtifactOver(server, manifestId, wrongBytes), 422, 'ARTIFACT_HASH_MISMATCH'],
    ['too short', () => uploadArtifactOver(server, manifestId, artifact.subarray(1)), 422, 'ARTIFACT_SIZE_MISMATCH'],
    [
      'too long',
      () => uploadArtifactOver(server, manifestId, Buffer.concat([artifact, Buffer.from('x')])),
      422,
      'ARTIFACT_SIZE_MISMATCH',
    ],
    ["another publisher's manifest", () => uploadArtifactOver(server, other, artifact), 403, 'ARTIFACT_NOT_PUBLISHER'],
    ['a buyer', () => uploadArtifactOver(server, manifestId, artifact, 'buyer'), 403, 'FORBIDDEN_ROLE'],
    ['no manifest', () => uploadArtifactOver(server, 'no-such-manifest', artifact), 404, 'MANIFEST_NOT_FOUND'],
    [
      'JSON instead of bytes',
      () => server.request('POST', `/manifests/${manifestId}/artifact`, { as: 'publisher', body: { bytes: 'x' } }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    ],
    [
      'a chunked body that runs past the size',
      () =>
        server.request('POST', `/manifests/${manifestId}/artifact`, {
          as: 'publisher',
          stream: (async function* () {
            yield artifact;
            yield randomBytes(70_000);
          })(),
          headers: { 'content-type': 'application/octet-stream' },
        }),
      422,
      'ARTIFACT_SIZE_MISMATCH',
    ],
  ];
  for (const [what, send, status, code] of cases) {
    const response = await send();
    t.is(response.status, status, what);
    t.is(response.body?.error?.code, code, what);
  }
  t.deepEqual(await server.snapshot(), before, 'nothing appended');
  t.deepEqual(await store.keys('artifacts/'), keysBefore, 'no object, partial or whole, left behind');

  const stored = await uploadArtifactOver(server, manifestId, artifact);
  t.is(stored.status, 200, JSON.stringify(stored.body));
  t.is(stored.body.events[0].type, 'manifest.artifact_stored');
  const key = stored.body.objectKey as string;
  t.true((await bytesOf(store, key)).equals(artifact), 'the stored bytes are the upload');
  const manifest = await server.request('GET', `/manifests/${manifestId}`, { as: 'publisher' });
  t.is(manifest.body.artifactObjectKey, key);
  const afterUpload = await server.snapshot();
  const twice = await uploadArtifactOver(server, manifestId, wrongBytes);
  t.like(twice, { status: 409, body: { error: { code: 'ARTIFACT_ALREADY_STORED' } } });
  t.is((await server.request('POST', `/manifests/${manifestId}/approve`, { as: 'operator' })).status, 200);
  const approvedSnapshot = await server.snapshot();
  const after = await uploadArtifactOver(server, manifestId, artifact);
  t.like(after, { status: 409, body: { error: { code: 'MANIFEST_NOT_PENDING' } } });
  t.notDeepEqual(approvedSnapshot, afterUpload);
  t.deepEqual(await server.snapshot(), approvedSnapshot, 'refusals after the upload append nothing');
  t.deepEqual(await store.keys('artifacts/'), [...keysBefore, key].sort(), 'one object: the recorded upload');
}

for (const engine of ENGINES) {
  test(`${engine}, folder store: an artifact upload is checked against the manifest, recorded, and every bad upload refused leaving nothing`, async (t) => {
    const server = await testServer(t, { engine });
    await refusesAll(t, server);
  });
}

test('postgres, S3 store: an artifact upload is checked against the manifest, recorded, and every bad upload refused leaving nothing', async (t) => {
  const s3 = await startS3(t);
  const server = await testServer(t, {
    env: {
      S3_BUCKET: s3.bucket,
      S3_ENDPOINT: s3.endpoint,
      S3_FORCE_PATH_STYLE: 'true',
      S3_ACCESS_KEY_ID: 'S3RVER',
      S3_SECRET_ACCESS_KEY: 'S3RVER',
    },
  });
  t.regex(server.app.deps.artifacts.store.description, /^s3:\/\//);
  await refusesAll(t, server);
});

test('an artifact larger than ARTIFACT_MAX_BYTES is refused with 413 before its bytes are read, appending nothing', async (t) => {
  const server = await testServer(t, { env: { ARTIFACT_MAX_BYTES: '1000' } });
  const artifact = randomBytes(1001);
  const manifestId = await submitted(server, artifact);
  const before = await server.snapshot();
  const response = await uploadArtifactOver(server, manifestId, artifact);
  t.like(response, { status: 413, body: { error: { code: 'ARTIFACT_TOO_LARGE', details: { maxBytes: 1000 } } } });
  t.deepEqual(await server.snapshot(), before);
  t.deepEqual(await (server.app.deps.artifacts.store as ListableBlobStore).keys('artifacts/'), []);
});
