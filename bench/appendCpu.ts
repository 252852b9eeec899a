/**
 * Where an append's CPU goes (issue 19): single-event appends with 64 and 8
 * in flight on a fresh PostgreSQL database, and the CPU time spent per
 * appended event by this process's main thread, its other threads (the
 * signing thread, garbage collection), and the PostgreSQL backends serving
 * the run's connections, read from /proc around the timed appends. Needs
 * PostgreSQL on this machine (the bench server's processes in /proc).
 *
 *   npm run bench -- append-cpu
 *   BENCH_EVENTS=20000 npm run bench -- append-cpu
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadConfig } from '../infra/wiring/config.ts';
import { migrate } from '../infra/adapters/sql/migrate.ts';
import { openPostgres } from '../infra/adapters/sql/postgres.ts';
import type { SqlDatabase, SqlExecutor } from '../infra/adapters/sql/sql.ts';
import { openRuntime } from '../infra/wiring/runtime.ts';
import { benchDatabase, benchDir, format, inFlight, perSecond, orderEvent } from './lib.ts';

const EVENTS = Number(process.env['BENCH_EVENTS'] ?? 40_000);
const WARMUP_EVENTS = 2000;
/** Clock ticks a second of /proc/<pid>/stat's times (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** User plus system CPU time of a thread or process in seconds, from its /proc stat line. */
function cpuSeconds(statPath: string): number {
  try {
    const stat = readFileSync(statPath, 'utf8');
    // Fields after the command (which may hold spaces) in parentheses: utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return 0; // A thread or backend gone since it was listed.
  }
}

interface CpuSnapshot {
  main: number;
  otherThreads: Map<string, number>;
  backends: number;
}

function snapshot(backendPids: readonly number[]): CpuSnapshot {
  const otherThreads = new Map<string, number>();
  for (const tid of readdirSync('/proc/self/task'))
    if (Number(tid) !== process.pid) otherThreads.set(tid, cpuSeconds(`/proc/self/task/${tid}/stat`));
  return {
    main: cpuSeconds(`/proc/self/task/${process.pid}/stat`),
    otherThreads,
    backends: backendPids.reduce((sum, pid) => sum + cpuSeconds(`/proc/${pid}/stat`), 0),
  };
}

/** The PostgreSQL backends of the database's connections. */
async function backendPids(db: SqlDatabase): Promise<number[]> {
  const { rows } = await db.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE datname = current_database()',
  );
  return rows.map((row) => row.pid);
}

/** Counts the statements the writer sends, by their first words. */
function countingDb(db: SqlDatabase, counts: Map<string, number>): SqlDatabase {
  const count = (text: string): void => {
    const label = text.trim().split(/\s+/).slice(0, 3).join(' ');
    counts.set(label, (counts.get(label) ?? 0) + 1);
  };
  const counted = (executor: SqlExecutor): SqlExecutor => ({
    ...executor,
    query: (text, params) => (count(text), executor.query(text, params)),
  });
  return {
    ...db,
    query: counted(db).query,
    // The writer's batch statements go through `ordered` where the database has it.
    ordered: db.ordered && counted(db.ordered),
    transaction: (work) =>
      db.transaction((tx) => work({ ...tx, query: (text, params) => (count(`tx: ${text}`), tx.query(text, params)) })),
  };
}

export async function appendCpu(count: number, concurrency: number, log: (line: string) => void): Promise<void> {
  const database = await benchDatabase('appendcpu');
  const raw = openPostgres(database.url, { poolSize: 4 });
  const dataDir = benchDir('appendcpu');
  try {
    await migrate(raw);
    const statements = new Map<string, number>();
    const db = countingDb(raw, statements);
    const runtime = await openRuntime(loadConfig({ CHAINBOOK_DATA_DIR: dataDir }), { db, projections: false });
    try {
      const append = (index: number) => runtime.store.append('main', [orderEvent(index)]);
      await inFlight(WARMUP_EVENTS, concurrency, (index) => append(count + index));
      statements.clear();
      const earlier = await backendPids(raw);
      const before = snapshot(earlier);
      const elapsedMs = await inFlight(count, concurrency, append);
      // Backends started during the run count from their start.
      const pids = [...new Set([...earlier, ...(await backendPids(raw))])];
      const after = snapshot(pids);
      const perEvent = (seconds: number): string => `${format((seconds * 1e6) / count)} µs`;
      const threads = [...after.otherThreads]
        .map(([tid, seconds]) => seconds - (before.otherThreads.get(tid) ?? 0))
        .sort((a, b) => b - a);
      const others = threads.reduce((sum, seconds) => sum + seconds, 0);
      const main = after.main - before.main;
      const backends = after.backends - before.backends;
      log(
        `${concurrency} in flight: ${format(perSecond(count, elapsedMs))} events/s; CPU per event: main thread ${perEvent(main)}, ` +
          `other threads ${perEvent(others)} (busiest ${perEvent(threads[0] ?? 0)}), PostgreSQL backends (${pids.length}) ${perEvent(backends)}; ` +
          `all ${perEvent(main + others + backends)} against ${format((elapsedMs * 1000) / count)} µs of wall time an event`,
      );
      const batches = [...statements].map(([label, times]) => `${label} ×${format(times)}`).join(', ');
      log(`  statements sent: ${batches}`);
    } finally {
      await runtime.close();
    }
  } finally {
    await raw.close();
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function appendCpuBenchmark(log: (line: string) => void): Promise<void> {
  await appendCpu(EVENTS, 64, log);
  await appendCpu(EVENTS / 2, 8, log);
}
