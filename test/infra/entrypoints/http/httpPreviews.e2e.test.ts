/**
 * Previews over HTTP, with the real sandbox (docs/PREVIEWS.md): a buyer previews a listed item and reads
 * the outcome, output and log; the run is in the chain (preview.started, then preview.exited or
 * preview.expired); another buyer gets 404; two runs of the same seed give the same output SHA-256; a
 * hostile archive, a manifest without a preview and limits above the maximum are refused with nothing
 * appended; a full pool answers 429 with Retry-After; with the signer down nothing runs, and an outcome
 * that could not be written is written once the signer is back, counted in audit_write_failures_total.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { Signer } from '../../../../chain/signer.ts';
import { metricsRegistry } from '../../../../infra/adapters/metrics.ts';
import { ENGINES } from '../../../helpers/databases.ts';
import { ACTORS, listedProduct, testServer, type TestServer } from '../../../helpers/http.ts';
import { productFor } from '../../../helpers/fixtures.ts';
import { scriptArtifact, tarGzOf } from '../../../helpers/previewArtifacts.ts';
import { until } from '../../../helpers/sandboxProcesses.ts';

const SCRIPT = `#!/bin/sh
echo "preview of $1 with seed $PREVIEW_SEED"
echo "a note on stderr" >&2
`;

let poolCount = 0;
function poolEnv(t: { teardown(fn: () => Promise<void>): void }, overrides: Record<string, unknown> = {}) {
  poolCount += 1;
  const workspace = join(tmpdir(), `preview-http-${process.pid}-${poolCount}`);
  t.teardown(() => rm(workspace, { recursive: true, force: true }));
  const config = { size: 1, queueLength: 0, ttlSeconds: 5, workspace, uidBase: 884_000 + poolCount * 10, ...overrides };
  return { PREVIEW_SANDBOX_POOL_CONFIG: JSON.stringify(config) };
}

function product(
  artifact: Buffer,
  preview: unknown = { entryPoint: 'run', args: ['terrain'], limits: { cpuTimeSeconds: 2 } },
) {
  return {
    ...productFor(ACTORS.publisher),
    artifactSha256: createHash('sha256').update(artifact).digest('hex'),
    sizeBytes: artifact.length,
    ...(preview === null ? {} : { preview }),
  };
}

async function finished(server: TestServer, previewId: string) {
  await server.app.previews.settled();
  return server.request('GET', `/previews/${previewId}`, { as: 'buyer' });
}

async function metric(name: string): Promise<number> {
  const values = (await metricsRegistry.getSingleMetric(name)?.get())?.values ?? [];
  return values.reduce((sum, value) => sum + value.value, 0);
}

for (const engine of ENGINES) {
  test(`${engine}: a buyer previews a listed item: preview.started then preview.exited in the chain, output and log for it alone, the same seed the same hash`, async (t) => {
    const server = await testServer(t, { engine, env: poolEnv(t) });
    const artifact = scriptArtifact(SCRIPT);
    const { listingId } = await listedProduct(server, product(artifact), artifact);
    const answer = await server.request('POST', `/listings/${listingId}/previews`, {
      as: 'buyer',
      body: { seed: 'fixed' },
    });
    t.is(answer.status, 200, answer.text);
    t.is(answer.body.status, 'running');
    const previewId = answer.body.previewId as string;
    t.deepEqual(
      answer.body.events.map((event: { type: string }) => event.type),
      ['preview.started'],
    );

    const read = await finished(server, previewId);
    t.is(read.status, 200, read.text);
    t.is(read.body.status, 'exited');
    t.is(read.body.exitCode, 0);
    t.false(read.body.truncated);
    t.is(Buffer.from(read.body.output, 'base64').toString(), 'preview of terrain with seed fixed\n');
    t.is(Buffer.from(read.body.log, 'base64').toString(), 'a note on stderr\n');
    t.is(read.body.outputSha256, createHash('sha256').update('preview of terrain with seed fixed\n').digest('hex'));
    t.is(read.body.limits.cpuTimeSeconds, 2);
    t.is(read.body.artifactSha256, createHash('sha256').update(artifact).digest('hex'));

    const chain = await server.app.runtime.store.readStream(`preview-${previewId}`);
    t.deepEqual(
      chain.map((stored) => stored.record.type),
      ['preview.started', 'preview.exited'],
    );
    t.is(chain[1]!.record.actor.role, 'Service');
    t.truthy(chain[0]!.record.sig, 'each record is signed');

    const retried = await server.request('POST', `/listings/${listingId}/previews`, {
      as: 'thirdBuyer',
      body: { seed: 'fixed' },
      headers: { 'idempotency-key': 'preview-retry-1' },
    });
    const before = await server.snapshot();
    const replayed = await server.request('POST', `/listings/${listingId}/previews`, {
      as: 'thirdBuyer',
      body: { seed: 'fixed' },
      headers: { 'idempotency-key': 'preview-retry-1' },
    });
    t.is(replayed.headers.get('idempotent-replayed'), 'true');
    t.is(replayed.body.previewId, retried.body.previewId, 'a retry answers the first preview and runs nothing again');
    await server.app.previews.settled();
    const afterRetry = await server.snapshot();
    t.is(afterRetry.head.seq, before.head.seq + 1, 'only the first request’s preview.exited was appended since');

    t.is((await server.request('GET', `/previews/${previewId}`, { as: 'otherBuyer' })).status, 404);
    t.is((await server.request('GET', `/previews/${previewId}`, { as: 'publisher' })).status, 403);

    const again = await server.request('POST', `/listings/${listingId}/previews`, {
      as: 'otherBuyer',
      body: { seed: 'fixed' },
    });
    await server.app.previews.settled();
    const other = await server.request('GET', `/previews/${again.body.previewId as string}`, { as: 'otherBuyer' });
    t.is(
      other.body.outputSha256,
      read.body.outputSha256,
      'the same artifact, arguments and seed: the same output hash',
    );

    // Output and log are kept for logRetentionSeconds (default 7 days), then swept; the chain keeps the hash.
    t.deepEqual(await server.app.previews.sweep(Date.now()), []);
    const swept = await server.app.previews.sweep(Date.now() + 8 * 86_400_000);
    t.true(
      swept.includes(`previews/${previewId}/output`) && swept.includes(`previews/${previewId}/log`),
      String(swept),
    );
    const gone = await server.request('GET', `/previews/${previewId}`, { as: 'buyer' });
    t.is(gone.body.output, null);
    t.is(gone.body.outputSha256, read.body.outputSha256);
  });
}

test('a run past its TTL is preview.expired; an output flood is recorded as truncated; a memory hog as killed by its memory limit', async (t) => {
  const server = await testServer(t, { env: poolEnv(t, { ttlSeconds: 1, maxLimits: { outputBytes: 1000 } }) });
  const sleeper = scriptArtifact('#!/bin/sh\nsleep 30\n');
  const { listingId } = await listedProduct(
    server,
    product(sleeper, { entryPoint: 'run', args: [], limits: {} }),
    sleeper,
  );
  const expired = await server.request('POST', `/listings/${listingId}/previews`, { as: 'buyer' });
  t.is(expired.status, 200, expired.text);
  const read = await finished(server, expired.body.previewId as string);
  t.is(read.body.status, 'expired');
  t.true(read.body.killed);
  const types = (await server.app.runtime.store.readStream(`preview-${expired.body.previewId as string}`)).map(
    (stored) => stored.record.type,
  );
  t.deepEqual(types, ['preview.started', 'preview.expired']);

  const flood = scriptArtifact('#!/bin/sh\nyes flood\n');
  const second = await listedProduct(
    server,
    { ...product(flood, { entryPoint: 'run', args: [], limits: {} }), name: 'Flood' },
    flood,
  );
  const cut = await server.request('POST', `/listings/${second.listingId}/previews`, { as: 'buyer' });
  const flooded = await finished(server, cut.body.previewId as string);
  t.is(flooded.body.status, 'exited');
  t.true(flooded.body.truncated);
  t.is(flooded.body.outputSizeBytes, 1000);

  const hog = scriptArtifact(
    '#!/usr/bin/python3\nheld = []\nwhile True:\n    held.append(b"x" * (16 * 1024 * 1024))\n',
  );
  const third = await listedProduct(
    server,
    { ...product(hog, { entryPoint: 'run', args: [], limits: { memoryBytes: 96 * 1024 * 1024 } }), name: 'Hog' },
    hog,
  );
  const hogged = await server.request('POST', `/listings/${third.listingId}/previews`, { as: 'buyer' });
  const killedHog = await finished(server, hogged.body.previewId as string);
  t.is(killedHog.body.status, 'exited');
  t.not(killedHog.body.exitCode, 0);
  const cgroups = process.getuid?.() === 0 && existsSync('/sys/fs/cgroup/memory/memory.limit_in_bytes');
  t.is(killedHog.body.memoryExceeded, cgroups, 'recorded as killed by its memory cgroup where there is one');
});

test('a hostile archive, no preview declared, limits above the maximum: refused, nothing appended', async (t) => {
  const server = await testServer(t, { env: poolEnv(t) });
  const hostile = tarGzOf([
    { path: 'run', content: '#!/bin/sh\n', mode: 0o755 },
    { path: '../escape', content: 'x' },
  ]);
  const cases = [
    { artifact: hostile, preview: { entryPoint: 'run', args: [], limits: {} }, code: 'PREVIEW_ARCHIVE_REFUSED' },
    { artifact: scriptArtifact(SCRIPT), preview: null, code: 'PREVIEW_NOT_DECLARED' },
    {
      artifact: scriptArtifact(SCRIPT),
      preview: { entryPoint: 'run', args: [], limits: { memoryBytes: 64 * 1024 ** 3 } },
      code: 'PREVIEW_LIMITS_ABOVE_MAXIMUM',
    },
  ];
  for (const [index, { artifact, preview, code }] of cases.entries()) {
    const { listingId } = await listedProduct(
      server,
      { ...product(artifact, preview), name: `Item ${index}` },
      artifact,
    );
    const before = await server.snapshot();
    const refused = await server.request('POST', `/listings/${listingId}/previews`, { as: 'buyer' });
    t.is(refused.status, 422, refused.text);
    t.is(refused.body.error.code, code);
    t.deepEqual(await server.snapshot(), before, `${code}: nothing appended`);
  }
  const before = await server.snapshot();
  for (const body of [{ seed: '' }, { seed: 'a b' }, { extra: 1 }, { previewId: '../x' }, []]) {
    const bad = await server.request('POST', `/listings/l-none/previews`, { as: 'buyer', body });
    t.is(bad.status, 400, JSON.stringify(body));
  }
  t.is((await server.request('POST', `/listings/l-none/previews`, { as: 'buyer' })).status, 404);
  t.is((await server.request('GET', `/previews/none`, { as: 'buyer' })).status, 404);
  t.deepEqual(await server.snapshot(), before);
});

test('a full pool answers 429 PREVIEW_POOL_FULL with Retry-After, and records nothing for it', async (t) => {
  const server = await testServer(t, { env: poolEnv(t, { retryAfterSeconds: 9 }) });
  const slow = scriptArtifact('#!/bin/sh\nsleep 1\n');
  const { listingId } = await listedProduct(server, product(slow, { entryPoint: 'run', args: [], limits: {} }), slow);
  const first = await server.request('POST', `/listings/${listingId}/previews`, { as: 'buyer' });
  t.is(first.status, 200, first.text);
  const before = await server.snapshot();
  const full = await server.request('POST', `/listings/${listingId}/previews`, { as: 'otherBuyer' });
  t.is(full.status, 429, full.text);
  t.is(full.body.error.code, 'PREVIEW_POOL_FULL');
  t.is(full.headers.get('retry-after'), '9');
  t.deepEqual(await server.snapshot(), before);
  await server.app.previews.settled();
});

test('requests arriving together take one place each: with one slot and no queue, one runs and the other is refused before anything is recorded', async (t) => {
  const server = await testServer(t, { env: poolEnv(t) });
  const slow = scriptArtifact('#!/bin/sh\nsleep 1\n');
  const { listingId } = await listedProduct(server, product(slow, { entryPoint: 'run', args: [], limits: {} }), slow);
  await server.app.previews.pool();
  const before = await server.snapshot();
  const answers = await Promise.all(
    ['buyer', 'otherBuyer', 'thirdBuyer'].map((as) =>
      server.request('POST', `/listings/${listingId}/previews`, { as: as as 'buyer' }),
    ),
  );
  t.deepEqual(
    answers.map((answer) => answer.status).sort(),
    [200, 429, 429],
    answers.map((answer) => answer.text).join('\n'),
  );
  const after = await server.snapshot();
  t.is(after.head.seq, before.head.seq + 1, 'one preview.started alone');
  await server.app.previews.settled();
});

test('a buyer has at most maxPerBuyer previews going on: past it 429 PREVIEW_BUYER_LIMIT, nothing recorded, while another buyer is served', async (t) => {
  const server = await testServer(t, { env: poolEnv(t, { size: 2, maxPerBuyer: 1, retryAfterSeconds: 4 }) });
  const slow = scriptArtifact('#!/bin/sh\nsleep 1\n');
  const { listingId } = await listedProduct(server, product(slow, { entryPoint: 'run', args: [], limits: {} }), slow);
  const first = await server.request('POST', `/listings/${listingId}/previews`, { as: 'buyer' });
  t.is(first.status, 200, first.text);
  const before = await server.snapshot();
  const second = await server.request('POST', `/listings/${listingId}/previews`, { as: 'buyer' });
  t.is(second.status, 429, second.text);
  t.is(second.body.error.code, 'PREVIEW_BUYER_LIMIT');
  t.is(second.headers.get('retry-after'), '4');
  t.deepEqual(await server.snapshot(), before);
  const other = await server.request('POST', `/listings/${listingId}/previews`, { as: 'otherBuyer' });
  t.is(other.status, 200, other.text);
  await server.app.previews.settled();
  const again = await server.request('POST', `/listings/${listingId}/previews`, { as: 'buyer' });
  t.is(again.status, 200, 'the buyer’s place is given back when its run is over');
  await server.app.previews.settled();
});

test('signer down: no run starts; an outcome that could not be written is written when the signer is back, and counted', async (t) => {
  const control = { failing: false };
  const wrap = (signer: Signer): Signer => {
    const gate = async (): Promise<void> => {
      if (control.failing) throw new Error('KMS endpoint unreachable (simulated)');
    };
    return {
      kid: signer.kid,
      algorithm: signer.algorithm,
      sign: async (hash, preimage) => (await gate(), signer.sign(hash, preimage)),
      signBatch: async (requests) => (await gate(), signer.signBatch(requests)),
      signMessage: async (message) => (await gate(), signer.signMessage(message)),
      close: () => signer.close(),
    };
  };
  const server = await testServer(t, { env: poolEnv(t), wrapSigner: wrap });
  const artifact = scriptArtifact('#!/bin/sh\nsleep 0.5\necho done\n');
  const { listingId } = await listedProduct(
    server,
    product(artifact, { entryPoint: 'run', args: [], limits: {} }),
    artifact,
  );

  control.failing = true;
  const before = await server.snapshot();
  const refused = await server.request('POST', `/listings/${listingId}/previews`, { as: 'buyer' });
  t.is(refused.status, 503, refused.text);
  t.is(refused.body.error.code, 'SIGNING_UNAVAILABLE');
  t.is((await server.app.previews.pool()).runningCount, 0, 'no run started');
  t.deepEqual(await server.snapshot(), before);

  control.failing = false;
  const started = await server.request('POST', `/listings/${listingId}/previews`, { as: 'buyer' });
  t.is(started.status, 200, started.text);
  const failuresBefore = await metric('audit_write_failures_total');
  control.failing = true; // The run finishes while the chain cannot be written.
  await until(async () => (await metric('audit_write_failures_total')) > failuresBefore);
  const running = await server.request('GET', `/previews/${started.body.previewId as string}`, { as: 'buyer' });
  t.is(running.body.status, 'running');
  control.failing = false;
  const read = await finished(server, started.body.previewId as string);
  t.is(read.body.status, 'exited');
  t.is(Buffer.from(read.body.output, 'base64').toString(), 'done\n');
});

test('runs a stopped process left unrecorded are recorded later, once no queued run could still be waiting: the outcome it kept, or killed with it; a kept outcome that cannot be read does not stop the others', async (t) => {
  // One slot and two queue places: a run may wait two runs' TTL (and their unpacking) before its own.
  const server = await testServer(t, { env: poolEnv(t, { ttlSeconds: 2, queueLength: 2 }) });
  const artifact = scriptArtifact(SCRIPT);
  const { listingId, manifestId } = await listedProduct(server, product(artifact), artifact);
  const started = (previewId: string) => ({
    stream: `preview-${previewId}`,
    type: 'preview.started',
    expectedVersion: 0,
    actor: ACTORS.buyer,
    data: {
      previewId,
      listingId,
      manifestId,
      buyerId: ACTORS.buyer.id,
      artifactSha256: createHash('sha256').update(artifact).digest('hex'),
      entryPoint: 'run',
      args: [],
      seed: 's',
      limits: {
        cpuTimeSeconds: 1,
        memoryBytes: 64 * 1024 * 1024,
        processCount: 8,
        openFileCount: 32,
        outputBytes: 100,
        wallClockMs: 2000,
      },
      runner: 'bubblewrap@stopped-host',
    },
  });
  // Two runs whose process stopped: one after keeping its outcome, one before.
  await server.app.runtime.store.append(server.app.deps.chain, [
    started('pv-bad'),
    started('pv-kept'),
    started('pv-lost'),
  ]);
  await server.app.deps.artifacts.store.put(
    'previews/pv-bad/outcome',
    (async function* () {
      yield Buffer.from('{"type": "preview.exited", "data": {"previewId": "pv-bad"}');
    })(),
  );
  const kept = {
    type: 'preview.exited',
    data: {
      previewId: 'pv-kept',
      exitCode: 3,
      signal: null,
      durationMs: 12,
      outputSha256: 'e'.repeat(64),
      outputSizeBytes: 5,
      truncated: false,
      killed: false,
      memoryExceeded: false,
    },
  };
  await server.app.deps.artifacts.store.put(
    'previews/pv-kept/outcome',
    (async function* () {
      yield Buffer.from(JSON.stringify(kept));
    })(),
  );
  t.deepEqual(await server.app.previews.recover(server.app.deps, Date.now()), [], 'not before the TTL and grace');
  const queuedCouldWait = Date.now() + 2000 + 61_000;
  t.deepEqual(await server.app.previews.recover(server.app.deps, queuedCouldWait), [], 'a queued run may still wait');
  const later = Date.now() + 3 * (2000 + 60_000) + 1000;
  t.deepEqual(await server.app.previews.recover(server.app.deps, later), ['pv-bad', 'pv-kept', 'pv-lost']);
  t.true((await server.request('GET', '/previews/pv-bad', { as: 'buyer' })).body.killed);
  t.deepEqual(await server.app.previews.recover(server.app.deps, later), [], 'each once');
  const keptRead = await server.request('GET', '/previews/pv-kept', { as: 'buyer' });
  t.is(keptRead.body.status, 'exited');
  t.is(keptRead.body.exitCode, 3);
  const lostRead = await server.request('GET', '/previews/pv-lost', { as: 'buyer' });
  t.is(lostRead.body.status, 'exited');
  t.true(lostRead.body.killed);
  t.is(lostRead.body.exitCode, null);
  const types = (await server.app.runtime.store.readStream('preview-pv-lost')).map((stored) => stored.record.type);
  t.deepEqual(types, ['preview.started', 'preview.exited']);
});
