/**
 * Checkpoints of each chain's Merkle tree (docs/FORMAT.md section 14), put
 * together: the tree's storage over the runtime's database, the signer's
 * note key, and the policy of CHECKPOINT_INTERVAL, CHECKPOINT_INTERVAL_RECORDS
 * and CHECKPOINT_ORIGIN. `serve` makes them on a timer; `prove` and
 * `checkpoint` make one when it is due.
 */
import { checkpointIfDue, checkpointOrigin, type NoteKey, type TreeLogStorage } from '../../chain/treeLog.ts';
import { rawEd25519 } from '../../verifier/verifyInclusion.ts';
import { sqlTreeLog } from '../adapters/sql/treeLog.ts';
import type { Runtime } from './runtime.ts';

export interface Checkpointing {
  storage: TreeLogStorage;
  /** Undefined when the signer is not Ed25519: no checkpoint is made (docs/FORMAT.md section 14). */
  key: NoteKey | undefined;
  origin(chain: string): string;
  /** Makes and stores a checkpoint of `chain` if one is due; the new note, or undefined. */
  makeIfDue(chain: string, nowMs: number): Promise<string | undefined>;
}

export function checkpointing(runtime: Pick<Runtime, 'db' | 'signer' | 'registry' | 'config'>): Checkpointing {
  const storage = sqlTreeLog(runtime.db);
  const registered = runtime.registry.signers.get(runtime.signer.kid);
  const raw = registered && runtime.signer.algorithm === 'ed25519' ? rawEd25519(registered.publicKey) : undefined;
  const key = raw && { name: runtime.signer.kid, publicKey: raw };
  const { intervalMs, intervalRecords, origin: prefix } = runtime.config.checkpoints;
  const policy = { intervalMs, intervalRecords, origin: (chain: string) => checkpointOrigin(prefix, chain) };
  return {
    storage,
    key,
    origin: policy.origin,
    makeIfDue: (chain, nowMs) =>
      key ? checkpointIfDue(storage, runtime.signer, key, policy, chain, nowMs) : Promise.resolve(undefined),
  };
}
