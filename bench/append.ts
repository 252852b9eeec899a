/**
 * Append throughput and latency (issue 2), measured in one run against:
 *  (a) raw multi-row INSERT of rows of the same size into the same table
 *      shape, no hashing or signing: the limit;
 *  (b) Emmett's PostgreSQL event store appending the same events with the
 *      same concurrency: the nearest TypeScript peer;
 *  (c) `npm run bench -- tree`: our writer without the Merkle tree
 *      (docs/FORMAT.md section 14), in alternating rounds with it: the
 *      tree's cost (issue 14 allows 10%).
 *
 *   npm run bench -- append            (all scenarios)
 *   BENCH_EVENTS=20000 npm run bench -- append
 */
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import pg from 'pg';
import { loadConfig } from '../infra/wiring/config.ts';
import { openPglite } from '../infra/adapters/sql/pglite.ts';
import { openPostgres } from '../infra/adapters/sql/postgres.ts';
import type { SqlDatabase } from '../infra/adapters/sql/sql.ts';
import { migrate } from '../infra/adapters/sql/migrate.ts';
import { openRuntime } from '../infra/wiring/runtime.ts';
import { benchDatabase, benchDir, format, inFlight, orderData, percentile, perSecond, orderEvent } from './lib.ts';

export const EVENTS = Number(process.env['BENCH_EVENTS'] ?? 40_000);
const RAW_BATCH_ROWS = 500;

export interface AppendFigures {
  chainbook64: number;
  chainbook8: number;
  raw: number;
  emmett64: number | undefined;
  emmett8: number | undefined;
  latencyP50Ms: number;
  latencyP99Ms: number;
  pglite64: number;
  recordBytes: number;
}

async function withRuntime<T>(
  db: SqlDatabase,
  work: (append: (index: number) => Promise<unknown>) => Promise<T>,
  merkleTree = true,
): Promise<T> {
  const dataDir = benchDir('append');
  // The chain alone (issue 2's figure): the events are order-shaped, not domain-valid, and fold into nothing.
  const runtime = await openRuntime(loadConfig({ CHAINBOOK_DATA_DIR: dataDir }), {
    db,
    projections: false,
    merkleTree,
  });
  try {
    return await work((index) => runtime.store.append('main', [orderEvent(index)]));
  } finally {
    await runtime.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * events/s of `count` single-event appends with `concurrency` in flight, on a fresh PostgreSQL database;
 * `merkleTree: false`: the writer without the tree; `withoutNotify`: the subscriptions' append trigger
 * (migration 0010) dropped. Each to measure what it costs.
 */
export async function chainbookPostgres(
  count: number,
  concurrency: number,
  options: { merkleTree?: boolean; withoutNotify?: boolean } = {},
): Promise<{ rate: number; recordBytes: number }> {
  const database = await benchDatabase('append');
  const db = openPostgres(database.url, { poolSize: 4 });
  try {
    await migrate(db);
    if (options.withoutNotify) await db.exec('DROP TRIGGER chain_heads_appended ON chain_heads');
    const elapsed = await withRuntime(db, (append) => inFlight(count, concurrency, append), options.merkleTree ?? true);
    const { rows } = await db.query<{ bytes: number }>('SELECT avg(octet_length(record))::int8 AS bytes FROM events');
    return { rate: perSecond(count, elapsed), recordBytes: rows[0]!.bytes };
  } finally {
    await db.close();
    await database.drop();
  }
}

/** Appends made and not timed before the timed ones: connections, prepared statements, JIT, the signing thread. */
const LATENCY_WARM_UP = 500;

/** p50 and p99 of `count` single-event appends one after another, warmed up (a limit is measured warm). */
async function singleAppendLatency(count: number): Promise<{ p50: number; p99: number }> {
  const database = await benchDatabase('latency');
  const db = openPostgres(database.url, { poolSize: 2 });
  try {
    await migrate(db);
    const samples: number[] = [];
    await withRuntime(db, async (append) => {
      for (let index = 0; index < LATENCY_WARM_UP; index++) await append(index);
      for (let index = LATENCY_WARM_UP; index < LATENCY_WARM_UP + count; index++) {
        const started = performance.now();
        await append(index);
        samples.push(performance.now() - started);
      }
    });
    samples.sort((a, b) => a - b);
    return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
  } finally {
    await db.close();
    await database.drop();
  }
}

/** The limit: rows as large as ours, 500 per INSERT, into a copy of the events table (same indexes, no trigger, no hashing, no signing). */
async function rawInsert(count: number, recordBytes: number): Promise<number> {
  const database = await benchDatabase('raw');
  const schema = openPostgres(database.url, { poolSize: 1 });
  await migrate(schema);
  await schema.close();
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    await client.query('CREATE TABLE events_raw (LIKE events INCLUDING ALL)');
    const filler = 'x'.repeat(Math.max(0, recordBytes - 80));
    const started = performance.now();
    for (let offset = 0; offset < count; offset += RAW_BATCH_ROWS) {
      const size = Math.min(RAW_BATCH_ROWS, count - offset);
      const seqs = Array.from({ length: size }, (_, i) => offset + i + 1);
      await client.query(
        `INSERT INTO events_raw (chain, seq, id, stream, version, type, ts, record)
         SELECT 'main', s, gen_random_uuid(), 'order-' || s, 1, 'order.created', now(), $2 || s FROM unnest($1::int8[]) AS s`,
        [seqs, filler],
      );
    }
    return perSecond(count, performance.now() - started);
  } finally {
    await client.end();
    await database.drop();
  }
}

/** What the benchmark uses of @event-driven-io/emmett-postgresql (installed in bench/peers, outside our type graph). */
interface EmmettPostgres {
  getPostgreSQLEventStore(
    connectionString: string,
    options: { connectionOptions: { pooled: true; pool: unknown } },
  ): {
    appendToStream(
      stream: string,
      events: { type: string; data: object }[],
      options?: { expectedStreamVersion: bigint },
    ): Promise<unknown>;
    close(): Promise<void>;
  };
}

/** What the benchmark uses of bench/peers' pg Pool. */
interface PeerPool {
  totalCount: number;
  end(): Promise<void>;
  on(event: 'error', listener: (error: Error & { code?: string }) => void): void;
  on(event: 'remove', listener: () => void): void;
}

/** SQLSTATE of a connection the server ended (here: DROP DATABASE ... WITH (FORCE)). */
const ADMIN_SHUTDOWN = '57P01';
const POOL_CLOSE_TIMEOUT_MS = 5000;

/**
 * Ends a pool and waits until every connection of it has closed. pg-pool's
 * end() resolves once its clients are asked to end, not once their sockets
 * are closed; a database dropped in between ends them from the server side,
 * and the idle client's error reached the pool with no listener (the crash
 * of issue 19).
 */
async function endPool(pool: PeerPool): Promise<void> {
  let open = pool.totalCount;
  const closed = new Promise<void>((resolve) => {
    if (open === 0) resolve();
    pool.on('remove', () => {
      open -= 1;
      if (open <= 0) resolve();
    });
  });
  await pool.end();
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([closed, new Promise<void>((resolve) => (timer = setTimeout(resolve, POOL_CLOSE_TIMEOUT_MS)))]);
  clearTimeout(timer);
}

/** Emmett's PostgreSQL event store, from bench/peers (npm --prefix bench/peers ci); undefined when not installed. */
export async function emmett(count: number, concurrency: number): Promise<number | undefined> {
  const require = createRequire(join(import.meta.dirname, 'peers', 'package.json'));
  let module: EmmettPostgres;
  try {
    module = (await import(require.resolve('@event-driven-io/emmett-postgresql'))) as EmmettPostgres;
  } catch {
    process.stderr.write('emmett: not installed; run `npm --prefix bench/peers ci` to compare with it\n');
    return undefined;
  }
  const database = await benchDatabase('emmett');
  // Our own pool, ended (every connection closed) before the database is dropped: Emmett's close() leaves a pool it is given open.
  const Pool = (require('pg') as { Pool: new (options: object) => PeerPool }).Pool;
  const pool = new Pool({ connectionString: database.url, max: 10 });
  let ending = false;
  pool.on('error', (error) => {
    // A connection the drop ends while closing is expected; anything else is reported, not thrown from an event.
    if (!(ending && error.code === ADMIN_SHUTDOWN)) process.stderr.write(`emmett pool: ${error.message}\n`);
  });
  const store = module.getPostgreSQLEventStore(database.url, { connectionOptions: { pooled: true, pool } });
  try {
    await store.appendToStream('warmup-0', [{ type: 'OrderCreated', data: orderData(0) }]);
    const elapsed = await inFlight(count, concurrency, (index) =>
      store.appendToStream(`order-${index}`, [{ type: 'OrderCreated', data: orderData(index) }], {
        expectedStreamVersion: 0n,
      }),
    );
    return perSecond(count, elapsed);
  } finally {
    ending = true;
    await store.close().catch((error: unknown) => process.stderr.write(`emmett close: ${String(error)}\n`));
    await endPool(pool);
    await database.drop();
  }
}

async function chainbookPglite(count: number, concurrency: number): Promise<number> {
  const directory = benchDir('pglite');
  const db = await openPglite(join(directory, 'db'));
  try {
    await migrate(db);
    return perSecond(count, await withRuntime(db, (append) => inFlight(count, concurrency, append)));
  } finally {
    await db.close();
    rmSync(directory, { recursive: true, force: true });
  }
}

const TREE_ROUNDS = 3;

/** With and without the Merkle tree, alternating so that drift in the machine's load falls on both; the best round of each. */
export async function treeCost(log: (line: string) => void): Promise<{ withTree: number; withoutTree: number }> {
  let withTree = 0;
  let withoutTree = 0;
  for (let round = 0; round < TREE_ROUNDS; round++) {
    withoutTree = Math.max(withoutTree, (await chainbookPostgres(EVENTS / 2, 64, { merkleTree: false })).rate);
    withTree = Math.max(withTree, (await chainbookPostgres(EVENTS / 2, 64, { merkleTree: true })).rate);
  }
  const drop = (1 - withTree / withoutTree) * 100;
  log(
    `merkle tree, 64 in flight (best of ${TREE_ROUNDS}): with ${format(withTree)}, without ${format(withoutTree)} events/s (${format(drop)}% drop)`,
  );
  return { withTree, withoutTree };
}

export async function appendBenchmark(log: (line: string) => void): Promise<AppendFigures> {
  const ours64 = await chainbookPostgres(EVENTS, 64);
  log(`chainbook, 64 in flight: ${format(ours64.rate)} events/s (records of ${ours64.recordBytes} bytes)`);
  const ours8 = await chainbookPostgres(EVENTS / 2, 8);
  log(`chainbook, 8 in flight: ${format(ours8.rate)} events/s`);
  const raw = await rawInsert(EVENTS, ours64.recordBytes);
  log(`raw ${RAW_BATCH_ROWS}-row INSERT: ${format(raw)} rows/s`);
  const emmett64 = await emmett(EVENTS / 4, 64);
  const emmett8 = await emmett(EVENTS / 4, 8);
  if (emmett64 !== undefined)
    log(`emmett, 64 / 8 in flight: ${format(emmett64)} / ${format(emmett8 ?? Number.NaN)} events/s`);
  const latency = await singleAppendLatency(5000);
  log(
    `single append latency, 5,000 after ${LATENCY_WARM_UP} not timed: p50 ${format(latency.p50)} ms, p99 ${format(latency.p99)} ms`,
  );
  const pglite64 = await chainbookPglite(EVENTS / 4, 64);
  log(`chainbook on PGlite, 64 in flight: ${format(pglite64)} events/s`);
  return {
    chainbook64: ours64.rate,
    chainbook8: ours8.rate,
    raw,
    emmett64,
    emmett8,
    latencyP50Ms: latency.p50,
    latencyP99Ms: latency.p99,
    pglite64,
    recordBytes: ours64.recordBytes,
  };
}

/** The append trigger's cost: appends with and without it, alternated, in one run. */
export async function notifyBenchmark(log: (line: string) => void): Promise<{ withNotify: number; without: number }> {
  const rates = { withNotify: [] as number[], without: [] as number[] };
  for (let round = 0; round < 2; round++) {
    rates.withNotify.push((await chainbookPostgres(EVENTS / 2, 8)).rate);
    rates.without.push((await chainbookPostgres(EVENTS / 2, 8, { withoutNotify: true })).rate);
  }
  const best = (values: number[]) => Math.max(...values);
  log(
    `8 in flight, best of 2: ${format(best(rates.withNotify))} events/s with the append NOTIFY, ${format(best(rates.without))} without`,
  );
  return { withNotify: best(rates.withNotify), without: best(rates.without) };
}
