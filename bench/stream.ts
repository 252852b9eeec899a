/**
 * The audit stream (docs/DESIGN.md, "The audit stream") on PostgreSQL:
 * `chainbook serve` in a process of its own, the appends and the consumer in
 * this one.
 *
 * 1. Throughput: records per second GET /chain/stream (NDJSON) delivers to
 *    an HTTP consumer reading a range of the chain from seq 1, plain (lines
 *    counted) and through readHttpChainStream (each record checked: form,
 *    hash, Ed25519 signature, link), against `chainbook dump` of the same
 *    range in the same run (the CLI's wall time, and the same less a
 *    one-record dump: its start-up).
 * 2. Latency: a live subscriber at the head while single-event appends are
 *    offered at a fixed rate (1,000/s by default): from each append's call to
 *    its record's arrival, p50 and p99, beside the appends' own latency.
 *
 *   npm run bench -- stream     (STREAM_RECORDS, STREAM_RATE, STREAM_SECONDS to change the sizes)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { newToken, tokenDigest } from '../infra/entrypoints/http/auth/tokens.ts';
import { readHttpChainStream } from '../infra/adapters/stream/httpChainStream.ts';
import { benchApp } from './benchDatabase.ts';
import { format, orderData, percentile } from './lib.ts';

const RECORDS = Number(process.env['STREAM_RECORDS'] ?? 20_000);
const RATE = Number(process.env['STREAM_RATE'] ?? 1000);
const SECONDS = Number(process.env['STREAM_SECONDS'] ?? 5);
const CLI = ['--import', 'tsx', fileURLToPath(new URL('../bin/chainbook.ts', import.meta.url))];

export interface StreamFigures {
  httpPlain: number;
  httpVerified: number;
  dump: number;
  dumpLessStart: number;
  deliveryP50Ms: number;
  deliveryP99Ms: number;
  appendP50Ms: number;
  appendP99Ms: number;
  offeredRate: number;
  achievedRate: number;
}

async function startServer(databaseUrl: string, dataDir: string, token: string) {
  const child = spawn(process.execPath, [...CLI, 'serve'], {
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      CHAINBOOK_DATA_DIR: dataDir,
      PORT: '0',
      LOG_LEVEL: 'warn',
      API_TOKENS: `auditor-1:Auditor:${tokenDigest(token)}`,
      RATE_LIMIT_QUERIES_PER_MINUTE: '10000000',
      RATE_LIMIT_ADDRESS_PER_MINUTE: '10000000',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const match = /serving (http:\/\/\S+)/.exec(output);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`chainbook serve exited with ${code}: ${output}`)));
  });
  return { url, child };
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** Reads the NDJSON stream from `from` until seq `to` arrived, calling `onLine` with each record line. */
async function readLines(url: string, token: string, from: number, to: number, onLine: (line: string) => void) {
  const controller = new AbortController();
  const response = await fetch(`${url}/chain/stream?from=${from}&format=ndjson`, {
    headers: { authorization: `Bearer ${token}` },
    signal: controller.signal,
  });
  if (response.status !== 200 || !response.body) throw new Error(`GET /chain/stream: ${response.status}`);
  const decoder = new TextDecoder();
  let pending = '';
  let seen = from - 1;
  try {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      pending += decoder.decode(chunk, { stream: true });
      let newline = pending.indexOf('\n');
      while (newline >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        newline = pending.indexOf('\n');
        if (line === '') continue;
        onLine(line);
        seen += 1;
        if (seen >= to) return;
      }
    }
  } finally {
    controller.abort();
  }
}

function dumpSeconds(databaseUrl: string, to: number): Promise<number> {
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [...CLI, 'dump', '-d', databaseUrl, '--chain', 'main', '--from', '1', '--to', String(to)],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  return new Promise((resolve, reject) =>
    child.once('exit', (code) =>
      code === 0 ? resolve((performance.now() - started) / 1000) : reject(new Error(`dump exited ${code}`)),
    ),
  );
}

async function appendRecords(app: Awaited<ReturnType<typeof benchApp>>, count: number): Promise<void> {
  for (let n = 0; n < count; n += 100)
    await app.runtime.store.append(
      'main',
      Array.from({ length: Math.min(100, count - n) }, (_, i) => ({
        stream: `order-${n + i}`,
        type: 'quote.recorded',
        data: orderData(n + i),
        actor: { id: 'buyer-1', role: 'Buyer' as const },
      })),
    );
}

export async function streamBenchmark(log: (line: string) => void): Promise<StreamFigures> {
  const app = await benchApp(`stream_${process.pid}`, { keep: false, reuse: false, poolSize: 16 });
  const token = newToken();
  const server = await startServer(app.url, app.runtime.config.dataDir, token);
  try {
    await appendRecords(app, RECORDS);
    // Throughput over the same range: the HTTP stream, plain and checked, then the CLI's dump.
    await readLines(server.url, token, 1, 1000, () => undefined); // warm up the server's path
    let started = performance.now();
    await readLines(server.url, token, 1, RECORDS, () => undefined);
    const httpPlain = RECORDS / ((performance.now() - started) / 1000);
    started = performance.now();
    let checked = 0;
    const controller = new AbortController();
    for await (const stored of readHttpChainStream({
      url: server.url,
      token,
      chain: 'main',
      fromSeq: 1,
      registry: app.runtime.registry,
      signal: controller.signal,
    })) {
      checked += 1;
      if (stored.record.seq === RECORDS) break;
    }
    controller.abort();
    const httpVerified = checked / ((performance.now() - started) / 1000);
    const dumpStart = await dumpSeconds(app.url, 1);
    const dumpAll = await dumpSeconds(app.url, RECORDS);
    const dump = RECORDS / dumpAll;
    const dumpLessStart = RECORDS / Math.max(0.001, dumpAll - dumpStart);
    log(
      `${format(RECORDS)} records (~250 B of data each): GET /chain/stream ${format(httpPlain)} records/s to a plain reader, ${format(httpVerified)} records/s checked by readHttpChainStream; chainbook dump ${format(dump)} records/s (${format(dumpLessStart)} less its start-up of ${format(dumpStart)} s)`,
    );

    // Latency: a subscriber at the head, appends offered at RATE per second for SECONDS.
    const head = (await app.runtime.store.head('main')).seq;
    const total = RATE * SECONDS;
    const calledAt = new Map<number, number>();
    const arrivedAt = new Map<number, number>();
    const appendMs: number[] = [];
    const reading = readLines(server.url, token, head + 1, head + total, (line) => {
      const seq = Number(/"seq":(\d+)/.exec(line)![1]);
      arrivedAt.set(seq, performance.now());
    });
    await sleep(500); // the subscription is open and waiting
    const appends: Promise<void>[] = [];
    const offeredFrom = performance.now();
    for (let i = 0; i < total; i += 1) {
      const due = offeredFrom + (i * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      const called = performance.now();
      appends.push(
        app.runtime.store
          .append('main', [
            {
              stream: `live-${i}`,
              type: 'quote.recorded',
              data: orderData(i),
              actor: { id: 'buyer-1', role: 'Buyer' },
            },
          ])
          .then((result) => {
            appendMs.push(performance.now() - called);
            calledAt.set(result.events[0]!.seq, called);
          }),
      );
    }
    await Promise.all(appends);
    const achievedRate = total / ((performance.now() - offeredFrom) / 1000);
    await reading;
    const deliveryMs = [...arrivedAt].map(([seq, at]) => at - calledAt.get(seq)!).sort((a, b) => a - b);
    appendMs.sort((a, b) => a - b);
    const figures = {
      httpPlain,
      httpVerified,
      dump,
      dumpLessStart,
      deliveryP50Ms: percentile(deliveryMs, 0.5),
      deliveryP99Ms: percentile(deliveryMs, 0.99),
      appendP50Ms: percentile(appendMs, 0.5),
      appendP99Ms: percentile(appendMs, 0.99),
      offeredRate: RATE,
      achievedRate,
    };
    log(
      `${format(total)} single-event appends offered at ${format(RATE)}/s (${format(achievedRate)}/s done): append call to delivery p50 ${format(figures.deliveryP50Ms)} ms, p99 ${format(figures.deliveryP99Ms)} ms; the appends alone p50 ${format(figures.appendP50Ms)} ms, p99 ${format(figures.appendP99Ms)} ms`,
    );
    return figures;
  } finally {
    await stop(server.child);
    await app.dispose();
  }
}
