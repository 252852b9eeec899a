/**
 * Witnesses in tests (docs/FORMAT.md section 14, "Witnesses and
 * cosignatures"): a real `chainbook witness` server on a state folder, the
 * log's verifier key of a runtime, a runtime's checkpointing asking given
 * witnesses, and a second database holding a copy of another's first
 * records (a log that forks after a common prefix).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { formatVerifierKey, NOTE_ED25519_TYPE, type NoteVerifierKey } from '../../chain/cosignature.ts';
import { sha256 } from '../../chain/hash.ts';
import { rawEd25519, verifyRawEd25519 } from '../../verifier/verifyInclusion.ts';
import * as eventLog from '../../infra/adapters/sql/eventLog.ts';
import { fileWitnessState, type FileWitnessState } from '../../infra/adapters/witness/fileWitnessState.ts';
import { loadWitnessKey, type WitnessKey } from '../../infra/adapters/witness/witnessKey.ts';
import { checkpointing, type Checkpointing, type CheckpointingOptions } from '../../infra/wiring/checkpoints.ts';
import { parseWitnessEndpoints } from '../../infra/wiring/witnessConfig.ts';
import { parseVerifierKey } from '../../chain/cosignature.ts';
import {
  startWitnessServer,
  type RunningWitness,
  type WitnessLogLine,
} from '../../infra/entrypoints/witness/witnessServer.ts';
import type { TestRuntime } from './runtime.ts';

export interface TestWitness {
  name: string;
  url: string;
  vkey: string;
  key: WitnessKey;
  stateDir: string;
  state: FileWitnessState;
  server: RunningWitness;
  /** The logs it witnesses, origin → keys: a test may add one while it runs. */
  logs: Map<string, NoteVerifierKey[]>;
  /** Stops the server and releases the state folder (kept, for a restart). */
  stop(): Promise<void>;
}

/** The Ed25519 note verifier key of the runtime's checkpoint signer. */
export function logVerifierKey(rt: Pick<TestRuntime, 'signer' | 'registry'>): string {
  const publicKey = rawEd25519(rt.registry.signers.get(rt.signer.kid)!.publicKey)!;
  return formatVerifierKey(sha256, rt.signer.kid, NOTE_ED25519_TYPE, publicKey);
}

export function parsedKey(vkey: string): NoteVerifierKey {
  return parseVerifierKey(sha256, vkey)!;
}

/** A witness server of the logs given (origin → log vkey), on `stateDir` (a new folder by default). */
export async function startTestWitness(
  t: ExecutionContext,
  logs: Record<string, string>,
  options: { name?: string; stateDir?: string; keyFile?: string; log?: (line: WitnessLogLine) => void } = {},
): Promise<TestWitness> {
  const stateDir = options.stateDir ?? mkdtempSync(join(tmpdir(), 'chainbook-witness-'));
  const name = options.name ?? 'witness.test/w1';
  const key = loadWitnessKey(options.keyFile ?? join(stateDir, 'witness.pem'), name, { create: true });
  const state = fileWitnessState(stateDir);
  const logMap = new Map(Object.entries(logs).map(([origin, vkey]) => [origin, [parsedKey(vkey)]]));
  const server = await startWitnessServer({
    policy: {
      identity: key.identity,
      logs: logMap,
      sha256,
      verifyEd25519: verifyRawEd25519,
    },
    state,
    vkey: key.vkey,
    log: options.log ?? (() => undefined),
  });
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await server.close();
    state.close();
  };
  t.teardown(async () => {
    await stop();
    if (options.stateDir === undefined) rmSync(stateDir, { recursive: true, force: true });
  });
  return { name, url: server.url, vkey: key.vkey, key, stateDir, state, server, logs: logMap, stop };
}

/** The runtime's checkpointing, asking these witnesses, publishing with `quorum` cosignatures. */
export function witnessedCheckpointing(
  rt: TestRuntime,
  witnesses: readonly { url: string; vkey: string }[],
  quorum: number,
  options: CheckpointingOptions = {},
): Checkpointing {
  const parsed = parseWitnessEndpoints(witnesses.map((w) => `${w.url} ${w.vkey}`).join(','));
  if (parsed.problems.length > 0) throw new Error(parsed.problems.join('; '));
  const config = { ...rt.config, checkpoints: { ...rt.config.checkpoints, witnesses: parsed.witnesses, quorum } };
  return checkpointing({ ...rt, config }, options);
}

/** Copies the first `count` records of `from`'s chain into `to`'s, as they are, and moves `to`'s head there. */
export async function copyPrefix(from: TestRuntime, to: TestRuntime, chain: string, count: number): Promise<void> {
  const records = await from.store.readChain(chain, { fromSeq: 1, toSeq: count, limit: count });
  const last = records[records.length - 1]!.record;
  await to.db.transaction(async (tx) => {
    await eventLog.copyRecords(tx, records);
    await eventLog.setHead(tx, { chain, seq: last.seq, hash: last.hash, ts: last.ts });
  });
}

export { verifyRawEd25519 };
