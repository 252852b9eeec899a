/**
 * Committing a sealed batch (chain/sealedBatch.ts): the one routine of both
 * commit paths of chain/writer.ts. It awaits the batch's signatures, attaches
 * them, settles the batch's appends, builds their idempotency rows and the
 * Merkle tiles they change (chain/treeCommit.ts), inserts the batch with a
 * compare-and-set on its base head (docs/FORMAT.md section 7) and folds it
 * into the inline projections.
 */
import { assert } from '../domain/errors.ts';
import type { ValidatedAppend } from './input.ts';
import type { PlanOutcome } from './plan.ts';
import type { StoredRecord } from './record.ts';
import { attachSignatures } from './seal.ts';
import type { SealedBatch } from './sealedBatch.ts';
import type { AppendResult } from './store.ts';
import type { CommitBatch, IdempotencyRow, WriterDeps } from './writerDeps.ts';
import type { Settlement } from './writerQueue.ts';
import { treeWrites, type HeldEdge } from './treeCommit.ts';

/** The tree edge a chain's writer holds between its batches (chain/treeCommit.ts). */
export interface TreeHolder {
  held: HeldEdge | undefined;
}

/** Settlements for a planned batch; `records` holds the sealed records of accepted appends in order. */
function settle(chain: string, outcomes: readonly PlanOutcome[], records: readonly StoredRecord[]): Settlement[] {
  const settlements: Settlement[] = [];
  let offset = 0;
  for (const outcome of outcomes) {
    switch (outcome.kind) {
      case 'accepted': {
        const mine = records.slice(offset, offset + outcome.versions.length);
        offset += outcome.versions.length;
        const events = mine.map(({ record: r }) => ({
          seq: r.seq,
          id: r.id,
          stream: r.stream,
          version: r.version,
          type: r.type,
          hash: r.hash,
        }));
        settlements.push({ ok: true, result: { chain, events, replayed: false } });
        break;
      }
      case 'rejected':
        settlements.push({ ok: false, error: outcome.error });
        break;
      case 'replayed':
        settlements.push({ ok: true, result: { ...(JSON.parse(outcome.result) as AppendResult), replayed: true } });
        break;
      case 'duplicate': {
        const first = settlements[outcome.of];
        assert(first?.ok, 'a duplicate refers to an accepted append');
        settlements.push({ ok: true, result: { ...first.result, replayed: true } });
        break;
      }
    }
  }
  return settlements;
}

function idempotencyRows(
  chain: string,
  appends: readonly ValidatedAppend[],
  outcomes: readonly PlanOutcome[],
  settlements: readonly Settlement[],
): IdempotencyRow[] {
  const rows: IdempotencyRow[] = [];
  outcomes.forEach((outcome, index) => {
    const { idempotencyKey, requestHash, response } = appends[index]!;
    const settlement = settlements[index]!;
    if (outcome.kind === 'accepted' && idempotencyKey !== undefined && settlement.ok) {
      rows.push({
        key: idempotencyKey,
        requestHash: requestHash!,
        result: JSON.stringify({ chain, events: settlement.result.events }),
        response,
      });
    }
  });
  return rows;
}

/** A sealed batch ready to insert: its statement's input, what its appends are answered, and the tree edge after it. */
export interface CommitReady {
  commit: CommitBatch;
  records: StoredRecord[];
  settlements: Settlement[];
  after: HeldEdge | undefined;
}

/**
 * Everything before the insert of `sealed`: its signatures awaited and
 * attached, its settlements, idempotency rows and tiles. A settlement list
 * alone when no append was accepted (nothing to insert); undefined when the
 * tree held is behind and the records it lacks could not be read (the head
 * moved: nothing may be written).
 */
export async function readyToCommit<Tx>(
  { storage, merkleTree }: Pick<WriterDeps<Tx>, 'storage' | 'merkleTree'>,
  chain: string,
  sealed: SealedBatch,
  tx: Tx,
  held: HeldEdge | undefined,
): Promise<CommitReady | Settlement[] | undefined> {
  if (!sealed.signatures) return settle(chain, sealed.outcomes, []);
  // Signatures first: on the speculative path no lock is held while the signer works.
  const records = attachSignatures(sealed.unsigned, await sealed.signatures);
  const settlements = settle(chain, sealed.outcomes, sealed.introduces ? records.slice(1) : records);
  const idempotency = idempotencyRows(chain, sealed.appends, sealed.outcomes, settlements);
  const grown =
    merkleTree === false
      ? { writes: [], after: undefined }
      : await treeWrites(storage, tx, chain, sealed.base, records, held);
  if (!grown) return undefined;
  const commit: CommitBatch = {
    chain,
    records,
    idempotency,
    tiles: grown.writes,
    treeSize: grown.after?.edge.size,
    previousHead: sealed.base,
    head: sealed.head,
  };
  return { commit, records, settlements, after: grown.after };
}

/**
 * Inserts a batch ready to commit: in `locked`'s transaction (the locked
 * path), or outside any lock (the speculative path): one insertBatch
 * statement, run in the order sent, or with inline projections one
 * transaction of insertBatch and the fold. False when the head was no longer
 * the batch's base (nothing was written).
 */
export async function insertReady<Tx>(
  { storage, inline }: Pick<WriterDeps<Tx>, 'storage' | 'inline'>,
  ready: CommitReady,
  locked: { tx: Tx } | undefined,
): Promise<boolean> {
  const insertAndFold = async (tx: Tx): Promise<boolean> =>
    (await storage.insertBatch(tx, ready.commit)) && (inline ? (await inline(tx, ready.records), true) : true);
  if (locked) return insertAndFold(locked.tx);
  if (inline) return storage.transaction(insertAndFold);
  return storage.insertBatch(storage.ordered, ready.commit);
}

/**
 * Commits `sealed` and returns the settlements of its appends, or undefined
 * when the head was no longer the batch's base (nothing was written).
 * `locked` is the transaction holding the head lock (the locked path).
 */
export async function commitSealed<Tx>(
  deps: Pick<WriterDeps<Tx>, 'storage' | 'inline' | 'merkleTree'>,
  chain: string,
  sealed: SealedBatch,
  locked: { tx: Tx } | undefined,
  tree: TreeHolder,
): Promise<Settlement[] | undefined> {
  const ready = await readyToCommit(deps, chain, sealed, locked?.tx ?? deps.storage.unlocked, tree.held);
  if (ready === undefined || Array.isArray(ready)) return ready;
  if (!(await insertReady(deps, ready, locked))) return undefined;
  tree.held = ready.after;
  return ready.settlements;
}
