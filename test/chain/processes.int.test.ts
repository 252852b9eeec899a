/**
 * Several OS processes on one chain, and a writer killed mid-append: the
 * chain stays linear and verifiable, and every acknowledged append is there.
 */
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { inProcessChecker } from '../../verifier/inProcessChecker.ts';
import { verify } from '../../verifier/verify.ts';
import { openPglite } from '../../infra/adapters/sql/pglite.ts';
import type { SqlDatabase } from '../../infra/adapters/sql/sql.ts';
import { databaseReader } from '../../infra/adapters/sql/databaseReader.ts';
import { openLocalSigner } from '../../infra/adapters/signers/local.ts';
import { openTestDatabase } from '../helpers/databases.ts';
import { tempDir } from '../helpers/runtime.ts';
import { assertTreeMatchesRecords } from '../helpers/merkle.ts';

interface Ack {
  seq: number;
  id: string;
  hash: string;
}

const PROCESSES = 4;
const APPENDS_PER_PROCESS = 500;

function startWriter(
  target: string,
  dataDir: string,
  tag: string,
  appends: number,
  inFlight: number,
): { child: ChildProcess; acks: Ack[]; exited: Promise<number | null> } {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'test/helpers/appendProcess.ts', target, dataDir, tag, String(appends), String(inFlight)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const acks: Ack[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => acks.push(JSON.parse(line) as Ack));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, acks, exited };
}

/** A signer key and registry made before the writers start, so they all sign as the same kid. */
async function prepareDataDir(): Promise<string> {
  const dataDir = tempDir('writers');
  await openLocalSigner({ dataDir, registryPath: join(dataDir, 'signers.json'), production: false }).signer.close();
  return dataDir;
}

async function chainFacts(db: SqlDatabase, dataDir: string) {
  const { signer, registry } = openLocalSigner({
    dataDir,
    registryPath: join(dataDir, 'signers.json'),
    production: false,
  });
  await signer.close();
  const report = await verify(databaseReader(db), inProcessChecker(registry));
  const { rows } = await db.query<{ records: number; max_seq: number; stream_versions: number }>(
    'SELECT count(*)::int8 AS records, max(seq) AS max_seq, count(DISTINCT (stream, version))::int8 AS stream_versions FROM events',
  );
  const hashes = new Map(
    (await db.query<{ seq: number; record: string }>('SELECT seq, record FROM events')).rows.map((row) => [
      row.seq,
      (JSON.parse(row.record) as Ack).hash,
    ]),
  );
  return { report, ...rows[0]!, hashes };
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test(`postgres: ${PROCESSES} processes × ${APPENDS_PER_PROCESS} appends on one chain make one linear chain that verifies`, async (t) => {
  const database = await openTestDatabase('postgres');
  const dataDir = await prepareDataDir();
  t.teardown(async () => {
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const writers = Array.from({ length: PROCESSES }, (_, index) =>
    startWriter(database.location, dataDir, `p${index}`, APPENDS_PER_PROCESS, 16),
  );
  const codes = await Promise.all(writers.map((writer) => writer.exited));
  t.deepEqual(codes, Array(PROCESSES).fill(0));

  const total = PROCESSES * APPENDS_PER_PROCESS * 2;
  const facts = await chainFacts(database.db, dataDir);
  t.true(facts.report.ok, JSON.stringify(facts.report.finding));
  t.is(facts.records, total);
  t.is(facts.max_seq, total);
  t.is(facts.stream_versions, total);
  const acknowledged = writers.flatMap((writer) => writer.acks);
  t.is(new Set(acknowledged.map((ack) => ack.seq)).size, total);
  t.true(acknowledged.every((ack) => facts.hashes.get(ack.seq) === ack.hash));
  const head = (await database.db.query<{ seq: number }>("SELECT seq FROM chain_heads WHERE chain = 'main'")).rows[0]!;
  t.is(head.seq, total);
  // Writers racing on one chain leave one Merkle tree, that of the chain (docs/FORMAT.md section 14).
  await assertTreeMatchesRecords(t, database.db, 'main');
});

for (const engine of ['postgres', 'pglite'] as const) {
  test(`${engine}: a writer killed with SIGKILL mid-append leaves a chain that verifies, with every acknowledged append present`, async (t) => {
    const dataDir = await prepareDataDir();
    const database = engine === 'postgres' ? await openTestDatabase('postgres') : undefined;
    t.teardown(async () => {
      await database?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    });
    // PGlite lives in the writer's own data folder: the writer process owns it until it dies.
    const writer = startWriter(database?.location ?? dataDir, dataDir, 'crash', 0, 32);
    await waitFor(() => writer.acks.length >= 400, 60_000);
    writer.child.kill('SIGKILL');
    t.is(await writer.exited, null);

    // PGlite: the dead writer's lock is taken over; the folder must open and recover.
    const db = database?.db ?? (await openPglite(join(dataDir, 'db')));
    if (!database) t.teardown(() => db.close());
    const facts = await chainFacts(db, dataDir);
    t.true(facts.report.ok, JSON.stringify(facts.report.finding));
    t.true(facts.records >= writer.acks.length);
    for (const ack of writer.acks)
      t.is(facts.hashes.get(ack.seq), ack.hash, `acknowledged seq ${ack.seq} is present with its hash`);
  });
}

test('pglite: a second process cannot open a data folder that another process holds', async (t) => {
  const dataDir = await prepareDataDir();
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const writer = startWriter(dataDir, dataDir, 'holder', 0, 1);
  t.teardown(() => writer.child.kill('SIGKILL'));
  await waitFor(() => writer.acks.length > 0, 60_000);
  const error = await t.throwsAsync(openPglite(join(dataDir, 'db')));
  t.regex(error.message, new RegExp(`open in process ${writer.child.pid}`));
});
