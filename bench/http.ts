/**
 * Benchmark of the HTTP API on loopback against PostgreSQL: `chainbook serve`
 * in a process of its own, autocannon as the client. Two phases at a fixed
 * offered rate (open loop, autocannon corrects for coordinated omission):
 * checkout (POST /orders), then finalize (POST /orders/:id/finalize) of orders
 * paid in between. Prints requests/s and latency p50/p95/p99 with the ratio
 * to the targets: the marketplace runbook's checkout p95 < 500 ms, and ours,
 * p95 < 25 ms at 1,000 requests/s.
 *
 *   node --import tsx bench/http.ts [--rate 1000] [--duration 20] [--connections 32] [--products 20]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { newToken, tokenDigest } from '../infra/http/auth/tokens.ts';
import { deliveryKey } from '../infra/demo/marketplaceFlow.ts';
import { numberOption, parseArguments } from './benchDatabase.ts';
import { benchDatabase, benchDir, format, percentile } from './lib.ts';

const options = parseArguments(process.argv.slice(2));
const RATE = numberOption(options, 'rate', 1000);
const DURATION_SECONDS = numberOption(options, 'duration', 20);
const CONNECTIONS = numberOption(options, 'connections', 32);
const PRODUCTS = numberOption(options, 'products', 20);
const TARGET_P95_MS = 25;
const RUNBOOK_P95_MS = 500;
/** Paying orders between the phases: requests in flight at once. */
const SETUP_IN_FLIGHT = 32;
const CLI = fileURLToPath(new URL('../bin/chainbook.js', import.meta.url));

const ACTORS = { publisher: 'publisher-1:Publisher', operator: 'operator-1:Operator', buyer: 'buyer-1:Buyer', service: 'settlement:Service' } as const;
type ActorName = keyof typeof ACTORS;
const tokens = Object.fromEntries(Object.keys(ACTORS).map((name) => [name, newToken()])) as Record<ActorName, string>;

async function startServer(databaseUrl: string, dataDir: string): Promise<{ url: string; child: ChildProcess }> {
  const env = {
    ...process.env, DATABASE_URL: databaseUrl, CHAINBOOK_DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'warn',
    API_TOKENS: Object.entries(ACTORS).map(([name, actor]) => `${actor.split(':')[0]}:${actor.split(':')[1]}:${tokenDigest(tokens[name as ActorName])}`).join(','),
    RATE_LIMIT_COMMANDS_PER_MINUTE: '10000000', RATE_LIMIT_QUERIES_PER_MINUTE: '10000000',
  };
  const child = spawn(process.execPath, [CLI, 'serve'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const match = /serving (http:\/\/\S+)/.exec(output);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`chainbook serve exited with ${code}: ${output}`)));
  });
  return { url, child };
}

async function call(url: string, as: ActorName, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(`${url}${path}`, {
    method: 'POST', headers: { authorization: `Bearer ${tokens[as]}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const parsed = (await response.json()) as Record<string, unknown>;
  if (response.status !== 200) throw new Error(`${path}: ${response.status} ${JSON.stringify(parsed)}`);
  return parsed;
}

interface Phase {
  name: string;
  requests: number;
  non2xx: number;
  requestsPerSecond: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
}

/** One autocannon run; latencies are collected per response (autocannon's own summary has no p95). */
async function phase(name: string, url: string, as: ActorName, next: () => { path: string; body?: unknown } | undefined, amount?: number): Promise<Phase> {
  const latenciesMs: number[] = [];
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
  const instance = autocannon({
    url, connections: CONNECTIONS, overallRate: RATE, ...(amount === undefined ? { duration: DURATION_SECONDS } : { amount }),
    requests: [{
      method: 'POST', headers: { authorization: `Bearer ${tokens[as]}`, 'content-type': 'application/json' },
      setupRequest: (request) => {
        const target = next();
        if (!target) return request;
        return { ...request, path: target.path, ...(target.body === undefined ? {} : { body: JSON.stringify(target.body) }) };
      },
    }],
  }, (error, finished) => (error ? reject(error as Error) : resolve(finished)));
  instance.on('response', (_client, _status, _bytes, responseTimeMs) => latenciesMs.push(responseTimeMs));
  });
  latenciesMs.sort((a, b) => a - b);
  const seconds = (result.duration || DURATION_SECONDS);
  return {
    name, requests: result.requests.total, non2xx: result.non2xx + result.errors, requestsPerSecond: Math.round(result.requests.total / seconds),
    p50Ms: percentile(latenciesMs, 50), p95Ms: percentile(latenciesMs, 95), p99Ms: percentile(latenciesMs, 99),
  };
}

async function payAll(url: string, orders: readonly { orderId: string; priceMinor: number }[]): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: SETUP_IN_FLIGHT }, async () => {
    while (next < orders.length) {
      const order = orders[next++]!;
      await call(url, 'service', `/orders/${order.orderId}/payments`, { providerPaymentId: `pay-${order.orderId}`, amountMinor: order.priceMinor, currency: 'EUR', outcome: 'succeeded' });
    }
  }));
}

function report(phases: readonly Phase[]): void {
  process.stdout.write(`\nHTTP API on loopback, PostgreSQL, offered ${format(RATE)} requests/s, ${CONNECTIONS} connections\n`);
  for (const p of phases) {
    process.stdout.write(
      `  ${p.name.padEnd(9)} ${format(p.requests)} requests (${p.non2xx} not 2xx), ${format(p.requestsPerSecond)}/s (${((p.requestsPerSecond / RATE) * 100).toFixed(0)}% of offered); ` +
        `p50 ${format(p.p50Ms)} ms, p95 ${format(p.p95Ms)} ms, p99 ${format(p.p99Ms)} ms; p95 is ${((p.p95Ms / TARGET_P95_MS) * 100).toFixed(0)}% of our ${TARGET_P95_MS} ms target, ` +
        `${((p.p95Ms / RUNBOOK_P95_MS) * 100).toFixed(1)}% of the runbook's ${RUNBOOK_P95_MS} ms\n`,
    );
  }
}

async function main(): Promise<void> {
  const database = await benchDatabase('http');
  const dataDir = benchDir('http');
  const server = await startServer(database.url, dataDir);
  try {
    const listings: { listingId: string; priceMinor: number }[] = [];
    for (let index = 0; index < PRODUCTS; index++) {
      const priceMinor = 500 + index * 37;
      const { manifestId } = (await call(server.url, 'publisher', '/manifests', {
        name: `product ${index}`, version: '1.0.0', priceMinor, currency: 'EUR', artifactSha256: 'a'.repeat(64), sizeBytes: 1024,
        royaltySplits: [{ partyId: 'publisher-1', basisPoints: 8000 }, { partyId: `artist-${index % 3}`, basisPoints: 2000 }],
      })) as { manifestId: string };
      await call(server.url, 'operator', `/manifests/${manifestId}/approve`);
      listings.push({ listingId: ((await call(server.url, 'publisher', '/listings', { manifestId })) as { listingId: string }).listingId, priceMinor });
    }
    const key = deliveryKey();
    const orders: { orderId: string; priceMinor: number }[] = [];
    // Checkout: the order id is the client's, so every request is a new order and the ids are known.
    let made = 0;
    const checkout = await phase('checkout', server.url, 'buyer', () => {
      const listing = listings[made % listings.length]!;
      const orderId = `bench-${made++}`;
      orders.push({ orderId, priceMinor: listing.priceMinor });
      return { path: '/orders', body: { orderId, listingId: listing.listingId, deliveryPublicKey: key } };
    });
    const created = orders.slice(0, checkout.requests - checkout.non2xx);
    await payAll(server.url, created);
    let finalized = 0;
    const finalize = await phase('finalize', server.url, 'service', () => {
      const order = created[finalized++ % created.length]!;
      return { path: `/orders/${order.orderId}/finalize` };
    }, Math.min(created.length, RATE * DURATION_SECONDS));
    report([checkout, finalize]);
    mkdirSync('bench/results', { recursive: true });
    writeFileSync(`bench/results/http-${new Date().toISOString().replaceAll(':', '-')}.json`, `${JSON.stringify({ rate: RATE, connections: CONNECTIONS, durationSeconds: DURATION_SECONDS, phases: [checkout, finalize] }, null, 2)}\n`);
  } finally {
    server.child.kill('SIGTERM');
    await new Promise((resolve) => server.child.once('exit', resolve));
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
