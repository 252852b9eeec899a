/**
 * Linking and hashing a batch onto a chain head (docs/FORMAT.md sections 1
 * and 2), then attaching signatures. Pure: time and ids come in.
 */
import { assert } from '../domain/errors.ts';
import { payloadJcsFromParts, recordJcs } from './canonical.ts';
import { preimageOf, sha256 } from './hash.ts';
import type { ValidatedEvent } from './input.ts';
import {
  FORMAT_VERSION,
  type ChainHead,
  type ChainRecord,
  type RecordPayload,
  type RecordSignature,
  type StoredRecord,
} from './record.ts';

export interface EventToSeal {
  event: ValidatedEvent;
  version: number;
}

export interface UnsignedRecord {
  payload: RecordPayload;
  dataJcs: string;
  metaJcs: string;
  prevHash: string;
  preimage: Buffer;
  hash: Buffer;
}

/**
 * The commit time of a batch: the clock, but never before the head's time,
 * so that `ts` never decreases along a chain even across writer processes
 * whose clocks disagree.
 */
export function commitTime(nowMs: number, head: ChainHead): string {
  const headMs = head.ts === null ? 0 : Date.parse(head.ts);
  return new Date(Math.max(nowMs, headMs)).toISOString();
}

export function sealBatch(
  head: ChainHead,
  events: readonly EventToSeal[],
  ts: string,
  newId: () => string,
): UnsignedRecord[] {
  let seq = head.seq;
  let prevHash = head.hash;
  return events.map(({ event, version }) => {
    seq += 1;
    const payload: RecordPayload = {
      v: FORMAT_VERSION,
      chain: head.chain,
      seq,
      id: newId(),
      type: event.type,
      stream: event.stream,
      version,
      ts,
      actor: event.actor,
      data: event.data,
      meta: event.meta,
    };
    const preimage = preimageOf(payloadJcsFromParts(payload, event.dataJcs, event.metaJcs), prevHash);
    const hash = sha256(preimage);
    const unsigned: UnsignedRecord = {
      payload,
      dataJcs: event.dataJcs,
      metaJcs: event.metaJcs,
      prevHash,
      preimage,
      hash,
    };
    prevHash = hash.toString('hex');
    return unsigned;
  });
}

export function attachSignatures(
  unsigned: readonly UnsignedRecord[],
  signatures: readonly RecordSignature[],
): StoredRecord[] {
  assert(signatures.length === unsigned.length, `${signatures.length} signatures for ${unsigned.length} records`);
  return unsigned.map((u, index) => {
    const record: ChainRecord = {
      ...u.payload,
      prevHash: u.prevHash,
      hash: u.hash.toString('hex'),
      sig: signatures[index]!,
    };
    return { record, text: recordJcs(record, u.dataJcs, u.metaJcs) };
  });
}
