/**
 * The archive through the CLI, as an operator and an auditor run it:
 * export, audit-verify --archive (and --compare-database), replay
 * --from-archive, and an export killed with SIGKILL mid-run.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { chmodSync, cpSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ARCHIVE_EXPORTED_TYPE } from '../../archive/exportedEvent.ts';
import { parseManifest, type Manifest } from '../../archive/manifest.ts';
import { runDemoWorkload } from '../../commands/demo/demoWorkload.ts';
import type { VerifyReport } from '../../verifier/verify.ts';
import { testApp, type TestApp } from '../helpers/app.ts';
import { CLI, runCli } from '../helpers/cli.ts';
import { openTestDatabase } from '../helpers/databases.ts';
import { tempDir } from '../helpers/runtime.ts';
import { PROJECTIONS } from '../../projections/projections.ts';

const quiet = (): void => undefined;

interface Setup {
  app: TestApp;
  env: Record<string, string>;
  folder: string;
}

async function setup(t: ExecutionContext, orders: number): Promise<Setup> {
  const app = await testApp(t, 'postgres');
  await runDemoWorkload(app.deps, orders, quiet);
  const folder = tempDir('archive-e2e');
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  return {
    app,
    folder,
    env: {
      DATABASE_URL: app.test.location,
      CHAINBOOK_DATA_DIR: app.config.dataDir,
      ARCHIVE_SERVICE: 'marketplace',
      ARCHIVE_PII_POLICY_VERSION: 'pii-2026-01',
    },
  };
}

function manifestsIn(folder: string): Manifest[] {
  const manifests: Manifest[] = [];
  for (const entry of readdirSync(folder, { recursive: true, withFileTypes: true })) {
    if (entry.isFile() && entry.name.endsWith('.manifest.json'))
      manifests.push(parseManifest(readFileSync(join(entry.parentPath, entry.name))) as Manifest);
  }
  return manifests.sort((a, b) => a.from_seq - b.from_seq);
}

function batchFiles(folder: string): string[] {
  return readdirSync(folder, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.jsonl.gz'))
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
}

test('export, then audit-verify --archive and --compare-database, replay --from-archive into a fresh database with the live digests; a flipped byte and a cut database tail exit 1 naming batch and seq', async (t) => {
  const s = await setup(t, 3);
  const exported = await runCli(['export', '--to', s.folder, '--batch-records', '10', '--threads', '0'], {
    env: s.env,
  });
  t.is(exported.code, 0, exported.stderr);
  t.regex(
    exported.stdout,
    /^export: OK to .* \(service marketplace; records verified: full\)\n {2}main: seq 1\.\.\d+ in \d+ batches; the archive was at seq 0/,
  );
  const manifests = manifestsIn(s.folder);
  t.true(manifests.length >= 3);
  const verified = await runCli(
    ['audit-verify', '--archive', s.folder, '--compare-database', s.app.test.location, '--threads', '0'],
    { env: s.env },
  );
  t.is(verified.code, 0, verified.stdout + verified.stderr);
  t.regex(verified.stdout, new RegExp(`^audit-verify: OK\\n {2}main: ${manifests.at(-1)!.to_seq} records`));

  const fresh = await openTestDatabase('postgres', { migrated: false });
  t.teardown(() => fresh.drop());
  const restore = [
    'replay',
    '--from-archive',
    s.folder,
    '-d',
    fresh.location,
    '--compare-database',
    s.app.test.location,
    '--threads',
    '0',
  ];
  const restored = await runCli(restore, { env: s.env });
  t.is(restored.code, 0, restored.stdout + restored.stderr);
  t.regex(restored.stdout, /replay: OK \(restored and rebuilt\)/);
  t.is(restored.stdout.match(/= live/g)?.length, PROJECTIONS.length, "every projection's digest equals the live one");
  // The signed ledger proof documents are rebuilt from the archived chain, the same bytes as kept live.
  const documents = 'SELECT proof_id, payload_sha256, document FROM ledger_proof_documents ORDER BY proof_id';
  const live = (await s.app.test.db.query(documents)).rows;
  t.true(live.length > 0);
  t.regex(
    restored.stdout,
    new RegExp(`ledger proof documents: ${live.length} rebuilt from the chain, 0 kept already, 0 not rebuildable`),
  );
  t.deepEqual((await fresh.db.query(documents)).rows, live);
  const again = await runCli(restore, { env: s.env });
  t.is(again.code, 2);
  t.regex(again.stderr, /REPLAY_TARGET_NOT_EMPTY/);
  const forced = await runCli([...restore, '--force'], { env: s.env });
  t.is(forced.code, 0);
  t.regex(forced.stdout, new RegExp(`ledger proof documents: 0 rebuilt from the chain, ${live.length} kept already`));

  const tampered = tempDir('archive-tampered');
  t.teardown(() => rmSync(tampered, { recursive: true, force: true }));
  cpSync(s.folder, tampered, { recursive: true });
  const victim = batchFiles(tampered)[1]!;
  chmodSync(victim, 0o644);
  const bytes = readFileSync(victim);
  bytes.writeUInt8(bytes[40]! ^ 0x04, 40);
  writeFileSync(victim, bytes);
  const failed = await runCli(['audit-verify', '--archive', tampered, '--threads', '0'], { env: s.env });
  t.is(failed.code, 1);
  t.regex(
    failed.stdout,
    new RegExp(
      `^audit-verify: FAILED at chain main seq ${manifests[1]!.from_seq}: batch-hash-mismatch: batch marketplace/\\d{4}-\\d{2}-\\d{2}/main-0+${manifests[1]!.from_seq}-0+${manifests[1]!.to_seq}\\.jsonl\\.gz`,
    ),
  );

  const last = manifests.at(-1)!.to_seq;
  await s.app.test.superuser("DELETE FROM events WHERE chain = 'main' AND seq > $1", [last - 3]);
  const cut = await runCli(
    ['audit-verify', '--archive', s.folder, '--compare-database', s.app.test.location, '--json', '--threads', '0'],
    { env: s.env },
  );
  t.is(cut.code, 1);
  t.like((JSON.parse(cut.stdout) as VerifyReport).finding, {
    chain: 'main',
    seq: last - 2,
    reason: 'database-behind-archive',
  });
  const refused = await runCli(['export', '--to', s.folder, '--threads', '0'], { env: s.env });
  t.is(refused.code, 1);
  t.regex(refused.stdout, /FAILED at chain main seq \d+: database-behind-archive/);
});

/** Starts `chainbook export` and kills it with SIGKILL once `manifests` manifests are written. */
async function killMidExport(folder: string, env: Record<string, string>, manifests: number): Promise<void> {
  const { DATABASE_URL: _inherited, ...inherited } = process.env;
  const child = spawn(
    process.execPath,
    [...CLI, 'export', '--to', folder, '--batch-records', '2', '--threads', '0', '--no-progress'],
    { env: { ...inherited, ...env }, stdio: 'ignore' },
  );
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const written = readdirSync(folder, { recursive: true }).filter((name) =>
      String(name).endsWith('.manifest.json'),
    ).length;
    if (written >= manifests || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  child.kill('SIGKILL');
  await exited;
}

test('an export killed with SIGKILL mid-run is completed by the next run: no gap, no duplicate batch or archive.exported record', async (t) => {
  const s = await setup(t, 12);
  const head = (await s.app.runtime.store.head('main')).seq;
  await killMidExport(s.folder, s.env, 5);
  const partial = manifestsIn(s.folder);
  t.true(
    partial.length >= 5 && partial.at(-1)!.to_seq < head,
    `killed after ${partial.length} batches, before the end (${partial.at(-1)?.to_seq} of ${head})`,
  );
  const left = await runCli(['audit-verify', '--archive', s.folder, '--threads', '0'], { env: s.env });
  t.is(left.code, 0, 'what a killed export leaves verifies');
  t.regex(left.stdout, new RegExp(`archive: ${partial.length} batches of service marketplace`));
  const resumed = await runCli(['export', '--to', s.folder, '--batch-records', '3', '--threads', '0'], { env: s.env });
  t.is(resumed.code, 0, resumed.stdout + resumed.stderr);
  const manifests = manifestsIn(s.folder);
  t.deepEqual(
    manifests.map((m) => m.from_seq),
    [1, ...manifests.slice(0, -1).map((m) => m.to_seq + 1)],
    'contiguous',
  );
  t.true(manifests.at(-1)!.to_seq >= head);
  t.is(batchFiles(s.folder).length, manifests.length, 'no object without its manifest');
  const events = (await s.app.runtime.store.readChain('main', { fromSeq: head + 1, limit: 1000 })).filter(
    ({ record }) => record.type === ARCHIVE_EXPORTED_TYPE,
  );
  const keys = events.map(({ record }) => (record.data as { batchKey: string }).batchKey);
  t.deepEqual([...new Set(keys)], keys, 'one archive.exported per batch');
  t.is(keys.length, manifests.length);
  const verified = await runCli(
    ['audit-verify', '--archive', s.folder, '--compare-database', s.app.test.location, '--threads', '0'],
    { env: s.env },
  );
  t.is(verified.code, 0, verified.stdout);
});

test('export --every runs on a schedule: the next run has only its own archive.exported records pending and writes nothing; SIGTERM stops it with exit 0', async (t) => {
  const s = await setup(t, 2);
  const twice = await runCli(['export', '--to', s.folder, '--every', '1s', '--runs', '2', '--threads', '0'], {
    env: s.env,
  });
  t.is(twice.code, 0, twice.stderr);
  const runs = twice.stdout.split(/^(?=\d{4}-\d{2}-\d{2}T\S+ export: )/m);
  t.is(runs.length, 2, twice.stdout);
  t.regex(runs[0]!, /export: OK .*\n {2}main: seq 1\.\.\d+ in \d+ batches/);
  t.regex(runs[1]!, /export: OK .*\n {2}main: nothing exported \(only archive\.exported records are pending\)/);

  const { DATABASE_URL: _inherited, ...inherited } = process.env;
  const child = spawn(process.execPath, [...CLI, 'export', '--to', s.folder, '--every', '1h', '--threads', '0'], {
    env: { ...inherited, ...s.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => output.push(chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  for (let waited = 0; !Buffer.concat(output).toString().includes('export: OK') && waited < 30_000; waited += 20)
    await new Promise((resolve) => setTimeout(resolve, 20));
  const stopping = Date.now();
  child.kill('SIGTERM');
  t.is(await exited, 0);
  t.true(Date.now() - stopping < 5000, 'it does not wait out the hour');
});
