/**
 * The preview sandbox pool (infra/adapters/sandbox/previewPool.ts) with real sandboxed runs: runs share
 * the pool up to its size, wait in its bounded queue, and past it are refused at once with
 * PREVIEW_POOL_FULL; a fork bomb in one slot leaves the run in the other slot unharmed; drain (in
 * process, and from outside through the marker) kills the running, refuses the waiting and the new, and
 * resume takes runs again; close kills everything.
 */
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { CodedError } from '../../../../domain/errors.ts';
import {
  checkPrivilege,
  drainPoolFromOutside,
  PreviewPool,
  resumePoolFromOutside,
  type PreviewPoolConfig,
} from '../../../../infra/adapters/sandbox/previewPool.ts';
import type { SandboxLimits } from '../../../../infra/adapters/sandbox/sandboxRunner.ts';
import { metricsRegistry } from '../../../../infra/adapters/metrics.ts';
import { runObserved, until } from '../../../helpers/sandboxProcesses.ts';
import { slotIdConflict } from '../../../../infra/adapters/sandbox/slotUids.ts';
import { scriptArtifact, zipOf } from '../../../helpers/previewArtifacts.ts';

const LIMITS: SandboxLimits = {
  cpuTimeSeconds: 2,
  memoryBytes: 256 * 1024 * 1024,
  processCount: 16,
  openFileCount: 64,
  outputBytes: 64 * 1024,
  wallClockMs: 5000,
};

/** Each pool of this file its own uids, so that concurrent tests never share a slot's uid. */
let poolCount = 0;
function poolConfig(name: string, size: number, queueLength: number): PreviewPoolConfig {
  poolCount += 1;
  return {
    size,
    queueLength,
    maxLimits: LIMITS,
    archive: { maxEntries: 16, maxUnpackedBytes: 1024 * 1024, maxPathBytes: 200, maxPathDepth: 8 },
    workspace: join(tmpdir(), `preview-pool-test-${process.pid}-${name}`),
    uidBase: 882_000 + poolCount * 100,
    retryAfterSeconds: 7,
  };
}

/** A metric's value, summed over its labels (a histogram: its `_count`). */
async function metric(name: string): Promise<number> {
  const values = (await metricsRegistry.getSingleMetric(name)?.get())?.values ?? [];
  const counts = values.filter((value) => {
    const name = (value as { metricName?: string }).metricName;
    return name === undefined || name.endsWith('_count');
  });
  return counts.reduce((sum, value) => sum + value.value, 0);
}

function job(script: string, limits: Partial<SandboxLimits> = {}) {
  return { artifact: scriptArtifact(script), entryPoint: 'run', args: [], seed: 's', limits: { ...LIMITS, ...limits } };
}

async function openPool(t: ExecutionContext, config: PreviewPoolConfig): Promise<PreviewPool> {
  const pool = await PreviewPool.open(config);
  t.teardown(async () => {
    await pool.close();
    await rm(config.workspace, { recursive: true, force: true });
  });
  return pool;
}

test('runs fill the pool, then its queue; one more is refused at once with PREVIEW_POOL_FULL and its Retry-After', async (t) => {
  const pool = await openPool(t, poolConfig('queue', 2, 1));
  const slow = '#!/bin/sh\nsleep 0.6\necho done\n';
  const [sessionsBefore, fullBefore] = [
    await metric('session_duration_histogram'),
    await metric('sandbox_failures_total'),
  ];
  const runs = [pool.submit(job(slow)), pool.submit(job(slow)), pool.submit(job(slow))];
  t.is(pool.runningCount, 2);
  t.is(pool.queuedCount, 1);
  t.is(await metric('session_count'), 2);
  t.is(await metric('preview_queue_length'), 1);
  const refused = t.throws(() => pool.submit(job(slow)));
  t.is((refused as { code?: string }).code, 'PREVIEW_POOL_FULL');
  t.is((refused as { details?: { retryAfterSeconds?: number } }).details?.retryAfterSeconds, 7);
  const results = await Promise.all(runs);
  t.deepEqual(
    results.map((result) => result.output.toString()),
    ['done\n', 'done\n', 'done\n'],
  );
  t.is(pool.runningCount, 0);
  t.is(await metric('session_count'), 0);
  t.is(await metric('session_duration_histogram'), sessionsBefore + 3);
  t.is(await metric('sandbox_failures_total'), fullBefore + 1, 'the refusal is counted (pool-full)');
  t.is((await pool.submit(job(slow))).exitCode, 0, 'the pool takes runs again once it has room');
});

test('a .zip artifact runs as a .tar.gz does', async (t) => {
  const pool = await openPool(t, poolConfig('zip', 1, 0));
  const artifact = zipOf([{ path: 'bin/run', content: '#!/bin/sh\necho "zip $PREVIEW_SEED"\n', mode: 0o100755 }]);
  const result = await pool.submit({ ...job(''), artifact, entryPoint: 'bin/run', seed: 'z1' });
  t.is(result.exitCode, 0, result.log.toString());
  t.is(result.output.toString(), 'zip z1\n');
});

test('a fork bomb in one slot leaves the run in the other slot unharmed', async (t) => {
  const pool = await openPool(t, poolConfig('bomb', 2, 0));
  const bomb = pool.submit(job('#!/bin/sh\nbomb() { bomb | bomb & }\nbomb\nsleep 1\n', { processCount: 8 }));
  const neighbour = pool.submit(job('#!/bin/sh\nfor n in 1 2 3 4 5 6 7 8; do (echo $n) ; done\n'));
  const [, result] = await Promise.all([bomb, neighbour]);
  t.is(result.exitCode, 0, result.log.toString());
  t.is(result.output.toString(), '1\n2\n3\n4\n5\n6\n7\n8\n');
});

test('drain kills the running run, refuses the waiting one and every new one', async (t) => {
  const config = poolConfig('drain', 1, 1);
  const pool = await openPool(t, config);
  const running = pool.submit(job('#!/bin/sh\nsleep 30\n'));
  const waiting = pool.submit(job('#!/bin/sh\necho never\n'));
  await runObserved(config.uidBase, () => pool.runningCount);
  await pool.drain();
  const result = await running;
  t.true(result.killed);
  t.true(result.durationMs < 5000);
  const refusal = await t.throwsAsync(waiting);
  t.is((refusal as { code?: string }).code, 'PREVIEW_POOL_DRAINED');
  t.is((t.throws(() => pool.submit(job('#!/bin/sh\n'))) as { code?: string }).code, 'PREVIEW_POOL_DRAINED');
});

test('drain from outside (the marker and a kill of the pool uids) stops the pool; resume takes runs again', async (t) => {
  const config = poolConfig('outside', 1, 0);
  const pool = await openPool(t, config);
  const running = pool.submit(job('#!/bin/sh\nsleep 30\n'));
  await runObserved(config.uidBase, () => pool.runningCount);
  const killedProcesses = await drainPoolFromOutside(config);
  const result = await running;
  if (process.getuid?.() === 0) t.true(killedProcesses >= 1);
  t.true(result.durationMs < 5000, String(result.durationMs));
  await until(() => pool.isDrained);
  t.is((t.throws(() => pool.submit(job('#!/bin/sh\n'))) as { code?: string }).code, 'PREVIEW_POOL_DRAINED');
  await resumePoolFromOutside(config);
  await until(() => !pool.isDrained);
  t.is((await pool.submit(job('#!/bin/sh\necho back\n'))).output.toString(), 'back\n');
});

test('a pool in a service that is not root is refused unless allowUnprivileged says so', (t) => {
  const error = t.throws(() => checkPrivilege({}, 1000));
  t.true(error instanceof CodedError && error.code === 'PREVIEW_SANDBOX_UNAVAILABLE');
  t.notThrows(() => checkPrivilege({ allowUnprivileged: true }, 1000));
  t.notThrows(() => checkPrivilege({}, 0));
});

test('slot uids the host uses otherwise are refused: a user, a group, a subordinate range, a running process', async (t) => {
  const host = { passwd: 'root:x:0:0::/root:/bin/sh\n', group: 'root:x:0:\n', subuid: '', subgid: '', processUids: [] };
  t.is(slotIdConflict(900_000, 4, host), undefined);
  t.regex(slotIdConflict(900_000, 4, { ...host, passwd: 'app:x:900003:900003::/:/bin/sh\n' }) ?? '', /passwd/u);
  t.regex(slotIdConflict(900_000, 4, { ...host, group: 'app:x:900000:\n' }) ?? '', /group/u);
  t.regex(slotIdConflict(900_000, 4, { ...host, subuid: 'alice:899000:1001\n' }) ?? '', /subuid/u);
  t.is(slotIdConflict(900_000, 4, { ...host, subuid: 'alice:899000:1000\n' }), undefined, 'a range ending just below');
  t.regex(slotIdConflict(900_000, 4, { ...host, subgid: 'alice:900003:65536\n' }) ?? '', /subgid/u);
  t.regex(slotIdConflict(900_000, 4, { ...host, processUids: [900_002] }) ?? '', /process/u);
  if (process.getuid?.() !== 0) return;
  // nobody (65534) is in /etc/passwd: a pool whose slot would run as nobody does not open.
  const config = { ...poolConfig('nobody', 2, 0), uidBase: 65_533 };
  t.teardown(() => rm(config.workspace, { recursive: true, force: true }));
  const error = await t.throwsAsync(PreviewPool.open(config));
  t.true(error instanceof CodedError && error.code === 'PREVIEW_SANDBOX_UNAVAILABLE');
  t.regex(error?.message ?? '', /65534 is in \/etc\/passwd/u);
});
