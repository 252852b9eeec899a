/**
 * The HTTP API's ceiling and its latency at half of it (issue 19): `chainbook
 * serve` in its own process on PostgreSQL, every protection on (helmet,
 * authentication, rate limits counted, strict JSON, zod, idempotency).
 *
 * 1. The peer: GET /chain/head (authenticated, rate-limited, one SQL read, no
 *    append) in a closed loop: what the same server answers when nothing is
 *    decided or appended.
 * 2. The ceiling: checkout, payment and finalize in turn, each in a closed
 *    loop of BENCH_HTTP_CONNECTIONS connections for BENCH_HTTP_SECONDS; the
 *    flow's rate is its three requests over the three phases' time.
 * 3. Half of it: checkout and finalize again in an open loop at half of their
 *    ceilings, latency from when each request was due.
 *
 * The server runs the compiled build (`npm run build` after changing the
 * source); BENCH_HTTP_SERVER names another build's bin/chainbook.js.
 */
import { format, ratio } from './lib.ts';
import {
  checkouts,
  closedLoop,
  createdOrders,
  finalization,
  listProducts,
  openLoop,
  payAll,
  payment,
  startBenchServer,
  type CreatedOrder,
  type PhaseFigures,
  type Target,
} from './httpLoad.ts';

const SECONDS = Number(process.env['BENCH_HTTP_SECONDS'] ?? 10);
const CONNECTIONS = Number(process.env['BENCH_HTTP_CONNECTIONS'] ?? 64);
/** Connections of the open-loop phases: enough that the client never waits for a socket at half the ceiling. */
const OPEN_LOOP_CONNECTIONS = 32;
const PRODUCTS = 10;
const WARMUP_SECONDS = 3;
/** Our target (issue 19): p95 under this at half the ceiling. */
export const TARGET_P95_MS = 25;
/**
 * The ceiling before issue 19, from the README ("offered 1,000 requests/s",
 * measured 2026-11-23 with bench/http.ts --rate 1000, under load from other
 * runs): checkouts and finalizations answered per second.
 */
export const README_CHECKOUT_CEILING = 432;
export const README_FINALIZE_CEILING = 360;

export interface HttpFigures {
  headPerSecond: number;
  checkout: PhaseFigures;
  payment: PhaseFigures;
  finalize: PhaseFigures;
  /** Requests of the whole flow (checkout, payment, finalize) per second at the ceiling. */
  flowPerSecond: number;
  halfCheckout: PhaseFigures;
  halfFinalize: PhaseFigures;
}

function line(phase: PhaseFigures): string {
  const failures = phase.non2xx > 0 ? ` (${phase.non2xx} not 200: ${JSON.stringify(phase.failures)})` : '';
  return `${phase.name}: ${format(phase.requestsPerSecond)}/s, ${format(phase.requests)} requests${failures}; p50 ${format(phase.p50Ms)} ms, p95 ${format(phase.p95Ms)} ms, p99 ${format(phase.p99Ms)} ms; CPU a request: server ${format(phase.serverCpuUs)} µs, PostgreSQL ${format(phase.databaseCpuUs)} µs`;
}

function cycle(orders: readonly CreatedOrder[], make: (order: CreatedOrder) => Target): () => Target | undefined {
  let next = 0;
  return () => {
    const order = orders[next++];
    return order && make(order);
  };
}

export async function httpBenchmark(log: (line: string) => void): Promise<HttpFigures> {
  const server = await startBenchServer('http');
  try {
    const listings = await listProducts(server, PRODUCTS);
    const closed = (name: string, as: 'buyer' | 'service' | 'operator', next: () => Target | undefined) =>
      closedLoop(server, { name, as, seconds: SECONDS, connections: CONNECTIONS }, next);
    log(`${CONNECTIONS} connections, ${SECONDS} s a phase`);
    const warm = checkouts(listings, 'warm');
    await closedLoop(
      server,
      { name: 'warm-up', as: 'buyer', seconds: WARMUP_SECONDS, connections: CONNECTIONS },
      warm.next,
    );
    const head = await closed('GET /chain/head', 'operator', () => ({ method: 'GET', path: '/chain/head' }));
    log(line(head));
    const checkout = await closed('checkout', 'buyer', checkouts(listings, 'ceiling').next);
    log(line(checkout));
    const created = createdOrders(checkout.succeeded, listings);
    // Every order is paid, however long the closed loop takes for them: finalize needs them all.
    const paying = await closedLoop(
      server,
      { name: 'payment', as: 'service', seconds: Number.POSITIVE_INFINITY, connections: CONNECTIONS },
      cycle(created, payment),
    );
    log(line(paying));
    const finalize = await closed('finalize', 'service', cycle(created, finalization));
    log(line(finalize));
    const flowSeconds = checkout.seconds + paying.seconds + finalize.seconds;
    const answered = checkout.succeeded.length + paying.succeeded.length + finalize.succeeded.length;
    const flowPerSecond = Math.round(answered / flowSeconds);
    log(`the flow (checkout, payment, finalize): ${format(flowPerSecond)} requests/s`);

    const halfRate = Math.max(1, Math.round(checkout.requestsPerSecond / 2));
    const half = checkouts(listings, 'half');
    const halfCheckout = await openLoop(
      server,
      {
        name: `checkout at ${format(halfRate)}/s`,
        as: 'buyer',
        rate: halfRate,
        total: halfRate * SECONDS,
        connections: OPEN_LOOP_CONNECTIONS,
      },
      half.next,
    );
    log(line(halfCheckout));
    const halfCreated = createdOrders(halfCheckout.succeeded, listings);
    await payAll(server, halfCreated);
    const halfFinalizeRate = Math.max(1, Math.round(finalize.requestsPerSecond / 2));
    const halfFinalize = await openLoop(
      server,
      {
        name: `finalize at ${format(halfFinalizeRate)}/s`,
        as: 'service',
        rate: halfFinalizeRate,
        total: Math.min(halfCreated.length, halfFinalizeRate * SECONDS),
        connections: OPEN_LOOP_CONNECTIONS,
      },
      cycle(halfCreated, finalization),
    );
    log(line(halfFinalize));
    return {
      headPerSecond: head.requestsPerSecond,
      checkout,
      payment: paying,
      finalize,
      flowPerSecond,
      halfCheckout,
      halfFinalize,
    };
  } finally {
    await server.stop();
  }
}

/** The run's ratios: the ceiling against the no-append peer and against the README's figure before issue 19. */
export function httpRatios(f: HttpFigures): string[] {
  return [
    `checkout ceiling ${format(f.checkout.requestsPerSecond)}/s: ${ratio(f.checkout.requestsPerSecond, f.headPerSecond)} of GET /chain/head's ${format(f.headPerSecond)}/s (same run); ${format(f.checkout.requestsPerSecond / README_CHECKOUT_CEILING)}x the README's ${README_CHECKOUT_CEILING}/s (2026-11-23, another run)`,
    `finalize ceiling ${format(f.finalize.requestsPerSecond)}/s: ${ratio(f.finalize.requestsPerSecond, f.headPerSecond)} of GET /chain/head; ${format(f.finalize.requestsPerSecond / README_FINALIZE_CEILING)}x the README's ${README_FINALIZE_CEILING}/s`,
    `payment ceiling ${format(f.payment.requestsPerSecond)}/s; the flow ${format(f.flowPerSecond)} requests/s: ${ratio(f.flowPerSecond, f.headPerSecond)} of GET /chain/head`,
    `p95 at half the ceiling: checkout ${format(f.halfCheckout.p95Ms)} ms, finalize ${format(f.halfFinalize.p95Ms)} ms (target < ${TARGET_P95_MS} ms: ${f.halfCheckout.p95Ms < TARGET_P95_MS && f.halfFinalize.p95Ms < TARGET_P95_MS ? 'met' : 'not met'})`,
  ];
}
