/** Shared benchmark plumbing: throwaway databases, percentiles, figures. */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { AppendEventInput } from '../chain/input.ts';

export const BENCH_DATABASE_URL =
  process.env['BENCH_DATABASE_URL'] ??
  process.env['TEST_DATABASE_URL'] ??
  'postgres://postgres@127.0.0.1:5432/postgres';

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: BENCH_DATABASE_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** A fresh PostgreSQL database on the bench server; drop() removes it. */
export async function benchDatabase(label: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `chainbook_bench_${label}_${randomBytes(3).toString('hex')}`;
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(BENCH_DATABASE_URL);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

export function benchDir(label: string): string {
  return mkdtempSync(join(tmpdir(), `chainbook-bench-${label}-`));
}

export function percentile(sortedMs: readonly number[], p: number): number {
  if (sortedMs.length === 0) return Number.NaN;
  return sortedMs[Math.min(sortedMs.length - 1, Math.floor((p / 100) * sortedMs.length))]!;
}

export function perSecond(count: number, elapsedMs: number): number {
  return Math.round((count * 1000) / elapsedMs);
}

export function format(value: number): string {
  return Number.isFinite(value) ? value.toLocaleString('en-US', { maximumFractionDigits: value < 10 ? 2 : 0 }) : 'n/a';
}

export function ratio(ours: number, theirs: number): string {
  return `${((ours / theirs) * 100).toFixed(0)}%`;
}

/** Runs `count` operations with `concurrency` in flight; resolves with the elapsed milliseconds. */
export async function inFlight(
  count: number,
  concurrency: number,
  operation: (index: number) => Promise<unknown>,
): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await operation(next++);
    }),
  );
  return performance.now() - started;
}

/** `openssl speed ed25519` on this machine: sign/s and verify/s for one core. */
export function opensslEd25519(seconds = 3): { signPerSecond: number; verifyPerSecond: number; cores: number } {
  const output = execFileSync('openssl', ['speed', '-seconds', String(seconds), 'ed25519'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const line = output.split('\n').find((l) => /EdDSA \(Ed25519\)/.test(l));
  const numbers = line?.trim().split(/\s+/).slice(-2).map(Number);
  if (!numbers || numbers.some((n) => !Number.isFinite(n)))
    throw new Error(`cannot read openssl speed output:\n${output}`);
  return { signPerSecond: numbers[0]!, verifyPerSecond: numbers[1]!, cores: availableParallelism() };
}

/** The data of a typical event: an order created with a delivery key, about 250 bytes as JCS. */
export function orderData(index: number): {
  listingId: string;
  buyerId: string;
  priceMinor: number;
  currency: string;
  deliveryPublicKey: string;
} {
  return {
    listingId: `listing-${index % 997}`,
    buyerId: `buyer-${index % 4099}`,
    priceMinor: 1999 + (index % 5000),
    currency: 'EUR',
    deliveryPublicKey:
      'MCowBQYDK2VwAyEA' + Buffer.from(String(index).padStart(32, '0')).toString('base64').slice(0, 43),
  };
}

/** The benchmarks' typical event: order `index` created on its own stream, as its first version. */
export function orderEvent(index: number): AppendEventInput {
  return {
    stream: `order-${index}`,
    type: 'order.created',
    expectedVersion: 0,
    data: orderData(index),
    actor: { id: 'buyer', role: 'Buyer' },
  };
}
