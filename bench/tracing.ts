/**
 * What tracing costs the append path (PostgreSQL, single-event appends, 64 in flight, the chain
 * alone): off (OTEL_COLLECTOR_URL unset: chain/tracing.ts tests one flag) and on (the SDK started,
 * every span of the append path recorded and handed to a batch processor whose exporter drops
 * them, so the collector's network is not measured). Rounds alternate so that drift in the
 * machine's load falls on both; the best round of each.
 */
import { rmSync } from 'node:fs';
import { tracing as sdkTracing } from '@opentelemetry/sdk-node';
import { setTracingEnabled } from '../chain/tracing.ts';
import { startTracing } from '../infra/adapters/tracing.ts';
import { migrate } from '../infra/adapters/sql/migrate.ts';
import { openPostgres } from '../infra/adapters/sql/postgres.ts';
import { loadConfig } from '../infra/wiring/config.ts';
import { openRuntime } from '../infra/wiring/runtime.ts';
import { benchDatabase, benchDir, format, inFlight, perSecond, orderEvent } from './lib.ts';

const EVENTS = Number(process.env['BENCH_EVENTS'] ?? 10_000);
const ROUNDS = 3;

/** An exporter that keeps nothing: the cost measured is recording spans, not sending them. */
const discard: sdkTracing.SpanExporter = {
  export: (_spans, done) => done({ code: 0 }),
  shutdown: () => Promise.resolve(),
};

/** events/s of EVENTS single-event appends, 64 in flight, on a fresh database. */
export async function appendRate(count = EVENTS): Promise<number> {
  const database = await benchDatabase('tracing');
  const db = openPostgres(database.url, { poolSize: 4 });
  const dataDir = benchDir('tracing');
  try {
    await migrate(db);
    const runtime = await openRuntime(loadConfig({ CHAINBOOK_DATA_DIR: dataDir }), { db, projections: false });
    try {
      const elapsed = await inFlight(count, 64, (index) => runtime.store.append('main', [orderEvent(index)]));
      return perSecond(count, elapsed);
    } finally {
      await runtime.close();
    }
  } finally {
    await db.close();
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function tracingCost(log: (line: string) => void): Promise<{ off: number; on: number }> {
  const sdk = startTracing({ spanProcessors: [new sdkTracing.BatchSpanProcessor(discard)] });
  let off = 0;
  let on = 0;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      setTracingEnabled(false);
      off = Math.max(off, await appendRate());
      setTracingEnabled(true);
      on = Math.max(on, await appendRate());
    }
  } finally {
    await sdk?.shutdown();
  }
  log(
    `tracing, 64 in flight (best of ${ROUNDS}, ${format(EVENTS)} events): off ${format(off)}, on ${format(on)} events/s (on is ${format((on / off) * 100)}% of off)`,
  );
  return { off, on };
}
