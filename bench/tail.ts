/**
 * What makes the single-append latency's tail (issue 19: p99 of one
 * appender): every append of one appender timed, with what happened during
 * it. Each statement's time (through a wrapped database), the garbage
 * collections that started while it ran (a PerformanceObserver on `gc`), the
 * Merkle tiles its statement wrote (one a 256th append fills a tile of level
 * 0), the process's CPU time, and whether it was among the first appends of
 * the run (the connection's and the JIT's warm-up). Prints the percentiles,
 * each class's count, median and share of the slowest 1%, and the slowest
 * appends one by one.
 *
 *   npm run bench -- tail
 *   BENCH_TAIL_APPENDS=5000 npm run bench -- tail
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { rmSync } from 'node:fs';
import { migrate } from '../infra/adapters/sql/migrate.ts';
import { openPostgres } from '../infra/adapters/sql/postgres.ts';
import type { SqlDatabase } from '../infra/adapters/sql/sql.ts';
import { loadConfig } from '../infra/wiring/config.ts';
import { openRuntime } from '../infra/wiring/runtime.ts';
import { benchDatabase, benchDir, format, percentile, orderEvent } from './lib.ts';

const APPENDS = Number(process.env['BENCH_TAIL_APPENDS'] ?? 2000);
/** The first appends of a run, counted as warm-up. */
const WARM_UP_APPENDS = 100;
/** Slowest appends printed one by one. */
const SHOWN_APPENDS = 12;
/** insertBatch's parameter holding the tiles' levels (infra/adapters/sql/eventLog.ts). */
const TILE_LEVELS_PARAMETER = 17;

interface Statement {
  label: string;
  startMs: number;
  durationMs: number;
}

interface TimedAppend {
  index: number;
  startMs: number;
  totalMs: number;
  cpuMs: number;
  tiles: number;
  statements: Statement[];
  gcMs: number[];
}

/** The database, each statement timed into the append running. */
function timedDatabase(db: SqlDatabase, current: () => TimedAppend | undefined): SqlDatabase {
  const label = (text: string): string => text.trim().split(/\s+/).slice(0, 3).join(' ');
  return {
    ...db,
    engine: db.engine,
    location: db.location,
    async query(text, params) {
      const started = performance.now();
      const result = await db.query(text, params);
      const append = current();
      if (append) {
        append.statements.push({
          label: label(text),
          startMs: started - append.startMs,
          durationMs: performance.now() - started,
        });
        const levels = params?.[TILE_LEVELS_PARAMETER];
        if (text.includes('merkle_tiles') && Array.isArray(levels)) append.tiles += levels.length;
      }
      return result as never;
    },
    exec: (text) => db.exec(text),
    transaction: (work) => db.transaction(work),
    listen: (channel, onNotify, onLost) => db.listen(channel, onNotify, onLost),
    close: () => db.close(),
  };
}

async function timeAppends(count: number): Promise<TimedAppend[]> {
  const collections: { startMs: number; durationMs: number }[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) collections.push({ startMs: entry.startTime, durationMs: entry.duration });
  });
  observer.observe({ entryTypes: ['gc'] });
  const database = await benchDatabase('tail');
  const raw = openPostgres(database.url, { poolSize: 2 });
  const dataDir = benchDir('tail');
  const appends: TimedAppend[] = [];
  let current: TimedAppend | undefined;
  try {
    await migrate(raw);
    const db = timedDatabase(raw, () => current);
    const runtime = await openRuntime(loadConfig({ CHAINBOOK_DATA_DIR: dataDir }), { db, projections: false });
    try {
      for (let index = 0; index < count; index++) {
        const cpu = process.cpuUsage();
        current = { index, startMs: performance.now(), totalMs: 0, cpuMs: 0, tiles: 0, statements: [], gcMs: [] };
        await runtime.store.append('main', [orderEvent(index)]);
        current.totalMs = performance.now() - current.startMs;
        const used = process.cpuUsage(cpu);
        current.cpuMs = (used.user + used.system) / 1000;
        appends.push(current);
        current = undefined;
      }
    } finally {
      await runtime.close();
    }
  } finally {
    observer.disconnect();
    await raw.close();
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
  let next = 0;
  for (const collection of collections.sort((a, b) => a.startMs - b.startMs)) {
    while (next < appends.length && appends[next]!.startMs + appends[next]!.totalMs < collection.startMs) next++;
    const append = appends[next];
    if (append && append.startMs <= collection.startMs) append.gcMs.push(collection.durationMs);
  }
  return appends;
}

function classOf(append: TimedAppend): string {
  if (append.index < WARM_UP_APPENDS) return `first ${WARM_UP_APPENDS}`;
  if (append.gcMs.length > 0) return 'a garbage collection';
  if (append.tiles > 0) return 'a tile filled';
  return 'none of these';
}

function median(values: number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

export async function tailBenchmark(log: (line: string) => void): Promise<void> {
  const appends = await timeAppends(APPENDS);
  const sorted = appends.map((append) => append.totalMs).sort((a, b) => a - b);
  const p99 = percentile(sorted, 99);
  log(
    `${APPENDS} single-event appends, one after another: p50 ${format(percentile(sorted, 50))} ms, p99 ${format(p99)} ms, p99.9 ${format(percentile(sorted, 99.9))} ms`,
  );
  const slowest = appends.filter((append) => append.totalMs >= p99);
  const classes = new Map<string, TimedAppend[]>();
  for (const append of appends) classes.set(classOf(append), [...(classes.get(classOf(append)) ?? []), append]);
  for (const [name, members] of classes)
    log(
      `appends with ${name}: ${members.length}, median ${format(median(members.map((a) => a.totalMs)))} ms (CPU ${format(median(members.map((a) => a.cpuMs)))} ms), ${slowest.filter((a) => classOf(a) === name).length} of the ${slowest.length} at or above p99`,
    );
  for (const append of [...slowest].sort((a, b) => b.totalMs - a.totalMs).slice(0, SHOWN_APPENDS)) {
    const statements = append.statements
      .map((s) => `${s.label} at ${format(s.startMs)} for ${format(s.durationMs)}`)
      .join('; ');
    const gc = append.gcMs.length > 0 ? `; gc ${append.gcMs.map(format).join(', ')} ms` : '';
    const tiles = append.tiles > 0 ? `; ${append.tiles} tiles` : '';
    log(`  #${append.index}: ${format(append.totalMs)} ms, CPU ${format(append.cpuMs)} ms: ${statements}${gc}${tiles}`);
  }
}
