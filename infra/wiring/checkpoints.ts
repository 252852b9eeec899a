/**
 * Checkpoints of each chain's Merkle tree (docs/FORMAT.md section 14), put
 * together: the tree's storage over the runtime's database, the signer's
 * note key, the policy of CHECKPOINT_INTERVAL, CHECKPOINT_INTERVAL_RECORDS
 * and CHECKPOINT_ORIGIN, and the witnesses of CHECKPOINT_WITNESSES asked to
 * cosign each new checkpoint (a checkpoint is published once
 * CHECKPOINT_WITNESS_QUORUM of them did). `serve` makes them on a timer;
 * `prove` and `checkpoint` make one when it is due.
 */
import type { Checkpoint } from '../../chain/checkpoint.ts';
import { verifiedCosignatures } from '../../chain/cosignature.ts';
import { collectCosignatures, type WitnessTarget, type WitnessTransport } from '../../chain/cosigning.ts';
import { parseCheckpointBody, parseNote } from '../../chain/checkpoint.ts';
import {
  checkpointIfDue,
  checkpointOrigin,
  proveConsistency,
  type NoteKey,
  type StoredCheckpoint,
  type TreeLogStorage,
} from '../../chain/treeLog.ts';
import { noteKeyOf, verifyRawEd25519 as verifyEd25519 } from '../../verifier/verifyInclusion.ts';
import { sqlTreeLog } from '../adapters/sql/treeLog.ts';
import { httpWitnessTransport } from '../adapters/witness/witnessClient.ts';
import type { Runtime } from './runtime.ts';

export interface Checkpointing {
  storage: TreeLogStorage;
  /** Undefined when the signer is not Ed25519: no checkpoint is made (docs/FORMAT.md section 14). */
  key: NoteKey | undefined;
  origin(chain: string): string;
  /** Cosignatures a checkpoint needs to be published (CHECKPOINT_WITNESS_QUORUM). */
  quorum: number;
  /** Makes and stores a checkpoint of `chain` if one is due, cosigned by the witnesses; the new note, or undefined. */
  makeIfDue(chain: string, nowMs: number): Promise<string | undefined>;
  /** Asks the witnesses that have not cosigned the latest checkpoint of `chain` again; the cosignatures added. */
  cosignLatest(chain: string): Promise<number>;
  /** The latest checkpoint with the quorum's cosignatures: the one `/checkpoint` publishes. */
  published(chain: string): Promise<StoredCheckpoint | undefined>;
  /**
   * `serve`'s round: a checkpoint if one is due; otherwise, at most once per
   * CHECKPOINT_INTERVAL, the witnesses missing from the latest one are asked again.
   */
  tick(chain: string, nowMs: number): Promise<void>;
}

export interface CheckpointingOptions {
  transport?: WitnessTransport;
  /** Told of each witness that did not cosign. */
  onWitnessFailure?: (failure: { chain: string; size: number; witness: string; reason: string }) => void;
}

export function checkpointing(
  runtime: Pick<Runtime, 'db' | 'signer' | 'registry' | 'config'>,
  options: CheckpointingOptions = {},
): Checkpointing {
  const storage = sqlTreeLog(runtime.db);
  const registered = runtime.registry.signers.get(runtime.signer.kid);
  // Ed25519 (note type 0x01) or ECDSA P-256 (0x02); an RSA signer makes no checkpoints (docs/FORMAT.md section 14).
  const noteKey =
    registered &&
    registered.algorithm === runtime.signer.algorithm &&
    noteKeyOf(runtime.signer.kid, registered.publicKey);
  const key = noteKey ? noteKey.key : undefined;
  const { intervalMs, intervalRecords, origin: prefix, witnesses, quorum } = runtime.config.checkpoints;
  const policy = { intervalMs, intervalRecords, origin: (chain: string) => checkpointOrigin(prefix, chain) };
  const transport = options.transport ?? httpWitnessTransport();
  // What each witness last cosigned, per chain: the old size of the next request to it.
  const knownSizes = new Map<string, Map<string, number>>();
  const lastRetryMs = new Map<string, number>();
  const witnessKeys = witnesses.map((w) => w.key);
  // The configured witnesses whose cosignature of the note verifies, each once.
  const cosignersOf = (note: string): string[] =>
    verifiedCosignatures(note, witnessKeys, verifyEd25519).map((c) => c.name);

  const cosignBy = async (
    chain: string,
    targets: readonly WitnessTarget[],
    note: string,
    checkpoint: Checkpoint,
  ): Promise<string[]> => {
    if (targets.length === 0) return [];
    let sizes = knownSizes.get(chain);
    if (!sizes) knownSizes.set(chain, (sizes = new Map()));
    const result = await collectCosignatures({
      note,
      checkpoint,
      witnesses: targets,
      transport,
      prove: (first) => proveConsistency(storage, chain, first, checkpoint.size),
      knownSizes: sizes,
      verifyEd25519,
    });
    for (const failure of result.failures) options.onWitnessFailure?.({ chain, size: checkpoint.size, ...failure });
    return result.lines;
  };

  return {
    storage,
    key,
    origin: policy.origin,
    quorum,
    makeIfDue: (chain, nowMs) =>
      key
        ? checkpointIfDue(storage, runtime.signer, key, policy, chain, nowMs, (note, checkpoint) =>
            cosignBy(chain, witnesses, note, checkpoint),
          )
        : Promise.resolve(undefined),
    async cosignLatest(chain) {
      const latest = await storage.latestCheckpoint(chain);
      const checkpoint = latest && parseCheckpointBody(parseNote(latest.note)?.body ?? '');
      if (!latest || !checkpoint) return 0;
      const signed = new Set(cosignersOf(latest.note));
      const missing = witnesses.filter((w) => !signed.has(w.key.name));
      if (missing.length === 0) return 0;
      const lines = await cosignBy(chain, missing, latest.note, checkpoint);
      if (lines.length === 0) return 0;
      let added = 0;
      await storage.mergeCosignatures(chain, latest.size, (note, stored) => {
        // Another process may have stored some of these witnesses' lines meanwhile: one line per witness.
        const present = new Set(cosignersOf(`${note}${stored}`));
        const fresh: string[] = [];
        for (const line of lines) {
          const name = cosignersOf(`${note}${line}`)[0];
          if (name === undefined || present.has(name)) continue;
          present.add(name);
          fresh.push(line);
        }
        added = fresh.length;
        const cosignatures = `${stored}${fresh.join('')}`;
        return { cosignatures, cosigners: cosignersOf(`${note}${cosignatures}`).length };
      });
      return added;
    },
    published: (chain) => storage.latestCheckpoint(chain, quorum),
    async tick(chain, nowMs) {
      if (!key) return;
      if ((await this.makeIfDue(chain, nowMs)) !== undefined || witnesses.length === 0) return;
      if (nowMs - (lastRetryMs.get(chain) ?? 0) < intervalMs) return;
      lastRetryMs.set(chain, nowMs);
      await this.cosignLatest(chain);
    },
  };
}
