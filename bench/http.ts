/**
 * Benchmark of the HTTP API on loopback against PostgreSQL: `chainbook serve`
 * in a process of its own, an open-loop client in this one (requests sent on
 * schedule at a fixed offered rate, latency from when each was due). Two phases:
 * checkout (POST /orders), then finalize (POST /orders/:id/finalize) of orders
 * paid in between. Prints requests/s and latency p50/p95/p99 with the ratio
 * to the targets: the marketplace runbook's checkout p95 < 500 ms, and ours,
 * p95 < 25 ms at 1,000 requests/s.
 *
 *   node --import tsx bench/http.ts [--rate 1000] [--duration 20] [--connections 32] [--products 20] [--warmup 3]
 *
 * The first --warmup seconds of checkouts at the offered rate are not measured.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Agent, request as httpRequest } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { newToken, tokenDigest } from '../infra/entrypoints/http/auth/tokens.ts';
import { deliveryKey, demoArtifact, demoArtifactFields } from '../commands/demo/marketplaceFlow.ts';
import { numberOption, parseArguments } from './benchDatabase.ts';
import { benchDatabase, benchDir, format, percentile } from './lib.ts';

const options = parseArguments(process.argv.slice(2));
const RATE = numberOption(options, 'rate', 1000);
const DURATION_SECONDS = numberOption(options, 'duration', 20);
const CONNECTIONS = numberOption(options, 'connections', 32);
const PRODUCTS = numberOption(options, 'products', 20);
/** Seconds of checkouts at the offered rate before measuring (JIT, pools, prepared statements). */
const WARMUP_SECONDS = numberOption(options, 'warmup', 3);
const TARGET_P95_MS = 25;
const RUNBOOK_P95_MS = 500;
/** Paying orders between the phases: requests in flight at once. */
const SETUP_IN_FLIGHT = 32;
const CLI = fileURLToPath(new URL('../bin/chainbook.js', import.meta.url));

const ACTORS = {
  publisher: 'publisher-1:Publisher',
  operator: 'operator-1:Operator',
  buyer: 'buyer-1:Buyer',
  service: 'settlement:Service',
} as const;
type ActorName = keyof typeof ACTORS;
const tokens = Object.fromEntries(Object.keys(ACTORS).map((name) => [name, newToken()])) as Record<ActorName, string>;

async function startServer(databaseUrl: string, dataDir: string): Promise<{ url: string; child: ChildProcess }> {
  const env = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    CHAINBOOK_DATA_DIR: dataDir,
    PORT: '0',
    LOG_LEVEL: 'warn',
    API_TOKENS: Object.entries(ACTORS)
      .map(([name, actor]) => `${actor.split(':')[0]}:${actor.split(':')[1]}:${tokenDigest(tokens[name as ActorName])}`)
      .join(','),
    RATE_LIMIT_COMMANDS_PER_MINUTE: '10000000',
    RATE_LIMIT_QUERIES_PER_MINUTE: '10000000',
    RATE_LIMIT_ADDRESS_PER_MINUTE: '10000000',
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
    method: 'POST',
    headers: { authorization: `Bearer ${tokens[as]}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const parsed = (await response.json()) as Record<string, unknown>;
  if (response.status !== 200) throw new Error(`${path}: ${response.status} ${JSON.stringify(parsed)}`);
  return parsed;
}

interface Phase {
  name: string;
  requests: number;
  non2xx: number;
  /** Not-200 answers by status, and errors by code. */
  failures: Record<string, number>;
  /** The requests answered 200. */
  succeeded: Target[];
  requestsPerSecond: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
}

interface Target {
  path: string;
  body?: unknown;
}

/**
 * One phase, open loop: request i is due at start + i / RATE whatever the
 * answers before it, sent on one of CONNECTIONS keep-alive sockets (waiting
 * for a free one when all are busy), and its latency runs from when it was
 * due to its answer, so a slow server cannot slow the offered load down and
 * hide its own queueing (coordinated omission). autocannon's rate option was
 * not used for this: it sends each connection's share of a second at the
 * start of the second, in a burst.
 */
async function phase(
  name: string,
  url: string,
  as: ActorName,
  next: () => Target | undefined,
  amount?: number,
): Promise<Phase> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const total = amount ?? RATE * DURATION_SECONDS;
  const latenciesMs: number[] = [];
  const failures: Record<string, number> = {};
  const succeeded: Target[] = [];
  const fail = (reason: string): void => void (failures[reason] = (failures[reason] ?? 0) + 1);
  const send = (target: Target, dueMs: number): Promise<void> =>
    new Promise((resolve) => {
      const body = target.body === undefined ? '' : JSON.stringify(target.body);
      const request = httpRequest(
        `${url}${target.path}`,
        {
          agent,
          method: 'POST',
          headers: {
            authorization: `Bearer ${tokens[as]}`,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          },
        },
        (response) => {
          response.resume();
          response.once('end', () => {
            if (response.statusCode === 200) succeeded.push(target);
            else fail(String(response.statusCode));
            latenciesMs.push(performance.now() - dueMs);
            resolve();
          });
        },
      );
      request.once('error', (error: NodeJS.ErrnoException) => {
        fail(error.code ?? error.message);
        resolve();
      });
      request.end(body);
    });
  const started = performance.now();
  const inFlight: Promise<void>[] = [];
  let sent = 0;
  let exhausted = false;
  while (sent < total && !exhausted) {
    const now = performance.now();
    for (; sent < total && started + (sent * 1000) / RATE <= now; sent++) {
      const target = next();
      if (!target) {
        exhausted = true;
        break;
      }
      inFlight.push(send(target, started + (sent * 1000) / RATE));
    }
    await sleep(1);
  }
  await Promise.all(inFlight);
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  latenciesMs.sort((a, b) => a - b);
  return {
    name,
    requests: inFlight.length,
    non2xx: Object.values(failures).reduce((sum, count) => sum + count, 0),
    failures,
    succeeded,
    requestsPerSecond: Math.round(inFlight.length / seconds),
    p50Ms: percentile(latenciesMs, 50),
    p95Ms: percentile(latenciesMs, 95),
    p99Ms: percentile(latenciesMs, 99),
  };
}

async function payAll(url: string, orders: readonly { orderId: string; priceMinor: number }[]): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: SETUP_IN_FLIGHT }, async () => {
      while (next < orders.length) {
        const order = orders[next++]!;
        await call(url, 'service', `/orders/${order.orderId}/payments`, {
          providerPaymentId: `pay-${order.orderId}`,
          amountMinor: order.priceMinor,
          currency: 'EUR',
          outcome: 'succeeded',
        });
      }
    }),
  );
}

function report(phases: readonly Phase[]): void {
  process.stdout.write(
    `\nHTTP API on loopback, PostgreSQL, offered ${format(RATE)} requests/s, ${CONNECTIONS} connections\n`,
  );
  for (const p of phases) {
    process.stdout.write(
      `  ${p.name.padEnd(9)} ${format(p.requests)} requests (${p.non2xx} not 2xx${p.non2xx > 0 ? `: ${JSON.stringify(p.failures)}` : ''}), ${format(p.requestsPerSecond)}/s (${((p.requestsPerSecond / RATE) * 100).toFixed(0)}% of offered); ` +
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
        name: `product ${index}`,
        version: '1.0.0',
        priceMinor,
        currency: 'EUR',
        ...demoArtifactFields(1024),
        royaltySplits: [
          { partyId: 'publisher-1', basisPoints: 8000 },
          { partyId: `artist-${index % 3}`, basisPoints: 2000 },
        ],
      })) as { manifestId: string };
      const uploaded = await fetch(`${server.url}/manifests/${manifestId}/artifact`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tokens.publisher}`, 'content-type': 'application/octet-stream' },
        body: demoArtifact(1024),
      });
      if (uploaded.status !== 200) throw new Error(`artifact upload: ${uploaded.status} ${await uploaded.text()}`);
      await call(server.url, 'operator', `/manifests/${manifestId}/approve`);
      listings.push({
        listingId: ((await call(server.url, 'publisher', '/listings', { manifestId })) as { listingId: string })
          .listingId,
        priceMinor,
      });
    }
    const key = deliveryKey();
    // Checkout: the order id is the client's, so every request is a new order and the ids are known.
    let made = 0;
    const nextCheckout = (): Target => {
      const listing = listings[made % listings.length]!;
      return {
        path: '/orders',
        body: { orderId: `bench-${made++}`, listingId: listing.listingId, deliveryPublicKey: key },
      };
    };
    if (WARMUP_SECONDS > 0) await phase('warm-up', server.url, 'buyer', nextCheckout, RATE * WARMUP_SECONDS);
    const checkout = await phase('checkout', server.url, 'buyer', nextCheckout);
    const priceOf = new Map(listings.map((listing) => [listing.listingId, listing.priceMinor]));
    const created = checkout.succeeded.map((target) => {
      const { orderId, listingId } = target.body as { orderId: string; listingId: string };
      return { orderId, priceMinor: priceOf.get(listingId)! };
    });
    await payAll(server.url, created);
    let finalized = 0;
    const finalize = await phase(
      'finalize',
      server.url,
      'service',
      () => {
        const order = created[finalized++];
        return order && { path: `/orders/${order.orderId}/finalize` };
      },
      Math.min(created.length, RATE * DURATION_SECONDS),
    );
    report([checkout, finalize]);
    mkdirSync('bench/results', { recursive: true });
    writeFileSync(
      `bench/results/http-${new Date().toISOString().replaceAll(':', '-')}.json`,
      `${JSON.stringify({ rate: RATE, connections: CONNECTIONS, durationSeconds: DURATION_SECONDS, phases: [checkout, finalize].map(({ succeeded: _, ...figures }) => figures) }, null, 2)}\n`,
    );
  } finally {
    server.child.kill('SIGTERM');
    await new Promise((resolve) => server.child.once('exit', resolve));
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
