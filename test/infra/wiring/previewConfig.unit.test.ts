/**
 * PREVIEW_SANDBOX_POOL_CONFIG (infra/wiring/previewConfig.ts): the defaults, a whole configuration, and
 * every bad one refused at start with the variable named.
 */
import { tmpdir } from 'node:os';
import test from 'ava';
import { CodedError } from '../../../domain/errors.ts';
import { loadConfig } from '../../../infra/wiring/config.ts';
import { PREVIEW_POOL_DEFAULTS } from '../../../infra/wiring/previewConfig.ts';

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
    return [];
  } catch (error) {
    if (!(error instanceof CodedError)) throw error;
    return (error.details['problems'] as string[]) ?? [];
  }
}

test('unset, the pool has its defaults and a workspace in the data folder', (t) => {
  const { preview } = loadConfig({ CHAINBOOK_DATA_DIR: '/srv/chainbook' });
  t.is(preview.pool.size, PREVIEW_POOL_DEFAULTS.size);
  t.is(preview.pool.queueLength, PREVIEW_POOL_DEFAULTS.queueLength);
  t.is(preview.pool.maxLimits.wallClockMs, PREVIEW_POOL_DEFAULTS.ttlSeconds * 1000);
  t.is(preview.pool.maxLimits.memoryBytes, PREVIEW_POOL_DEFAULTS.memoryBytes);
  t.is(preview.logRetentionSeconds, PREVIEW_POOL_DEFAULTS.logRetentionSeconds);
  t.false(preview.pool.allowUnprivileged);
  t.true(preview.pool.uidBase > 600_100_000 + 65_536, 'above the subordinate ranges useradd gives');
  t.true(preview.pool.uidBase + 256 < 2 ** 31, 'every slot uid below 2^31');
  t.is(preview.pool.workspace, '/srv/chainbook/previews');
  t.false(preview.pool.workspace.startsWith(tmpdir()));
  t.is(loadConfig({ CHAINBOOK_DATA_DIR: '/srv/other' }).preview.pool.workspace, '/srv/other/previews');
});

test('every member given is taken', (t) => {
  const { preview } = loadConfig({
    PREVIEW_SANDBOX_POOL_CONFIG: JSON.stringify({
      size: 4,
      queueLength: 0,
      ttlSeconds: 12,
      maxLimits: {
        cpuTimeSeconds: 3,
        memoryBytes: 64 * 1024 * 1024,
        processCount: 8,
        openFileCount: 32,
        outputBytes: 10,
      },
      archive: { maxEntries: 5, maxUnpackedBytes: 1000, maxPathBytes: 50, maxPathDepth: 3 },
      workspace: '/var/lib/previews',
      uidBase: 500_000,
      retryAfterSeconds: 2,
      allowUnprivileged: true,
      maxPerBuyer: 3,
      logRetentionSeconds: 3600,
    }),
  });
  t.deepEqual(preview, {
    pool: {
      size: 4,
      queueLength: 0,
      maxLimits: {
        cpuTimeSeconds: 3,
        memoryBytes: 64 * 1024 * 1024,
        processCount: 8,
        openFileCount: 32,
        outputBytes: 10,
        wallClockMs: 12_000,
      },
      archive: { maxEntries: 5, maxUnpackedBytes: 1000, maxPathBytes: 50, maxPathDepth: 3 },
      workspace: '/var/lib/previews',
      uidBase: 500_000,
      retryAfterSeconds: 2,
      allowUnprivileged: true,
      maxPerBuyer: 3,
    },
    logRetentionSeconds: 3600,
  });
});

test('a bad configuration is refused, naming the variable', (t) => {
  for (const bad of [
    '{not json',
    '[]',
    '"text"',
    '{"size": 0}',
    '{"size": 1.5}',
    '{"queueLength": -1}',
    '{"ttlSeconds": 100000}',
    '{"sizee": 2}',
    '{"maxLimits": {"memoryBytes": 1}}',
    '{"maxLimits": {"cpu": 1}}',
    '{"archive": {"maxEntries": 0}}',
    '{"uidBase": 0}',
    '{"workspace": ""}',
    '{"allowUnprivileged": "yes"}',
    '{"maxPerBuyer": 0}',
    '{"logRetentionSeconds": 1}',
  ]) {
    const found = problems({ PREVIEW_SANDBOX_POOL_CONFIG: bad });
    t.is(found.length, 1, bad);
    t.regex(found[0] ?? '', /^PREVIEW_SANDBOX_POOL_CONFIG/u, bad);
  }
});
