/**
 * The preview sandbox's cost (docs/PREVIEWS.md): the start-up overhead of one sandboxed run of /bin/true
 * (the run's cgroups where the machine offers them, prlimit, bubblewrap with every namespace, the seccomp
 * filter; p50 and p95) against running /bin/true directly, spawned the same way from Node, and against
 * the sandbox without cgroups, in the same run; then the previews per second the pool
 * sustains at its size (a tiny .tar.gz artifact unpacked, run, its folder removed, each run), against the
 * bare sandboxed /bin/true rate at the same concurrency.
 *   npm run bench -- sandbox
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { gzipSync } from 'node:zlib';
import { Header } from 'tar';
import { PreviewPool } from '../infra/adapters/sandbox/previewPool.ts';
import { runSandboxed, type SandboxLimits } from '../infra/adapters/sandbox/sandboxRunner.ts';
import { seccompFilterPath } from '../infra/adapters/sandbox/seccompFilter.ts';
import { freshRunFolder, prepareWorkspaceRoot, removeRunFolder } from '../infra/adapters/sandbox/workspace.ts';
import { benchDir, format, inFlight, percentile, perSecond } from './lib.ts';

const RUNS = 200;
const POOL_RUNS = 200;
const LIMITS: SandboxLimits = {
  cpuTimeSeconds: 5,
  memoryBytes: 256 * 1024 * 1024,
  processCount: 32,
  openFileCount: 64,
  outputBytes: 64 * 1024,
  wallClockMs: 10_000,
};

export interface SandboxFigures {
  directP50Ms: number;
  directP95Ms: number;
  sandboxP50Ms: number;
  sandboxP95Ms: number;
  /** The same without the cgroups (prlimit alone); equal to the above where cgroups are not offered. */
  noCgroupsP50Ms: number;
  noCgroupsP95Ms: number;
  cgroups: boolean;
  poolSize: number;
  previewsPerSecond: number;
  bareSandboxPerSecond: number;
}

function spawnTrue(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/true', [], { env: {}, stdio: 'ignore' });
    child.once('error', reject);
    child.once('close', () => resolve());
  });
}

async function timed(count: number, run: () => Promise<unknown>): Promise<number[]> {
  const samples: number[] = [];
  for (let index = 0; index < count; index++) {
    const started = performance.now();
    await run();
    samples.push(performance.now() - started);
  }
  return samples.sort((a, b) => a - b);
}

/** A .tar.gz holding one script that prints one line. */
function artifact(): Buffer {
  const script = Buffer.from('#!/bin/sh\necho preview\n');
  const header = Buffer.alloc(512);
  new Header({ path: 'run', type: 'File', size: script.length, mode: 0o755, mtime: new Date(0) }).encode(header, 0);
  return gzipSync(Buffer.concat([header, script, Buffer.alloc(512 - script.length), Buffer.alloc(1024)]));
}

export async function sandboxBenchmark(log: (line: string) => void): Promise<SandboxFigures> {
  const root = benchDir('sandbox');
  try {
    await prepareWorkspaceRoot(root);
    const filter = await seccompFilterPath(join(root, 'filter'));
    const hostUid = process.getuid?.() === 0 ? 886_000 : undefined;
    const folder = await freshRunFolder(root, hostUid);
    const sandboxed = (useCgroups = true) =>
      runSandboxed({
        useCgroups,
        folder,
        entryPoint: '/usr/bin/true',
        args: [],
        seed: 'bench',
        limits: LIMITS,
        ...(hostUid === undefined ? {} : { hostUid }),
        seccompFilterPath: filter,
      });
    await timed(10, spawnTrue);
    const cgroups = (await sandboxed()).cgroups;
    await timed(10, sandboxed);
    const direct = await timed(RUNS, spawnTrue);
    const sandbox = await timed(RUNS, sandboxed);
    const noCgroups = await timed(RUNS, () => sandboxed(false));
    log(
      `/bin/true directly:  p50 ${format(percentile(direct, 50))} ms, p95 ${format(percentile(direct, 95))} ms (${RUNS} runs)`,
    );
    log(
      `/bin/true sandboxed${cgroups ? ' (with cgroups)' : ''}: p50 ${format(percentile(sandbox, 50))} ms, p95 ${format(percentile(sandbox, 95))} ms`,
    );
    log(
      `/bin/true sandboxed, prlimit alone: p50 ${format(percentile(noCgroups, 50))} ms, p95 ${format(percentile(noCgroups, 95))} ms`,
    );

    const poolSize = 2;
    const bareMs = await inFlight(POOL_RUNS, poolSize, () => sandboxed());
    await removeRunFolder(folder);
    const pool = await PreviewPool.open({
      size: poolSize,
      queueLength: POOL_RUNS,
      maxLimits: LIMITS,
      archive: { maxEntries: 16, maxUnpackedBytes: 1024 * 1024, maxPathBytes: 255, maxPathDepth: 8 },
      workspace: join(root, 'pool'),
      uidBase: 886_100,
      retryAfterSeconds: 1,
    });
    const job = { artifact: artifact(), entryPoint: 'run', args: [], seed: 'bench', limits: LIMITS };
    const started = performance.now();
    const results = await Promise.all(Array.from({ length: POOL_RUNS }, () => pool.submit(job)));
    const poolMs = performance.now() - started;
    await pool.close();
    if (!results.every((result) => result.exitCode === 0)) throw new Error('a benchmark preview failed');
    const figures: SandboxFigures = {
      directP50Ms: percentile(direct, 50),
      directP95Ms: percentile(direct, 95),
      sandboxP50Ms: percentile(sandbox, 50),
      sandboxP95Ms: percentile(sandbox, 95),
      noCgroupsP50Ms: percentile(noCgroups, 50),
      noCgroupsP95Ms: percentile(noCgroups, 95),
      cgroups,
      poolSize,
      previewsPerSecond: perSecond(POOL_RUNS, poolMs),
      bareSandboxPerSecond: perSecond(POOL_RUNS, bareMs),
    };
    log(
      `pool of ${poolSize}: ${format(figures.previewsPerSecond)} previews/s (unpack, run, clean up; ${POOL_RUNS} queued at once); sandboxed /bin/true at ${poolSize} in flight: ${format(figures.bareSandboxPerSecond)}/s`,
    );
    return figures;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
