/** The application (runtime + inline projections + command deps) on a real test database, torn down after the test. */
import { rmSync } from 'node:fs';
import type { ExecutionContext } from 'ava';
import type { CommandDeps } from '../../commands/command.ts';
import type { InspectionPlugin } from '../../commands/content/inspector.ts';
import { openApp, type App } from '../../infra/wiring/app.ts';
import { loadConfig, type Config } from '../../infra/wiring/config.ts';
import type { SqlDatabase } from '../../infra/adapters/sql/sql.ts';
import { projectionDigests } from '../../projections/projections.ts';
import { openTestDatabase, type EngineName, type TestDatabase } from './databases.ts';
import { tempDir } from './runtime.ts';

export interface TestApp extends App {
  test: TestDatabase;
  config: Config;
  deps: CommandDeps;
  /** The chain head and every projection digest: what a rejected command must leave unchanged. */
  snapshot(): Promise<{ head: { seq: number; hash: string }; digests: Record<string, string> }>;
}

export async function snapshotOf(
  db: SqlDatabase,
  app: App,
): Promise<{ head: { seq: number; hash: string }; digests: Record<string, string> }> {
  const head = await app.runtime.store.head(app.deps.chain);
  return { head: { seq: head.seq, hash: head.hash }, digests: await projectionDigests(db) };
}

export async function testApp(
  t: ExecutionContext,
  engine: EngineName,
  options: { nowMs?: () => number; env?: Record<string, string>; inspectionPlugins?: readonly InspectionPlugin[] } = {},
): Promise<TestApp> {
  const test = await openTestDatabase(engine);
  const dataDir = tempDir('app');
  const { env, ...appOptions } = options;
  const config = loadConfig({ CHAINBOOK_DATA_DIR: dataDir, ...env });
  const app = await openApp(config, { db: test.db, ...appOptions });
  t.teardown(async () => {
    await app.close();
    await test.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return { ...app, test, config, snapshot: () => snapshotOf(test.db, app) };
}
