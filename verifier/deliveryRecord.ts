/**
 * The `delivery.prepared` record a signed delivery proof is over
 * (docs/FORMAT.md section 13), read back from a source: audit-verify's check
 * 5b (verifier/embedded.ts) and verify-proof (verifier/verifyDeliveryProof.ts)
 * rebuild the proof's members from it. Every problem is returned as text,
 * never thrown: the record is data under check.
 */
import type { PreparedRecord } from '../chain/deliveryProof.ts';
import type { ChainRecord } from '../chain/record.ts';
import type { SignerRegistry } from '../chain/registry.ts';
import { deliveryPreparedSchema } from '../domain/delivery/deliveryEvents.ts';
import { checkLine } from './line.ts';
import type { RecordReader } from './reader.ts';

export const DELIVERY_PREPARED_TYPE = 'delivery.prepared';

/** Only the record's own form and hash are checked here (signatures: false), so no signer is needed. */
const NO_SIGNERS: SignerRegistry = { signers: new Map() };

/** The text of record `seq` of `chain`, or undefined when the source does not hold it or cannot read it. */
export async function recordLineAt(reader: RecordReader, chain: string, seq: number): Promise<string | undefined> {
  try {
    if (seq > (await reader.lastSeq(chain))) return undefined;
    for await (const page of reader.pages(chain, seq, seq)) return page[0];
  } catch {
    return undefined; // an unknown chain, or a source that fails: the record is not there to rebuild from
  }
  return undefined;
}

/** A zod issue list as one line of text: `path: message; …`. */
export function issuesText(issues: readonly { path: readonly PropertyKey[]; message: string }[]): string {
  return issues
    .slice(0, 5)
    .map((issue) => `${issue.path.map(String).join('.') || '(data)'}: ${issue.message}`)
    .join('; ');
}

/**
 * The record at `seq` of `chain` as a `delivery.prepared` whose form and hash
 * check (docs/FORMAT.md sections 1 and 2) and whose data is what
 * docs/FORMAT.md section 13 rebuilds a proof from; otherwise why not.
 */
export function preparedRecordOf(text: string, chain: string, seq: number): PreparedRecord | string {
  const line = checkLine(text, NO_SIGNERS, undefined, { signatures: false });
  if (!line.ok) return `the record at seq ${seq} is malformed: ${line.malformed}`;
  if (line.facts.chain !== chain || line.facts.seq !== seq)
    return `the source gave record ${line.facts.chain} seq ${line.facts.seq} for ${chain} seq ${seq}`;
  if (!line.hashOk) return `the hash of the record at seq ${seq} does not recompute`;
  if (line.facts.type !== DELIVERY_PREPARED_TYPE)
    return `the record at seq ${seq} is a ${line.facts.type}, not a ${DELIVERY_PREPARED_TYPE}`;
  // checkLine parsed this text already; it does not keep the data of every type.
  const record = JSON.parse(text) as ChainRecord;
  const data = deliveryPreparedSchema.safeParse(record.data);
  if (!data.success)
    return `the ${DELIVERY_PREPARED_TYPE} at seq ${seq} has data of another form: ${issuesText(data.error.issues)}`;
  return { chain, seq, hash: record.hash, data: data.data };
}
