/**
 * `chainbook sandbox drain | status | resume` (infra/entrypoints/cli/sandbox.ts) against a live pool in
 * this process, configured as the CLI is, through PREVIEW_SANDBOX_POOL_CONFIG: drain kills the running
 * run and stops the pool, status says so (exit 1), resume lets it take runs again; a bad configuration
 * is exit 2 with the variable named.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { PreviewPool } from '../../../../infra/adapters/sandbox/previewPool.ts';
import { parsePreviewConfig } from '../../../../infra/wiring/previewConfig.ts';
import { runCli } from '../../../helpers/cli.ts';
import { scriptArtifact } from '../../../helpers/previewArtifacts.ts';
import { runObserved, until } from '../../../helpers/sandboxProcesses.ts';

test('sandbox drain kills the running preview and stops the pool; status says drained; resume takes runs again', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'preview-cli-data-'));
  const workspace = join(tmpdir(), `preview-cli-pool-${process.pid}`);
  t.teardown(() =>
    Promise.all([rm(dataDir, { recursive: true, force: true }), rm(workspace, { recursive: true, force: true })]),
  );
  const text = JSON.stringify({ size: 1, queueLength: 0, ttlSeconds: 60, workspace, uidBase: 883_000 });
  const config = parsePreviewConfig(text, dataDir);
  if (typeof config === 'string') return t.fail(config);
  const pool = await PreviewPool.open(config.pool);
  t.teardown(() => pool.close());
  const env = { CHAINBOOK_DATA_DIR: dataDir, PREVIEW_SANDBOX_POOL_CONFIG: text };
  const job = (script: string) => ({
    artifact: scriptArtifact(script),
    entryPoint: 'run',
    args: [],
    seed: 's',
    limits: config.pool.maxLimits,
  });

  const running = pool.submit(job('#!/bin/sh\nsleep 50\n'));
  await runObserved(config.pool.uidBase, () => pool.runningCount);
  const drained = await runCli(['sandbox', 'drain'], { env });
  t.is(drained.code, 0, drained.stderr);
  t.regex(drained.stdout, /drained: /u);
  const result = await running;
  t.true(result.durationMs < 10_000);
  t.is(result.exitCode, null);
  await until(() => pool.isDrained);
  t.is((await runCli(['sandbox', 'status'], { env })).code, 1);

  t.is((await runCli(['sandbox', 'resume'], { env })).code, 0);
  t.is((await runCli(['sandbox', 'status'], { env })).code, 0);
  await until(() => !pool.isDrained);
  t.is((await pool.submit(job('#!/bin/sh\necho again\n'))).output.toString(), 'again\n');
});

test('a bad PREVIEW_SANDBOX_POOL_CONFIG is refused with exit 2, naming the variable', async (t) => {
  for (const bad of ['{not json', '{"size": 0}', '{"sizee": 2}', '{"maxLimits": {"memoryBytes": -1}}', '[]']) {
    const result = await runCli(['sandbox', 'status'], { env: { PREVIEW_SANDBOX_POOL_CONFIG: bad } });
    t.is(result.code, 2, bad);
    t.regex(result.stderr, /PREVIEW_SANDBOX_POOL_CONFIG/u, bad);
  }
});
