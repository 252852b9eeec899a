/**
 * The archive on S3, against a real S3-compatible HTTP server (s3rver on
 * 127.0.0.1, an ephemeral port). s3rver ignores Object Lock and
 * If-None-Match, so the lock parameters are checked as they leave the client,
 * and "never rewrite" by counting the PUTs of a second export.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { GetObjectLockConfigurationCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { MAX_ARCHIVE_BATCH_BYTES, MAX_MANIFEST_BYTES } from '../../archive/limits.ts';
import { parseManifest, type Manifest } from '../../archive/manifest.ts';
import { S3Store } from '../../infra/adapters/objectStores/s3Store.ts';
import { checkTarget } from '../../infra/entrypoints/cli/export.ts';
import { loadConfig } from '../../infra/wiring/config.ts';
import { runDemoWorkload } from '../../commands/demo/demoWorkload.ts';
import { databaseReader } from '../../infra/adapters/sql/databaseReader.ts';
import { replay } from '../../projections/replay/replay.ts';
import { sqlReplayTarget } from '../../infra/adapters/sql/replayTarget.ts';
import { projectionDigests } from '../../projections/projections.ts';
import { verifyArchive } from '../../archive/archiveVerify.ts';
import { inProcessChecker } from '../../verifier/inProcessChecker.ts';
import { archiveReader, exportTo, SERVICE, startS3 } from '../helpers/archive.ts';
import { testApp } from '../helpers/app.ts';
import { ENGINES, openTestDatabase } from '../helpers/databases.ts';

const quiet = (): void => undefined;

interface Sent {
  method: string;
  path: string;
  headers: Record<string, string>;
}

/** Records every request as it is sent (after signing): what the S3 server receives. */
function recordRequests(client: S3Client): Sent[] {
  const sent: Sent[] = [];
  client.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { method: string; path: string; headers: Record<string, string> };
      sent.push({ method: request.method, path: request.path, headers: { ...request.headers } });
      return next(args);
    },
    { step: 'finalizeRequest', name: 'recordRequests', priority: 'low' },
  );
  return sent;
}

test('export to S3: objects carry Object Lock, Content-MD5, a SHA-256 checksum, If-None-Match and the runbook metadata; what is read back is what was written; a second export writes nothing; the archive verifies and restores into fresh PostgreSQL and PGlite with the live digests', async (t) => {
  const app = await testApp(t, 'postgres');
  await runDemoWorkload(app.deps, 3, quiet);
  const s3 = await startS3(t);
  const sent = recordRequests(s3.client);
  const report = await exportTo(app.runtime, s3.store, { lockMode: 'GOVERNANCE', retentionDays: 30 });
  t.true(report.ok, JSON.stringify(report.finding));
  const batches = report.chains[0]!.batches;
  t.true(batches.length >= 3);

  const puts = sent.filter((request) => request.method === 'PUT');
  t.is(puts.length, batches.length * 2, 'one object and one manifest per batch');
  for (const put of puts) {
    const headers = put.headers;
    t.is(headers['x-amz-object-lock-mode'], 'GOVERNANCE');
    t.is(headers['if-none-match'], '*');
    t.truthy(headers['content-md5']);
    t.truthy(headers['x-amz-checksum-sha256']);
    t.like(headers, {
      'x-amz-meta-service': SERVICE,
      'x-amz-meta-env': 'test',
      'x-amz-meta-version': '0.1.0',
      'x-amz-meta-pii_included': 'false',
      'x-amz-meta-pii_policy_version': 'pii-2026-01',
    });
    const exportTs = Date.parse(headers['x-amz-meta-export_ts']!);
    t.is(Date.parse(headers['x-amz-object-lock-retain-until-date']!), exportTs + 30 * 86_400_000);
  }

  for (const batch of batches) {
    const object = (await s3.store.get(batch.key, MAX_ARCHIVE_BATCH_BYTES))!;
    const manifest = parseManifest(
      (await s3.store.get(batch.key.replace('.jsonl.gz', '.manifest.json'), MAX_MANIFEST_BYTES))!,
    ) as Manifest;
    t.is(createHash('sha256').update(object).digest('hex'), manifest.object_sha256);
    const put = puts.find((request) => request.path.endsWith(batch.key))!;
    t.is(
      put.headers['content-md5'],
      createHash('md5').update(object).digest('base64'),
      'the bytes read back are the bytes sent',
    );
    const stored = await app.runtime.store.readChainText('main', { fromSeq: batch.fromSeq, toSeq: batch.toSeq });
    t.is(gunzipSync(object).toString('utf8'), `${stored.join('\n')}\n`);
  }

  sent.length = 0;
  const again = await exportTo(app.runtime, s3.store);
  t.true(again.ok);
  t.deepEqual(again.chains[0]!.batches, []);
  t.deepEqual(
    sent.filter((request) => request.method === 'PUT'),
    [],
    'nothing is written again',
  );

  const verified = await verifyArchive(
    await archiveReader(s3.store, app.runtime.registry),
    inProcessChecker(app.runtime.registry),
    { database: databaseReader(app.test.db) },
  );
  t.true(verified.ok, JSON.stringify(verified.finding));
  for (const engine of ENGINES) {
    const fresh = await openTestDatabase(engine);
    t.teardown(() => fresh.drop());
    const restored = await replay({
      target: sqlReplayTarget(fresh.db),
      source: {
        reader: await archiveReader(s3.store, app.runtime.registry),
        digests: () => projectionDigests(app.test.db),
      },
      checker: inProcessChecker(app.runtime.registry),
      compare: true,
    });
    t.true(restored.ok, `${engine}: ${JSON.stringify(restored.finding ?? restored.differences)}`);
    t.deepEqual(await projectionDigests(fresh.db), await projectionDigests(app.test.db), engine);
  }
});

test('an S3 prefix roots the archive: keys are <prefix>/<service>/<date>/…, and a flipped byte in an object fails verification at its batch', async (t) => {
  const app = await testApp(t, 'pglite');
  await runDemoWorkload(app.deps, 2, quiet);
  const s3 = await startS3(t, 'exports/chainbook');
  t.true((await exportTo(app.runtime, s3.store)).ok);
  const keys: string[] = [];
  const root = new S3Store(s3.client, { bucket: s3.bucket, prefix: '' });
  for await (const page of root.list('')) keys.push(...page.keys);
  t.true(keys.length > 0 && keys.every((key) => key.startsWith(`exports/chainbook/${SERVICE}/`)), keys.join());
  const victim = keys.find((key) => key.endsWith('.jsonl.gz'))!;
  const bytes = Buffer.from((await root.get(victim, MAX_ARCHIVE_BATCH_BYTES))!);
  bytes.writeUInt8(bytes[20]! ^ 0x80, 20);
  // s3rver lets a key be overwritten (real S3 with Object Lock keeps the locked version): the tamperer's view.
  await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: victim, Body: bytes }));
  const report = await verifyArchive(
    await archiveReader(s3.store, app.runtime.registry),
    inProcessChecker(app.runtime.registry),
  );
  t.like(report.finding, {
    chain: 'main',
    seq: 1,
    reason: 'batch-hash-mismatch',
    batch: victim.slice('exports/chainbook/'.length),
  });
});

test('the Object Lock check: enabled only when the bucket says Enabled; a server without the API (s3rver) or a bucket without the lock is reported', async (t) => {
  const s3 = await startS3(t);
  const onServer = await s3.store.objectLockEnabled();
  t.false(onServer.enabled);
  t.regex((onServer as { reason: string }).reason, /cannot read the Object Lock configuration/);
  const mocked = mockClient(S3Client);
  t.teardown(() => mocked.restore());
  const client = new S3Client({ region: 'us-east-1' });
  const store = new S3Store(client, { bucket: 'audit', prefix: '' });
  mocked.on(GetObjectLockConfigurationCommand).resolves({ ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled' } });
  t.deepEqual(await store.objectLockEnabled(), { enabled: true });
  mocked.on(GetObjectLockConfigurationCommand).resolves({});
  t.like(await store.objectLockEnabled(), { enabled: false, reason: 'bucket audit does not have Object Lock enabled' });
});

test('export refuses to run in production against a bucket without Object Lock, and only warns elsewhere', async (t) => {
  const s3 = await startS3(t);
  const production = loadConfig({
    NODE_ENV: 'production',
    // Production's delivery settings (test/infra/wiring/dataKeysConfig.unit.test.ts); not what this test is about.
    DELIVERY_S3_BUCKET: 'deliveries',
    DELIVERY_WRAPPING_KEY: Buffer.alloc(32, 7).toString('base64'),
    SIGNING_BACKEND: 'proxy',
    SIGNING_PROXY_URL: 'https://signer.invalid',
    SIGNING_PROXY_API_KEY: 'k',
    SIGNING_KID: 'k',
  });
  const error = await t.throwsAsync(checkTarget(s3.store, production));
  t.regex(
    error.message,
    /refusing to export in production: cannot read the Object Lock configuration of bucket chainbook-audit-archive-test/,
  );
  await t.notThrowsAsync(checkTarget(s3.store, loadConfig({})));
});
