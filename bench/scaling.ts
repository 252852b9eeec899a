/**
 * How appends and verification scale (issue 19), each on a fresh PostgreSQL
 * database of the bench server:
 *  - chains: events/s with 1, 2 and 4 chains appended to at once, 64
 *    single-event appends in flight per chain (each chain has its own head and
 *    writer: how a deployment that outgrows one chain's writer shards its log);
 *  - latency: one appender, p50/p95/p99/p99.9 at 1, 10 and 100 events per
 *    append, with the server's fsync and synchronous_commit stated;
 *  - curve: append events/s, single-append latency, audit-verify records/s
 *    and peak RSS under each memory budget of BENCH_CURVE_BUDGETS_MIB
 *    (default 256, audit-verify's default, and 16, which spills), table and
 *    index sizes as the chain grows to each of BENCH_CURVE_SIZES (default
 *    10,000 and 100,000). The chain is grown by bench/chainGenerator.ts
 *    (the writer's records and idempotency rows, loaded in bulk; every size
 *    is then checked by audit-verify), or with BENCH_CURVE_FILL=append by
 *    appends of 100 events with an idempotency key, much slower.
 *
 *   npm run bench -- chains latency curve
 *   BENCH_CURVE_SIZES=100000,1000000,10000000 npm run bench -- curve
 */
import { rmSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import type { AppendEventInput } from '../chain/input.ts';
import { databaseReader } from '../infra/adapters/sql/databaseReader.ts';
import { migrate } from '../infra/adapters/sql/migrate.ts';
import { openPostgres } from '../infra/adapters/sql/postgres.ts';
import type { SqlDatabase } from '../infra/adapters/sql/sql.ts';
import { workerChecker } from '../infra/adapters/workers/checkPool.ts';
import { loadConfig } from '../infra/wiring/config.ts';
import { openRuntime, type Runtime } from '../infra/wiring/runtime.ts';
import { verify } from '../verifier/verify.ts';
import { spillFolder } from '../infra/adapters/files/spillFolder.ts';
import { growChain } from './chainGenerator.ts';
import { benchDatabase, benchDir, format, inFlight, percentile, perSecond, orderEvent } from './lib.ts';

const CHAIN_COUNTS = [1, 2, 4] as const;
const IN_FLIGHT_PER_CHAIN = 64;
const CHAIN_EVENTS = Number(process.env['BENCH_CHAIN_EVENTS'] ?? 10_000);
const LATENCY_BATCH_SIZES = [1, 10, 100] as const;
/** Appends timed at each batch size: p99.9 needs at least a thousand. */
const LATENCY_SAMPLES: Record<(typeof LATENCY_BATCH_SIZES)[number], number> = { 1: 3000, 10: 2000, 100: 1000 };
const CURVE_SIZES = (process.env['BENCH_CURVE_SIZES'] ?? '10000,100000').split(',').map(Number);
const FILL_EVENTS_PER_APPEND = 100;
const FILL_IN_FLIGHT = 8;
const CURVE_APPEND_EVENTS = 10_000;
const CURVE_LATENCY_SAMPLES = 1000;
const CURVE_FILL = process.env['BENCH_CURVE_FILL'] ?? 'generate';
const CURVE_BUDGETS_MIB = (process.env['BENCH_CURVE_BUDGETS_MIB'] ?? '256,16').split(',').map(Number);
const MIB = 1024 * 1024;

function orderEvents(first: number, count: number): AppendEventInput[] {
  return Array.from({ length: count }, (_, offset) => orderEvent(first + offset));
}

/** A fresh database, migrated, with the bare chain's runtime on it (no projections). */
async function withChainRuntime<T>(
  label: string,
  work: (runtime: Runtime, db: SqlDatabase) => Promise<T>,
  poolSize = 10,
): Promise<T> {
  const database = await benchDatabase(label);
  const db = openPostgres(database.url, { poolSize });
  const dataDir = benchDir(label);
  try {
    await migrate(db);
    const runtime = await openRuntime(loadConfig({ CHAINBOOK_DATA_DIR: dataDir }), { db, projections: false });
    try {
      return await work(runtime, db);
    } finally {
      await runtime.close();
    }
  } finally {
    await db.close();
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export interface LatencyFigures {
  p50: number;
  p95: number;
  p99: number;
  p999: number;
}

function latencyOf(samplesMs: number[]): LatencyFigures {
  samplesMs.sort((a, b) => a - b);
  return {
    p50: percentile(samplesMs, 50),
    p95: percentile(samplesMs, 95),
    p99: percentile(samplesMs, 99),
    p999: percentile(samplesMs, 99.9),
  };
}

function describeLatency(latency: LatencyFigures): string {
  return `p50 ${format(latency.p50)} ms, p95 ${format(latency.p95)} ms, p99 ${format(latency.p99)} ms, p99.9 ${format(latency.p999)} ms`;
}

/** Appends of `eventsPerAppend` events one after another, each timed; `next` numbers the streams. */
async function timedAppends(
  runtime: Runtime,
  samples: number,
  eventsPerAppend: number,
  next: { stream: number },
): Promise<LatencyFigures> {
  const times: number[] = [];
  for (let index = 0; index < samples; index++) {
    const events = orderEvents(next.stream, eventsPerAppend);
    next.stream += eventsPerAppend;
    const started = performance.now();
    await runtime.store.append('main', events);
    times.push(performance.now() - started);
  }
  return latencyOf(times);
}

export interface ChainsFigures {
  /** events/s over all chains, by number of chains. */
  rates: Map<number, number>;
}

export async function chainsBenchmark(log: (line: string) => void): Promise<ChainsFigures> {
  const rates = new Map<number, number>();
  for (const chains of CHAIN_COUNTS) {
    const rate = await withChainRuntime('chains', async (runtime) => {
      const names = Array.from({ length: chains }, (_, index) => (index === 0 ? 'main' : `shard-${index}`));
      for (const name of names.slice(1)) await runtime.store.createChain(name);
      const started = performance.now();
      await Promise.all(
        names.map((name, chainIndex) =>
          inFlight(CHAIN_EVENTS, IN_FLIGHT_PER_CHAIN, (index) =>
            runtime.store.append(name, orderEvents(chainIndex * CHAIN_EVENTS + index, 1)),
          ),
        ),
      );
      return perSecond(CHAIN_EVENTS * chains, performance.now() - started);
    });
    rates.set(chains, rate);
    log(
      `${chains} chain${chains > 1 ? 's' : ''} at once, ${IN_FLIGHT_PER_CHAIN} single-event appends in flight each: ${format(rate)} events/s in all`,
    );
  }
  return { rates };
}

export interface LatencyBenchFigures {
  settings: string;
  byBatch: Map<number, LatencyFigures>;
}

/** The server's durability settings, as the event-store benchmarks state them. */
async function durabilitySettings(db: SqlDatabase): Promise<string> {
  const { rows } = await db.query<{ name: string; setting: string }>(
    "SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'wal_sync_method') ORDER BY name",
  );
  return rows.map((row) => `${row.name}=${row.setting}`).join(', ');
}

export async function latencyBenchmark(log: (line: string) => void): Promise<LatencyBenchFigures> {
  return withChainRuntime('latency', async (runtime, db) => {
    const settings = await durabilitySettings(db);
    log(`PostgreSQL ${settings}; one appender, appends one after another`);
    const next = { stream: 0 };
    await timedAppends(runtime, 200, 1, next); // warm-up: JIT, prepared statements, the signing thread
    const byBatch = new Map<number, LatencyFigures>();
    for (const size of LATENCY_BATCH_SIZES) {
      const latency = await timedAppends(runtime, LATENCY_SAMPLES[size], size, next);
      byBatch.set(size, latency);
      log(
        `${size} event${size > 1 ? 's' : ''} per append (${LATENCY_SAMPLES[size]} appends): ${describeLatency(latency)}`,
      );
    }
    return { settings, byBatch };
  });
}

export interface VerifyFigures {
  budgetMiB: number;
  perSecond: number;
  /** The process's RSS at its peak while verifying, over its RSS before. */
  peakRssMiB: number;
}

export interface CurvePoint {
  records: number;
  fillSeconds: number;
  appendPerSecond: number;
  latency: LatencyFigures;
  verify: VerifyFigures[];
  tableMiB: { events: number; eventsIndexes: number; idempotency: number; tiles: number };
}

async function tableSizesMiB(db: SqlDatabase): Promise<CurvePoint['tableMiB']> {
  const { rows } = await db.query<{ events: number; indexes: number; idempotency: number; tiles: number }>(
    `SELECT pg_table_size('events')::int8 AS events, pg_indexes_size('events')::int8 AS indexes,
      pg_total_relation_size('idempotency_keys')::int8 AS idempotency, pg_total_relation_size('merkle_tiles')::int8 AS tiles`,
  );
  const row = rows[0]!;
  const mib = (bytes: number): number => Math.round((bytes / MIB) * 10) / 10;
  return {
    events: mib(row.events),
    eventsIndexes: mib(row.indexes),
    idempotency: mib(row.idempotency),
    tiles: mib(row.tiles),
  };
}

/** audit-verify of the whole database under a memory budget, with the process's peak RSS sampled every 50 ms. */
async function timedVerify(runtime: Runtime, db: SqlDatabase, budgetMiB: number): Promise<VerifyFigures> {
  const pool = workerChecker(runtime.registry, availableParallelism());
  const rssBefore = process.memoryUsage().rss;
  let rssPeak = rssBefore;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 50);
  const started = performance.now();
  try {
    const report = await verify(databaseReader(db), pool, {
      bookkeeping: { budgetBytes: budgetMiB * MIB, spill: spillFolder() },
    });
    if (!report.ok) throw new Error(`the benchmark chain did not verify: ${JSON.stringify(report.finding)}`);
    return {
      budgetMiB,
      perSecond: perSecond(report.records, performance.now() - started),
      peakRssMiB: Math.round((rssPeak - rssBefore) / MIB),
    };
  } finally {
    clearInterval(sampler);
    await pool.close();
  }
}

/** Fills the chain up to `target` records with appends of 100 events, each with an idempotency key. */
async function fillTo(runtime: Runtime, next: { stream: number }, target: number): Promise<void> {
  const head = await runtime.store.head('main');
  const appends = Math.ceil(Math.max(0, target - head.seq) / FILL_EVENTS_PER_APPEND);
  await inFlight(appends, FILL_IN_FLIGHT, () => {
    const first = next.stream;
    next.stream += FILL_EVENTS_PER_APPEND;
    return runtime.store.append('main', orderEvents(first, FILL_EVENTS_PER_APPEND), {
      idempotencyKey: `fill-${first}`,
    });
  });
}

/** Grows the chain to `size` records: generated in bulk, or appended (BENCH_CURVE_FILL=append). */
async function growTo(
  runtime: Runtime,
  db: SqlDatabase,
  next: { stream: number },
  size: number,
  log: (line: string) => void,
): Promise<number> {
  const started = performance.now();
  if (CURVE_FILL === 'append') await fillTo(runtime, next, size);
  else await growChain(db, runtime.signer, 'main', size, next, orderEvents, log);
  await db.query('VACUUM ANALYZE events, idempotency_keys');
  return (performance.now() - started) / 1000;
}

export async function costCurveBenchmark(log: (line: string) => void): Promise<CurvePoint[]> {
  return withChainRuntime('curve', async (runtime, db) => {
    const points: CurvePoint[] = [];
    const next = { stream: 0 };
    for (const size of CURVE_SIZES) {
      const fillSeconds = await growTo(runtime, db, next, size, log);
      const records = (await runtime.store.head('main')).seq;
      const appendStarted = performance.now();
      await inFlight(CURVE_APPEND_EVENTS, 64, () => {
        const first = next.stream;
        next.stream += 1;
        return runtime.store.append('main', orderEvents(first, 1));
      });
      const appendPerSecond = perSecond(CURVE_APPEND_EVENTS, performance.now() - appendStarted);
      const latency = await timedAppends(runtime, CURVE_LATENCY_SAMPLES, 1, next);
      const verifyFigures: VerifyFigures[] = [];
      for (const budget of CURVE_BUDGETS_MIB) verifyFigures.push(await timedVerify(runtime, db, budget));
      const point: CurvePoint = {
        records,
        fillSeconds,
        appendPerSecond,
        latency,
        verify: verifyFigures,
        tableMiB: await tableSizesMiB(db),
      };
      points.push(point);
      const verified = verifyFigures
        .map((v) => `budget ${v.budgetMiB} MiB: ${format(v.perSecond)} records/s, RSS +${v.peakRssMiB} MiB`)
        .join('; ');
      log(
        `at ${format(records)} records (grown in ${Math.round(fillSeconds)} s, ${CURVE_FILL}; load ${loadAverage()}): append ${format(appendPerSecond)} events/s (64 in flight); single append ${describeLatency(latency)}; audit-verify on ${availableParallelism()} threads, ${verified}; events ${point.tableMiB.events} MiB + indexes ${point.tableMiB.eventsIndexes} MiB, idempotency_keys ${point.tableMiB.idempotency} MiB, merkle_tiles ${point.tableMiB.tiles} MiB`,
      );
    }
    return points;
  });
}

function loadAverage(): string {
  return loadavg()
    .map((value) => value.toFixed(1))
    .join(' ');
}
