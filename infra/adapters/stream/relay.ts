/**
 * A relay of the audit stream (docs/DESIGN.md, "The audit stream"): follows
 * a chain with followChain (chain/subscription.ts, which checks every seq
 * and link) from the relay's stored position and hands each page to a
 * target (a Kafka topic, a KurrentDB stream), one page in flight. The
 * position moves only after the target acknowledged the whole page, so a
 * relay killed at any point resumes from the last acknowledged record and
 * at worst sends again what came after it: at least once, consumers
 * deduplicating by (chain, seq).
 *
 * The relay only reads the chain: an unreachable target makes it fall
 * behind (audit_stream_lag_records), never slows or refuses an append. A
 * failed send is tried again, with a growing pause up to RELAY_RETRY_MAX_MS,
 * for as long as it takes; only a refusal that no retry can cure
 * (RELAY_TARGET_REFUSED, RELAY_TARGET_DIVERGED), a chain that does not
 * continue from the stored position (RELAY_POSITION_MISMATCH) or a break in
 * the chain (STREAM_DISCONTINUITY) stops it.
 *
 * One process delivers per relay and chain at a time, as far as a lease
 * can say so: the position row is a lease (infra/adapters/sql/relayPositions.ts)
 * renewed with every move, while idle and every leaseMs / 3 while a send is
 * in flight; the other processes (API replicas each running the relay) wait
 * and take over once it lapses. A renewal that fails during a send makes
 * the page count as lost (the position stays, the rest of the page is not
 * sent); a process stalled past its lease (a pause longer than 15 s) may
 * still finish a send that the new holder sends again: duplicates, never a
 * moved position, since only the owner moves it.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { ZERO_HASH, type StoredRecord } from '../../../chain/record.ts';
import { followChain, type AppendWakeups, type ChainReader } from '../../../chain/subscription.ts';
import { CodedError } from '../../../domain/errors.ts';
import {
  auditStreamLagRecords,
  auditStreamRelayedRecordsTotal,
  auditStreamRelayErrorsTotal,
  auditStreamRelayStopped,
} from '../metrics.ts';

export interface RelayPosition {
  seq: number;
  hash: string;
}

/** Where positions and leases are kept (infra/adapters/sql/relayPositions.ts). */
export interface RelayPositions {
  read(relay: string, chain: string): Promise<RelayPosition | undefined>;
  /** Takes or renews the lease; the stored position when this owner holds it now (`start` for a new row), else undefined. */
  claim(
    relay: string,
    chain: string,
    owner: string,
    leaseMs: number,
    start: RelayPosition,
  ): Promise<RelayPosition | undefined>;
  /** Moves the position forward and renews the lease; false when this owner no longer holds it. */
  advance(relay: string, chain: string, owner: string, leaseMs: number, to: RelayPosition): Promise<boolean>;
  release(relay: string, chain: string, owner: string): Promise<void>;
  /** Sets the position, backwards too (a replay), and gives the row to `lease.owner` (or to nobody), at once. */
  reset(relay: string, chain: string, to: RelayPosition, lease?: { owner: string; leaseMs: number }): Promise<void>;
}

/** A relay's target: a Kafka topic (kafkaRelay.ts), KurrentDB streams (kurrentRelay.ts), a fake in unit tests. */
export interface RelaySink {
  /** The relay's name in relay_positions: `kafka:<topic>`, `eventstore:<prefix>`. */
  readonly name: string;
  /**
   * Sends consecutive records of one chain, in seq order, and resolves once
   * the target acknowledged every one of them. Throws when it did not: a
   * CodedError RELAY_TARGET_REFUSED or RELAY_TARGET_DIVERGED stops the
   * relay, anything else is tried again. Once `leaseLost` aborts (the
   * relay could not renew its lease during the send), it sends no further
   * part of the page: what it already sent may be sent again by the process
   * that took over.
   */
  send(records: readonly StoredRecord[], leaseLost?: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export const DEFAULT_RELAY_LEASE_MS = 15_000;
/** A one-shot relay (untilSeq) waiting this long for a lease another process keeps renewing gives up. */
export const DEFAULT_RELAY_STANDBY_TIMEOUT_MS = 60_000;
export const DEFAULT_RELAY_PAGE_RECORDS = 200;
/** The first pause after a failed send; each further failure doubles it, up to RELAY_RETRY_MAX_MS. */
export const RELAY_RETRY_FIRST_MS = 200;
export const RELAY_RETRY_MAX_MS = 30_000;
/** How often the relay holding the lease reads the head for audit_stream_lag_records, whatever its target does. */
export const RELAY_LAG_REPORT_MS = 1000;
/** The position before the first record: what a new relay row starts from. */
export const CHAIN_START: RelayPosition = { seq: 0, hash: ZERO_HASH };

/** What a relay reports as it goes, for the log. */
export type RelayEvent =
  | { kind: 'claimed'; position: RelayPosition }
  | { kind: 'standby' }
  | { kind: 'lease-lost'; position: RelayPosition }
  | { kind: 'retry'; attempt: number; firstSeq: number; error: unknown }
  | { kind: 'delivered'; position: RelayPosition; records: number };

export interface RelayOptions {
  store: ChainReader;
  wakeups: AppendWakeups;
  positions: RelayPositions;
  sink: RelaySink;
  chain: string;
  signal: AbortSignal;
  /** This process in the lease; default host:pid:random. */
  owner?: string | undefined;
  leaseMs?: number | undefined;
  pageRecords?: number | undefined;
  pollMs?: number | undefined;
  retryFirstMs?: number | undefined;
  retryMaxMs?: number | undefined;
  /** Stop once this seq is acknowledged (a one-shot catch-up); default: relay until the signal aborts. */
  untilSeq?: number | undefined;
  /** With untilSeq: how long to wait for a lease another process holds before giving up (RELAY_LEASE_HELD). */
  standbyTimeoutMs?: number | undefined;
  onEvent?: ((event: RelayEvent) => void) | undefined;
}

/** Errors that no retry cures: they stop the relay. */
const FATAL_CODES = new Set([
  'RELAY_TARGET_REFUSED',
  'RELAY_TARGET_DIVERGED',
  'RELAY_POSITION_MISMATCH',
  'STREAM_DISCONTINUITY',
  'UNKNOWN_CHAIN',
  'RELAY_LEASE_HELD',
]);

export function fatalRelayError(error: unknown): boolean {
  return error instanceof CodedError && FATAL_CODES.has(error.code);
}

export function relayOwner(): string {
  return `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** The stored position must be a record of this chain, with this hash: a restored or replaced database is not relayed on. */
async function checkPosition(store: ChainReader, chain: string, relay: string, position: RelayPosition): Promise<void> {
  if (position.seq === 0) return;
  const [stored] = await store.readChain(chain, { fromSeq: position.seq, toSeq: position.seq, limit: 1 });
  if (stored?.record.hash === position.hash) return;
  throw new CodedError(
    'RELAY_POSITION_MISMATCH',
    `relay ${relay} stands at ${chain} seq ${position.seq} with hash ${position.hash}, but the chain ${stored ? `has ${stored.record.hash} there` : 'ends before it'}: reset its position (chainbook relay … --from-seq) after checking the target`,
    { relay, chain, seq: position.seq },
  );
}

interface Delivery {
  options: RelayOptions;
  owner: string;
  leaseMs: number;
  position: RelayPosition;
  renewedAtMs: number;
}

async function renew(delivery: Delivery): Promise<boolean> {
  const { options } = delivery;
  const held = await options.positions.claim(
    options.sink.name,
    options.chain,
    delivery.owner,
    delivery.leaseMs,
    delivery.position,
  );
  delivery.renewedAtMs = Date.now();
  return held !== undefined && held.seq === delivery.position.seq;
}

async function reportLag(delivery: Delivery): Promise<void> {
  const { options } = delivery;
  const head = await options.store.head(options.chain);
  auditStreamLagRecords.set(
    { relay: options.sink.name, chain: options.chain },
    Math.max(0, head.seq - delivery.position.seq),
  );
}

/**
 * Renews the lease every leaseMs / 3 while a send is in flight (a target
 * slow to acknowledge must not let the lease lapse under it); `lost` aborts
 * when a renewal finds another owner or fails.
 */
function keepLease(delivery: Delivery): { lost: AbortSignal; stop(): void } {
  const lost = new AbortController();
  let renewing = false;
  const timer = setInterval(() => {
    // Once stopping, never again: the lease may have been released for us already (infra/wiring/relays.ts).
    if (renewing || lost.signal.aborted || delivery.options.signal.aborted) return;
    renewing = true;
    renew(delivery)
      .then(
        (held) => held || lost.abort(),
        () => lost.abort(),
      )
      .finally(() => (renewing = false));
  }, delivery.leaseMs / 3);
  return { lost: lost.signal, stop: () => clearInterval(timer) };
}

/**
 * Sends until acknowledged (true), or until the lease is lost while sending
 * or retrying (false): then the page counts as not sent, the position stays,
 * and whoever holds the lease now sends it (again).
 */
async function sendAcknowledged(delivery: Delivery, records: readonly StoredRecord[]): Promise<boolean> {
  const { options } = delivery;
  const first = options.retryFirstMs ?? RELAY_RETRY_FIRST_MS;
  const max = options.retryMaxMs ?? RELAY_RETRY_MAX_MS;
  for (let attempt = 1; ; attempt += 1) {
    const lease = keepLease(delivery);
    try {
      await options.sink.send(records, lease.lost);
      return !lease.lost.aborted;
    } catch (error) {
      if (lease.lost.aborted) return false;
      if (fatalRelayError(error) || options.signal.aborted) throw error;
      auditStreamRelayErrorsTotal.inc({ relay: options.sink.name });
      options.onEvent?.({ kind: 'retry', attempt, firstSeq: records[0]!.record.seq, error });
      await pause(Math.min(max, first * 2 ** Math.min(attempt - 1, 20)), options.signal);
      if (options.signal.aborted) throw error;
      if (!(await renew(delivery))) return false;
      await reportLag(delivery); // the chain goes on while the target is down: the lag shows it
    } finally {
      lease.stop();
    }
  }
}

/** Delivers from the claimed position until the lease is lost, the signal aborts or untilSeq is acknowledged. */
async function deliver(delivery: Delivery): Promise<'lease-lost' | 'stopped'> {
  const { options, leaseMs } = delivery;
  const { chain, untilSeq } = options;
  const following = new AbortController();
  const stop = () => following.abort();
  options.signal.addEventListener('abort', stop, { once: true });
  // The head moves while a send waits on a target that is down: the lag is read again on its own clock too.
  const lagTimer = setInterval(() => void reportLag(delivery).catch(() => undefined), RELAY_LAG_REPORT_MS);
  try {
    await reportLag(delivery);
    for await (const page of followChain(options.store, options.wakeups, chain, {
      fromSeq: delivery.position.seq + 1,
      signal: following.signal,
      pageRecords: options.pageRecords ?? DEFAULT_RELAY_PAGE_RECORDS,
      pollMs: options.pollMs,
    })) {
      const records = untilSeq === undefined ? page : page.filter((stored) => stored.record.seq <= untilSeq);
      if (records.length === 0) {
        if (Date.now() - delivery.renewedAtMs > leaseMs / 3 && !(await renew(delivery))) return 'lease-lost';
        await reportLag(delivery);
        if (untilSeq !== undefined && delivery.position.seq >= untilSeq) return 'stopped';
        continue;
      }
      if (!(await sendAcknowledged(delivery, records))) return 'lease-lost';
      const last = records.at(-1)!.record;
      const to = { seq: last.seq, hash: last.hash };
      if (!(await options.positions.advance(options.sink.name, chain, delivery.owner, leaseMs, to)))
        return 'lease-lost';
      delivery.position = to;
      delivery.renewedAtMs = Date.now();
      auditStreamRelayedRecordsTotal.inc({ relay: options.sink.name }, records.length);
      options.onEvent?.({ kind: 'delivered', position: to, records: records.length });
      await reportLag(delivery);
      if (untilSeq !== undefined && to.seq >= untilSeq) return 'stopped';
    }
    return 'stopped';
  } finally {
    clearInterval(lagTimer);
    options.signal.removeEventListener('abort', stop);
    following.abort();
  }
}

/**
 * Relays `chain` to the sink until the signal aborts (or `untilSeq` is
 * acknowledged), holding the lease while it delivers and waiting while
 * another process holds it. Resolves with the last seq acknowledged; rejects
 * with a fatal error (see FATAL_CODES). A transient failure outside a send
 * (the database unreachable) is waited out and the lease claimed again.
 */
export async function runRelay(options: RelayOptions): Promise<{ lastSeq: number }> {
  const { sink, chain, positions, signal } = options;
  const owner = options.owner ?? relayOwner();
  const leaseMs = options.leaseMs ?? DEFAULT_RELAY_LEASE_MS;
  let lastSeq = 0;
  let failures = 0;
  let standbySinceMs: number | undefined;
  auditStreamRelayStopped.set({ relay: sink.name, chain }, 0);
  try {
    while (!signal.aborted) {
      try {
        const claimed = await positions.claim(sink.name, chain, owner, leaseMs, CHAIN_START);
        if (claimed === undefined) {
          auditStreamLagRecords.remove({ relay: sink.name, chain });
          standbySinceMs ??= Date.now();
          const giveUpMs = options.standbyTimeoutMs ?? DEFAULT_RELAY_STANDBY_TIMEOUT_MS;
          if (options.untilSeq !== undefined && Date.now() - standbySinceMs >= giveUpMs)
            throw new CodedError(
              'RELAY_LEASE_HELD',
              `relay ${sink.name} of chain ${chain}: another process has held the lease for ${Math.round(giveUpMs / 1000)} s and keeps it (see owner in relay_positions); stop it, or run this relay with --from-seq, which takes the lease at once`,
              { relay: sink.name, chain },
            );
          options.onEvent?.({ kind: 'standby' });
          await pause(leaseMs / 3, signal);
          continue;
        }
        standbySinceMs = undefined;
        await checkPosition(options.store, chain, sink.name, claimed);
        options.onEvent?.({ kind: 'claimed', position: claimed });
        lastSeq = claimed.seq;
        if (options.untilSeq !== undefined && claimed.seq >= options.untilSeq) break;
        const delivery: Delivery = { options, owner, leaseMs, position: claimed, renewedAtMs: Date.now() };
        const outcome = await deliver(delivery);
        lastSeq = delivery.position.seq;
        failures = 0;
        if (outcome === 'stopped') break;
        options.onEvent?.({ kind: 'lease-lost', position: delivery.position });
      } catch (error) {
        if (signal.aborted) break;
        if (fatalRelayError(error)) {
          // For the alerts: a stopped relay reports no lag (it is not behind, it is gone) but says it stopped.
          auditStreamLagRecords.remove({ relay: sink.name, chain });
          auditStreamRelayStopped.set({ relay: sink.name, chain }, 1);
          throw error;
        }
        failures += 1;
        auditStreamRelayErrorsTotal.inc({ relay: sink.name });
        options.onEvent?.({ kind: 'retry', attempt: failures, firstSeq: lastSeq + 1, error });
        const first = options.retryFirstMs ?? RELAY_RETRY_FIRST_MS;
        await pause(
          Math.min(options.retryMaxMs ?? RELAY_RETRY_MAX_MS, first * 2 ** Math.min(failures - 1, 20)),
          signal,
        );
      }
    }
  } finally {
    await positions.release(sink.name, chain, owner).catch(() => undefined);
  }
  return { lastSeq };
}

/**
 * Moves a relay's position back (or forward) so that it sends again from
 * `fromSeq` (a replay): the record before it anchors the position. With
 * `lease`, the row is that owner's from the same statement on (the replay
 * that runs now claims it without a race); a relay running elsewhere loses
 * its lease at its next move or renewal and waits.
 */
export async function resetRelay(
  store: ChainReader,
  positions: RelayPositions,
  relay: string,
  chain: string,
  fromSeq: number,
  lease?: { owner: string; leaseMs: number },
): Promise<RelayPosition> {
  const head = await store.head(chain);
  if (fromSeq < 1 || fromSeq > head.seq + 1)
    throw new CodedError(
      'INVALID_ARGUMENT',
      `--from-seq must be from 1 to ${head.seq + 1} (chain ${chain} ends at ${head.seq})`,
    );
  let to = CHAIN_START;
  if (fromSeq > 1) {
    const [before] = await store.readChain(chain, { fromSeq: fromSeq - 1, toSeq: fromSeq - 1, limit: 1 });
    to = { seq: fromSeq - 1, hash: before!.record.hash };
  }
  await positions.reset(relay, chain, to, lease);
  return to;
}
