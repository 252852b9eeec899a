/** A runtime (store, signer, registry) on a real test database, torn down after the test. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { loadConfig } from '../../infra/wiring/config.ts';
import { openRuntime, type Runtime, type RuntimeOptions } from '../../infra/wiring/runtime.ts';
import { openTestDatabase, type EngineName, type TestDatabase } from './databases.ts';

export interface TestRuntime extends Runtime {
  test: TestDatabase;
  dataDir: string;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `chainbook-${prefix}-`));
}

export async function testRuntime(
  t: ExecutionContext,
  engine: EngineName,
  options: Omit<RuntimeOptions, 'db'> & { env?: Record<string, string> } = {},
): Promise<TestRuntime> {
  const test = await openTestDatabase(engine);
  const dataDir = tempDir('data');
  const config = loadConfig({ CHAINBOOK_DATA_DIR: dataDir, ...options.env });
  // The bare chain: these tests append arbitrary events, some with domain event types.
  const runtime = await openRuntime(config, { projections: false, ...options, db: test.db });
  t.teardown(async () => {
    await runtime.close();
    await test.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return { ...runtime, test, dataDir };
}
