/**
 * What the HTTP benchmarks share: `chainbook serve` in a process of its own
 * on a throwaway PostgreSQL database, tokens for its actors, listings to buy,
 * and the two ways of loading it: open loop (requests sent on schedule at an
 * offered rate) and closed loop (a fixed number of connections, each sending
 * its next request when the last is answered: the server's ceiling).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Agent, request as httpRequest } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { newToken, tokenDigest } from '../infra/entrypoints/http/auth/tokens.ts';
import { deliveryKey, demoArtifact, demoArtifactFields } from '../commands/demo/marketplaceFlow.ts';
import { benchDatabase, benchDir, percentile } from './lib.ts';

/** The compiled build (npm run build after changing the source); BENCH_HTTP_SERVER names another build's CLI. */
const CLI = process.env['BENCH_HTTP_SERVER'] ?? fileURLToPath(new URL('../bin/chainbook.js', import.meta.url));
/** Paying orders between phases: requests in flight at once. */
const SETUP_IN_FLIGHT = 32;

export const ACTORS = {
  publisher: 'publisher-1:Publisher',
  operator: 'operator-1:Operator',
  buyer: 'buyer-1:Buyer',
  service: 'settlement:Service',
} as const;
export type ActorName = keyof typeof ACTORS;

export interface BenchServer {
  url: string;
  tokens: Record<ActorName, string>;
  /**
   * CPU milliseconds used so far by the server process (all its threads) and
   * by the PostgreSQL backends serving its database: unlike the wall clock,
   * hardly moved by other processes on the same cores.
   */
  cpuMs(): Promise<{ server: number; database: number }>;
  /** Stops the server, drops its database and removes its data folder. */
  stop(): Promise<void>;
}

/**
 * Starts `chainbook serve` with every protection on. The rate limits are
 * raised (one client sends everything) but still counted on every request.
 * The inspection plugins are those this machine can run: `yara` is not
 * always installed, and manifests are only submitted before the timed phases.
 */
export async function startBenchServer(label: string): Promise<BenchServer> {
  const tokens = Object.fromEntries(Object.keys(ACTORS).map((name) => [name, newToken()])) as Record<ActorName, string>;
  const database = await benchDatabase(label);
  const dataDir = benchDir(label);
  const env = {
    ...process.env,
    DATABASE_URL: database.url,
    CHAINBOOK_DATA_DIR: dataDir,
    PORT: '0',
    LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'warn',
    INSPECTION_PLUGINS: process.env['INSPECTION_PLUGINS'] ?? 'content-type,secrets,text-rules',
    API_TOKENS: Object.entries(ACTORS)
      .map(([name, actor]) => `${actor.split(':')[0]}:${actor.split(':')[1]}:${tokenDigest(tokens[name as ActorName])}`)
      .join(','),
    RATE_LIMIT_COMMANDS_PER_MINUTE: '10000000',
    RATE_LIMIT_QUERIES_PER_MINUTE: '10000000',
    RATE_LIMIT_ADDRESS_PER_MINUTE: '10000000',
  };
  const child = spawn(process.execPath, [...serverNodeOptions(), CLI, 'serve'], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  let url: string;
  try {
    url = await new Promise<string>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString('utf8');
        const match = /serving (http:\/\/\S+)/.exec(output);
        if (match) resolve(match[1]!);
      });
      child.once('exit', (code) => reject(new Error(`chainbook serve exited with ${code}: ${output}`)));
    });
  } catch (error) {
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
  // Read what it writes, so that a full pipe never blocks it.
  child.stdout!.resume();
  const backends = new pg.Client({ connectionString: database.url });
  await backends.connect();
  return {
    url,
    tokens,
    cpuMs: async () => {
      const { rows } = await backends.query<{ pid: number }>(
        'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
      );
      return { server: processCpuMs(child.pid!), database: sum(rows.map((row) => processCpuMs(row.pid))) };
    },
    stop: async () => {
      await backends.end();
      await stopServer(child, database.drop, dataDir);
    },
  };
}

/** Clock ticks a second of /proc/<pid>/stat's times (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** User and system CPU time of a process and its threads; 0 when it is gone or /proc is not there. */
function processCpuMs(pid: number): number {
  try {
    // The fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

const sum = (values: readonly number[]): number => values.reduce((total, value) => total + value, 0);

/** BENCH_HTTP_SERVER_NODE_OPTIONS: node options of the server alone (`--cpu-prof --cpu-prof-dir=…`). */
function serverNodeOptions(): string[] {
  return (process.env['BENCH_HTTP_SERVER_NODE_OPTIONS'] ?? '').split(/\s+/).filter((option) => option !== '');
}

async function stopServer(child: ChildProcess, drop: () => Promise<void>, dataDir: string): Promise<void> {
  if (child.exitCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
  await drop();
  rmSync(dataDir, { recursive: true, force: true });
}

export async function call(
  server: BenchServer,
  as: ActorName,
  path: string,
  body?: unknown,
): Promise<Record<string, unknown>> {
  const response = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${server.tokens[as]}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const parsed = (await response.json()) as Record<string, unknown>;
  if (response.status !== 200) throw new Error(`${path}: ${response.status} ${JSON.stringify(parsed)}`);
  return parsed;
}

export interface Listing {
  listingId: string;
  priceMinor: number;
}

/** Products submitted, their artifacts uploaded, approved and listed: what checkouts buy. */
export async function listProducts(server: BenchServer, products: number): Promise<Listing[]> {
  const listings: Listing[] = [];
  for (let index = 0; index < products; index++) {
    const priceMinor = 500 + index * 37;
    const { manifestId } = (await call(server, 'publisher', '/manifests', {
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
      headers: { authorization: `Bearer ${server.tokens.publisher}`, 'content-type': 'application/octet-stream' },
      body: demoArtifact(1024),
    });
    if (uploaded.status !== 200) throw new Error(`artifact upload: ${uploaded.status} ${await uploaded.text()}`);
    await call(server, 'operator', `/manifests/${manifestId}/approve`);
    listings.push({
      listingId: ((await call(server, 'publisher', '/listings', { manifestId })) as { listingId: string }).listingId,
      priceMinor,
    });
  }
  return listings;
}

export interface Target {
  method?: 'GET' | 'POST';
  path: string;
  body?: unknown;
}

/** Checkouts of the listings in turn, each a new order whose id is the client's, so that it is known. */
export function checkouts(listings: readonly Listing[], prefix: string): { next: () => Target; made: () => number } {
  const key = deliveryKey();
  let made = 0;
  return {
    next: () => {
      const listing = listings[made % listings.length]!;
      return {
        path: '/orders',
        body: { orderId: `${prefix}-${made++}`, listingId: listing.listingId, deliveryPublicKey: key },
      };
    },
    made: () => made,
  };
}

export interface CreatedOrder {
  orderId: string;
  priceMinor: number;
}

/** The orders the checkouts answered 200 created, with their prices. */
export function createdOrders(succeeded: readonly Target[], listings: readonly Listing[]): CreatedOrder[] {
  const priceOf = new Map(listings.map((listing) => [listing.listingId, listing.priceMinor]));
  return succeeded.map((target) => {
    const { orderId, listingId } = target.body as { orderId: string; listingId: string };
    return { orderId, priceMinor: priceOf.get(listingId)! };
  });
}

/** The payment of an order, as the settlement service records it. */
export function payment(order: CreatedOrder): Target {
  return {
    path: `/orders/${order.orderId}/payments`,
    body: {
      providerPaymentId: `pay-${order.orderId}`,
      amountMinor: order.priceMinor,
      currency: 'EUR',
      outcome: 'succeeded',
    },
  };
}

export function finalization(order: CreatedOrder): Target {
  return { path: `/orders/${order.orderId}/finalize` };
}

/** Pays every order, SETUP_IN_FLIGHT at a time; throws on any answer but 200. */
export async function payAll(server: BenchServer, orders: readonly CreatedOrder[]): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: SETUP_IN_FLIGHT }, async () => {
      while (next < orders.length) {
        const { path, body } = payment(orders[next++]!);
        await call(server, 'service', path, body);
      }
    }),
  );
}

export interface PhaseFigures {
  name: string;
  requests: number;
  non2xx: number;
  /** Not-200 answers by status, and errors by code. */
  failures: Record<string, number>;
  /** The requests answered 200. */
  succeeded: Target[];
  /** How long the phase took. */
  seconds: number;
  /** Answered 200, per second of the phase. */
  requestsPerSecond: number;
  /** CPU per request of the server process and of PostgreSQL's backends, over the phase. */
  serverCpuUs: number;
  databaseCpuUs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
}

/** One request on `agent`; resolves with its status, or the error's code. */
function send(server: BenchServer, agent: Agent, as: ActorName, target: Target): Promise<string> {
  return new Promise((resolve) => {
    const body = target.body === undefined ? '' : JSON.stringify(target.body);
    const method = target.method ?? 'POST';
    const request = httpRequest(
      `${server.url}${target.path}`,
      {
        agent,
        method,
        headers: {
          authorization: `Bearer ${server.tokens[as]}`,
          ...(method === 'POST'
            ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }
            : {}),
        },
      },
      (response) => {
        response.resume();
        response.once('end', () => resolve(String(response.statusCode)));
      },
    );
    request.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    request.end(body);
  });
}

function figures(
  name: string,
  latenciesMs: number[],
  outcomes: { target: Target; status: string }[],
  seconds: number,
  cpu: { server: number; database: number },
): PhaseFigures {
  const failures: Record<string, number> = {};
  const succeeded: Target[] = [];
  for (const { target, status } of outcomes) {
    if (status === '200') succeeded.push(target);
    else failures[status] = (failures[status] ?? 0) + 1;
  }
  latenciesMs.sort((a, b) => a - b);
  return {
    name,
    requests: outcomes.length,
    non2xx: outcomes.length - succeeded.length,
    failures,
    succeeded,
    seconds,
    requestsPerSecond: Math.round(succeeded.length / seconds),
    serverCpuUs: Math.round((cpu.server * 1000) / outcomes.length),
    databaseCpuUs: Math.round((cpu.database * 1000) / outcomes.length),
    p50Ms: percentile(latenciesMs, 50),
    p95Ms: percentile(latenciesMs, 95),
    p99Ms: percentile(latenciesMs, 99),
  };
}

/**
 * Open loop: request i is due at start + i / rate whatever the answers
 * before it, sent on one of `connections` keep-alive sockets (waiting for a
 * free one when all are busy), and its latency runs from when it was due to
 * its answer, so a slow server cannot slow the offered load down and hide its
 * own queueing (coordinated omission). autocannon's rate option was not used
 * for this: it sends each connection's share of a second at the start of the
 * second, in a burst.
 */
export async function openLoop(
  server: BenchServer,
  options: { name: string; as: ActorName; rate: number; total: number; connections: number },
  next: () => Target | undefined,
): Promise<PhaseFigures> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  const latenciesMs: number[] = [];
  const outcomes: { target: Target; status: string }[] = [];
  const cpuBefore = await server.cpuMs();
  const started = performance.now();
  const inFlight: Promise<void>[] = [];
  let sent = 0;
  for (let exhausted = false; sent < options.total && !exhausted; await sleep(1)) {
    const now = performance.now();
    for (; sent < options.total && started + (sent * 1000) / options.rate <= now; sent++) {
      const target = next();
      if (!target) {
        exhausted = true;
        break;
      }
      const dueMs = started + (sent * 1000) / options.rate;
      inFlight.push(
        send(server, agent, options.as, target).then((status) => {
          outcomes.push({ target, status });
          latenciesMs.push(performance.now() - dueMs);
        }),
      );
    }
  }
  await Promise.all(inFlight);
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  return figures(options.name, latenciesMs, outcomes, seconds, cpuSince(cpuBefore, await server.cpuMs()));
}

/**
 * Closed loop: `connections` clients, each on its own keep-alive socket,
 * each sending its next request as soon as its last is answered, for
 * `seconds` or until `next` runs out. With enough connections the server is
 * never idle for want of requests: the rate answered is its ceiling.
 */
export async function closedLoop(
  server: BenchServer,
  options: { name: string; as: ActorName; seconds: number; connections: number },
  next: () => Target | undefined,
): Promise<PhaseFigures> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  const latenciesMs: number[] = [];
  const outcomes: { target: Target; status: string }[] = [];
  const cpuBefore = await server.cpuMs();
  const started = performance.now();
  const deadline = started + options.seconds * 1000;
  await Promise.all(
    Array.from({ length: options.connections }, async () => {
      for (let target = next(); target && performance.now() < deadline; target = next()) {
        const sentAt = performance.now();
        const status = await send(server, agent, options.as, target);
        outcomes.push({ target, status });
        latenciesMs.push(performance.now() - sentAt);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  return figures(options.name, latenciesMs, outcomes, seconds, cpuSince(cpuBefore, await server.cpuMs()));
}

function cpuSince(
  before: { server: number; database: number },
  after: { server: number; database: number },
): { server: number; database: number } {
  return { server: after.server - before.server, database: after.database - before.database };
}
