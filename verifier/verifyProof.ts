/**
 * Verifying a signed ledger proof (docs/FORMAT.md section 9):
 * the document's members are exactly its canonical_payload; the signature
 * verifies under the signer registry (kid, algorithm, validity window at the
 * proof's ts) or a given public key; and, when a chain source is given,
 * range_hash, ledger_row_ids, from_ts, to_ts and head_hash recompute from the
 * records, which are themselves verified. Returns findings, never throws on
 * bad data.
 */
import type { KeyObject } from 'node:crypto';
import { isJsonObject } from '../domain/json.ts';
import {
  LEDGER_PROOF_KIND,
  LedgerRangeHasher,
  payloadMatches,
  PROOF_PAYLOAD_MEMBERS,
  proofSignatureValid,
  type SignedProof,
} from '../chain/proof.ts';
import type { ChainRecord } from '../chain/record.ts';
import { HASH_PATTERN, isTimestamp } from '../chain/record.ts';
import { checkSigner, type SignerRegistry } from '../chain/registry.ts';
import { isSignatureAlgorithm, keyMismatch } from '../chain/signature.ts';
import { checkLine } from './line.ts';
import type { LineChecker, RecordReader } from './reader.ts';
import { verify } from './verify.ts';

export type ProofFindingReason =
  | 'malformed-proof'
  | 'payload-mismatch'
  | 'unknown-signer'
  | 'algorithm-mismatch'
  | 'outside-validity-window'
  | 'bad-signature'
  | 'chain-integrity'
  | 'range-missing'
  | 'range-hash-mismatch'
  | 'row-ids-mismatch'
  | 'range-times-mismatch'
  | 'head-hash-mismatch';

export interface ProofFinding {
  reason: ProofFindingReason;
  message: string;
}

export interface ProofReport {
  ok: boolean;
  proofId: string | undefined;
  finding: ProofFinding | undefined;
  /** Whether range_hash and head_hash were recomputed from a chain source. */
  chainChecked: boolean;
  /** Whether the records of the range had their signatures checked (needs the registry). */
  recordSignaturesChecked: boolean;
}

export type ProofKey = { registry: SignerRegistry } | { publicKey: KeyObject };

function fail(reason: ProofFindingReason, message: string): ProofFinding {
  return { reason, message };
}

/** The proof document, or why it is not one. */
export function parseProof(text: string): SignedProof | ProofFinding {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    return fail('malformed-proof', `not JSON: ${(error as Error).message}`);
  }
  if (!isJsonObject(document)) return fail('malformed-proof', 'not a JSON object');
  const p = document as Record<string, unknown>;
  const strings = [
    'proof_id',
    'kind',
    'chain',
    'from_ts',
    'to_ts',
    'range_hash',
    'head_hash',
    'ts',
    'signer_kid',
    'alg',
    'canonical_payload',
    'signature',
  ];
  const missing = [...PROOF_PAYLOAD_MEMBERS, 'canonical_payload', 'signature'].filter(
    (member) => !Object.hasOwn(p, member),
  );
  if (missing.length > 0) return fail('malformed-proof', `missing members: ${missing.join(', ')}`);
  const wrong = strings.filter((member) => typeof p[member] !== 'string');
  if (wrong.length > 0) return fail('malformed-proof', `members must be strings: ${wrong.join(', ')}`);
  if (!Number.isSafeInteger(p['from_seq']) || !Number.isSafeInteger(p['to_seq']))
    return fail('malformed-proof', 'from_seq and to_seq must be integers');
  if (!Array.isArray(p['ledger_row_ids']) || !p['ledger_row_ids'].every((id) => typeof id === 'string'))
    return fail('malformed-proof', 'ledger_row_ids must be an array of strings');
  if (p['kind'] !== LEDGER_PROOF_KIND) return fail('malformed-proof', `kind must be ${LEDGER_PROOF_KIND}`);
  if (!HASH_PATTERN.test(p['range_hash'] as string) || !HASH_PATTERN.test(p['head_hash'] as string))
    return fail('malformed-proof', 'range_hash and head_hash must be 64 lowercase hex digits');
  return document as unknown as SignedProof;
}

/** The signature check under the registry (with its validity window at the proof's ts) or a bare public key. */
export function checkProofSignature(proof: SignedProof, key: ProofKey): ProofFinding | undefined {
  if (!payloadMatches(proof))
    return fail('payload-mismatch', "the document's members differ from its canonical_payload");
  if (!isSignatureAlgorithm(proof.alg))
    return fail('algorithm-mismatch', `unknown algorithm ${JSON.stringify(proof.alg)}`);
  let publicKey: KeyObject;
  if ('registry' in key) {
    if (!isTimestamp(proof.ts)) return fail('malformed-proof', 'ts is not RFC 3339 UTC with milliseconds');
    const signer = checkSigner(key.registry, proof.signer_kid, proof.alg, Date.parse(proof.ts));
    if (!signer.ok) return fail(signer.reason, signer.message);
    publicKey = signer.signer.publicKey;
  } else {
    const mismatch = keyMismatch(proof.alg, key.publicKey);
    if (mismatch) return fail('algorithm-mismatch', mismatch);
    publicKey = key.publicKey;
  }
  return proofSignatureValid(proof, proof.alg, publicKey)
    ? undefined
    : fail(
        'bad-signature',
        `the signature does not verify under ${'registry' in key ? `signer ${proof.signer_kid}` : 'the given public key'}`,
      );
}

interface RangeFacts {
  hasher: LedgerRangeHasher;
  first: ChainRecord | undefined;
  last: ChainRecord | undefined;
}

function compareRange(proof: SignedProof, facts: RangeFacts): ProofFinding | undefined {
  if (facts.first?.seq !== proof.from_seq || facts.last?.seq !== proof.to_seq) {
    return fail(
      'range-missing',
      `the source does not hold records ${proof.from_seq}..${proof.to_seq} of chain ${proof.chain}`,
    );
  }
  const rangeHash = facts.hasher.digest();
  if (rangeHash !== proof.range_hash)
    return fail('range-hash-mismatch', `range_hash recomputes to ${rangeHash}, the proof says ${proof.range_hash}`);
  if (JSON.stringify(facts.hasher.rowIds) !== JSON.stringify(proof.ledger_row_ids))
    return fail('row-ids-mismatch', 'ledger_row_ids differ from the ledger rows of the range');
  if (facts.first.ts !== proof.from_ts || facts.last.ts !== proof.to_ts)
    return fail('range-times-mismatch', 'from_ts or to_ts differ from the records at from_seq and to_seq');
  if (facts.last.hash !== proof.head_hash)
    return fail(
      'head-hash-mismatch',
      `the record at seq ${proof.to_seq} has hash ${facts.last.hash}, the proof says ${proof.head_hash}`,
    );
  return undefined;
}

function take(facts: RangeFacts, lines: readonly string[]): void {
  for (const line of lines) {
    const record = JSON.parse(line) as ChainRecord;
    facts.first ??= record;
    facts.last = record;
    facts.hasher.add(record);
  }
}

/** Recomputes the range from verified records (full check of docs/FORMAT.md section 5 with the registry's checker). */
async function checkRangeVerified(
  proof: SignedProof,
  reader: RecordReader,
  checker: LineChecker,
): Promise<ProofFinding | undefined> {
  const facts: RangeFacts = { hasher: new LedgerRangeHasher(), first: undefined, last: undefined };
  const report = await verify(reader, checker, {
    chains: [proof.chain],
    fromSeq: proof.from_seq,
    toSeq: proof.to_seq,
    onVerifiedPage: async (_chain, lines) => take(facts, lines),
  });
  if (!report.ok)
    return fail(
      'chain-integrity',
      `chain ${report.finding!.chain} seq ${report.finding!.seq}: ${report.finding!.reason}: ${report.finding!.message}`,
    );
  return compareRange(proof, facts);
}

/** Without a registry: hashes and links are checked, record signatures cannot be. */
async function checkRangeHashes(proof: SignedProof, reader: RecordReader): Promise<ProofFinding | undefined> {
  const facts: RangeFacts = { hasher: new LedgerRangeHasher(), first: undefined, last: undefined };
  const empty: SignerRegistry = { signers: new Map() };
  let previous = proof.from_seq > 1 ? await reader.hashAt(proof.chain, proof.from_seq - 1) : '0'.repeat(64);
  for await (const page of reader.pages(proof.chain, proof.from_seq, proof.to_seq)) {
    for (const line of page) {
      const check = checkLine(line, empty);
      if (!check.ok) return fail('chain-integrity', `a record of the range is malformed: ${check.malformed}`);
      if (!check.hashOk || (previous !== undefined && check.facts.prevHash !== previous)) {
        return fail(
          'chain-integrity',
          `seq ${check.facts.seq}: the hash does not recompute or does not link to its predecessor`,
        );
      }
      previous = check.facts.hash;
    }
    take(facts, page);
  }
  return compareRange(proof, facts);
}

export interface ProofSource {
  reader: RecordReader;
  /** Checks record signatures too; requires the registry. */
  checker?: LineChecker | undefined;
}

export async function verifyProof(text: string, key: ProofKey, source?: ProofSource): Promise<ProofReport> {
  const parsed = parseProof(text);
  const report = (finding: ProofFinding | undefined, proof?: SignedProof, chainChecked = false): ProofReport => ({
    ok: finding === undefined,
    proofId: proof?.proof_id,
    finding,
    chainChecked,
    recordSignaturesChecked: chainChecked && source?.checker !== undefined,
  });
  if ('reason' in parsed && !('canonical_payload' in parsed)) return report(parsed);
  const proof = parsed as SignedProof;
  const signature = checkProofSignature(proof, key);
  if (signature || !source) return report(signature, proof);
  const range = source.checker
    ? await checkRangeVerified(proof, source.reader, source.checker)
    : await checkRangeHashes(proof, source.reader);
  return report(range, proof, true);
}
