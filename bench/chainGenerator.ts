/**
 * Grows a bench chain to millions of records in minutes instead of hours
 * (issue 19's cost curve): the records are the writer's (chain/seal.ts seals
 * them on the head, the runtime's signer signs them on its thread, the
 * idempotency rows are the writer's for an append of 100 events with a key),
 * but they are loaded by large multi-row inserts, as replay copies records,
 * instead of one compare-and-set statement per batch; the Merkle tree is then
 * built by the backfill (infra/adapters/sql/treeBackfill.ts), as for a chain
 * older than the tree. Bench only: nothing else writes the event log so.
 * Whoever uses it checks the result with audit-verify.
 */
import type { AppendEventInput } from '../chain/input.ts';
import { validateAppend } from '../chain/input.ts';
import { newEventId } from '../chain/ids.ts';
import type { ChainHead, StoredRecord } from '../chain/record.ts';
import { attachSignatures, commitTime, sealBatch, type UnsignedRecord } from '../chain/seal.ts';
import type { Signer } from '../chain/signer.ts';
import { copyRecords, readHead, setHead } from '../infra/adapters/sql/eventLog.ts';
import { backfillTree } from '../infra/adapters/sql/treeBackfill.ts';
import type { SqlDatabase } from '../infra/adapters/sql/sql.ts';

/** Events per sealed batch, each with one idempotency key: the fill's appends of 100. */
export const GENERATED_EVENTS_PER_BATCH = 100;
/** Batches being signed while the next are sealed. */
const SIGNING_IN_FLIGHT = 8;
/** Records per insert statement. */
const INSERT_RECORDS = 5000;
/** Insert statements in flight while sealing goes on. */
const INSERTS_IN_FLIGHT = 2;

interface Generated {
  records: StoredRecord[];
  keys: { key: string; requestHash: string; result: string }[];
}

/** One append of `events` with idempotency key `key`, sealed on `head` and signed. */
async function sealed(head: ChainHead, events: AppendEventInput[], key: string, signer: Signer) {
  const validated = validateAppend(head.chain, events, { idempotencyKey: key });
  const toSeal = validated.events.map((event) => ({ event, version: 1 }));
  const unsigned: UnsignedRecord[] = sealBatch(head, toSeal, commitTime(Date.now(), head), newEventId);
  const last = unsigned[unsigned.length - 1]!;
  const nextHead: ChainHead = {
    chain: head.chain,
    seq: last.payload.seq,
    hash: last.hash.toString('hex'),
    ts: last.payload.ts,
  };
  const signing = signer.signBatch(unsigned).then((signatures) => {
    const records = attachSignatures(unsigned, signatures);
    const events = records.map(({ record }) => ({
      seq: record.seq,
      id: record.id,
      stream: record.stream,
      version: record.version,
      type: record.type,
      hash: record.hash,
    }));
    return {
      records,
      key: { key, requestHash: validated.requestHash!, result: JSON.stringify({ chain: head.chain, events }) },
    };
  });
  return { nextHead, signing };
}

async function insert(db: SqlDatabase, generated: Generated, head: ChainHead): Promise<void> {
  await db.transaction(async (tx) => {
    await copyRecords(tx, generated.records);
    await tx.query(
      `INSERT INTO idempotency_keys (chain, key, request_hash, result, response)
        SELECT $1, k.key, k.request_hash, k.result, NULL FROM unnest($2::text[], $3::text[], $4::text[]) AS k(key, request_hash, result)`,
      [
        head.chain,
        generated.keys.map((k) => k.key),
        generated.keys.map((k) => k.requestHash),
        generated.keys.map((k) => k.result),
      ],
    );
  });
}

/**
 * Adds records to `chain` until it holds `target` (a multiple of 100 past the
 * head); `events(first, count)` makes the events, numbered from `next.stream`.
 */
export async function growChain(
  db: SqlDatabase,
  signer: Signer,
  chain: string,
  target: number,
  next: { stream: number },
  events: (first: number, count: number) => AppendEventInput[],
  log: (line: string) => void,
): Promise<{ added: number; seconds: number }> {
  const started = performance.now();
  let head = (await readHead(db, chain))!;
  const from = head.seq;
  const signing: Promise<{ records: StoredRecord[]; key: Generated['keys'][number] }>[] = [];
  const inserting: Promise<void>[] = [];
  let pending: Generated = { records: [], keys: [] };
  let lastLogged = performance.now();
  const flush = async (): Promise<void> => {
    const batch = pending;
    pending = { records: [], keys: [] };
    if (batch.records.length === 0) return;
    if (inserting.length >= INSERTS_IN_FLIGHT) await inserting.shift();
    inserting.push(insert(db, batch, head));
  };
  const take = async (): Promise<void> => {
    const done = await signing.shift()!;
    pending.records.push(...done.records);
    pending.keys.push(done.key);
    if (pending.records.length >= INSERT_RECORDS) await flush();
  };
  while (head.seq < target) {
    const count = Math.min(GENERATED_EVENTS_PER_BATCH, target - head.seq);
    const first = next.stream;
    next.stream += count;
    const batch = await sealed(head, events(first, count), `fill-${first}`, signer);
    head = batch.nextHead;
    signing.push(batch.signing);
    if (signing.length >= SIGNING_IN_FLIGHT) await take();
    if (performance.now() - lastLogged > 30_000) {
      lastLogged = performance.now();
      log(`  generating: ${head.seq - from} records in ${Math.round((lastLogged - started) / 1000)} s`);
    }
  }
  while (signing.length > 0) await take();
  await flush();
  await Promise.all(inserting);
  await setHead(db, { chain, seq: head.seq, hash: head.hash, ts: head.ts! });
  await backfillTree(db, chain);
  return { added: head.seq - from, seconds: (performance.now() - started) / 1000 };
}
