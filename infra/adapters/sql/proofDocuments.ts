/**
 * The signed ledger proof documents (docs/FORMAT.md section 9), kept in the
 * database beside the chain: the chain records each proof
 * (`ledger.proof_issued`, with the SHA-256 of its canonical payload), and
 * the document itself is stored here when it is issued, by whichever entry
 * point issued it, and served from here (GET /ledger/proofs/{id}, audit
 * bundles). Replay stores again those a restored database lacks, rebuilt
 * from the chain (projections/replay/proofDocuments.ts), except for records
 * written before they carried the document's issue time (`proofTs`). Checked
 * against the chain's payloadSha256 when read.
 */
import { createHash } from 'node:crypto';
import type { SignedProof } from '../../../chain/proof.ts';
import type { ProofStore } from '../../../commands/command.ts';
import { CodedError } from '../../../domain/errors.ts';
import { deliveryProofsMeeting } from '../../../projections/delivery/deliveryQueries.ts';
import type { SqlExecutor } from './sql.ts';

const FIRST_INSTANT = '0001-01-01T00:00:00.000Z';
const LAST_INSTANT = '9999-12-31T23:59:59.999Z';

/** Proof documents one read returns. */
export const MAX_PROOF_DOCUMENTS = 1000;

export interface StoredProof {
  proofId: string;
  chain: string;
  fromSeq: number;
  toSeq: number;
  fromTs: string;
  toTs: string;
  issuedSeq: number | null;
  /** Whether the stored document's canonical payload hashes to what the chain recorded. */
  matchesChain: boolean;
  document: SignedProof;
}

export function sqlProofStore(db: SqlExecutor): ProofStore {
  return {
    async save(proof) {
      await db.query(
        `INSERT INTO ledger_proof_documents (chain, proof_id, from_seq, to_seq, from_ts, to_ts, payload_sha256, document)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (chain, proof_id) DO NOTHING`,
        [
          proof.chain,
          proof.proof_id,
          proof.from_seq,
          proof.to_seq,
          proof.from_ts,
          proof.to_ts,
          createHash('sha256').update(proof.canonical_payload).digest('hex'),
          JSON.stringify(proof),
        ],
      );
    },
  };
}

function storedOf(row: Record<string, unknown>): StoredProof {
  return {
    proofId: row['proof_id'] as string,
    chain: row['chain'] as string,
    fromSeq: Number(row['from_seq']),
    toSeq: Number(row['to_seq']),
    fromTs: row['from_ts'] as string,
    toTs: row['to_ts'] as string,
    issuedSeq: row['issued_seq'] === null ? null : Number(row['issued_seq']),
    matchesChain: row['recorded_sha256'] === row['payload_sha256'],
    document: JSON.parse(row['document'] as string) as SignedProof,
  };
}

const SELECT = `SELECT d.chain, d.proof_id, d.from_seq, d.to_seq, d.from_ts, d.to_ts, d.payload_sha256, d.document,
    p.issued_seq, p.payload_sha256 AS recorded_sha256
  FROM ledger_proof_documents d LEFT JOIN ledger_proofs p ON p.proof_id = d.proof_id AND p.chain = d.chain`;

export async function proofDocument(db: SqlExecutor, chain: string, proofId: string): Promise<StoredProof | undefined> {
  const { rows } = await db.query<Record<string, unknown>>(`${SELECT} WHERE d.chain = $1 AND d.proof_id = $2`, [
    chain,
    proofId,
  ]);
  return rows[0] && storedOf(rows[0]);
}

export interface ProofListing {
  proofId: string;
  chain: string;
  fromSeq: number;
  toSeq: number;
  issuedSeq: number;
  signerKid: string;
  /** Whether the signed document is stored (false for a proof issued before documents were kept and not rebuilt by replay). */
  stored: boolean;
}

/** The proofs the chain recorded, in the order issued, a page at a time (`afterSeq` is an issued seq). */
export async function proofListing(
  db: SqlExecutor,
  chain: string,
  afterSeq: number,
  limit: number,
): Promise<ProofListing[]> {
  const { rows } = await db.query<Record<string, unknown>>(
    `SELECT p.proof_id, p.chain, p.from_seq, p.to_seq, p.issued_seq, p.signer_kid, d.proof_id IS NOT NULL AS stored
     FROM ledger_proofs p LEFT JOIN ledger_proof_documents d ON d.chain = p.chain AND d.proof_id = p.proof_id
     WHERE p.chain = $1 AND p.issued_seq > $2 ORDER BY p.issued_seq LIMIT $3`,
    [chain, afterSeq, limit],
  );
  return rows.map((row) => ({
    proofId: row['proof_id'] as string,
    chain: row['chain'] as string,
    fromSeq: Number(row['from_seq']),
    toSeq: Number(row['to_seq']),
    issuedSeq: Number(row['issued_seq']),
    signerKid: row['signer_kid'] as string,
    stored: row['stored'] === true,
  }));
}

/** Proofs the chain recorded over a range within [fromSeq, toSeq] whose document is not stored. */
export async function unstoredProofsIn(
  db: SqlExecutor,
  chain: string,
  fromSeq: number,
  toSeq: number,
): Promise<string[]> {
  const { rows } = await db.query<{ proof_id: string }>(
    `SELECT p.proof_id FROM ledger_proofs p LEFT JOIN ledger_proof_documents d ON d.chain = p.chain AND d.proof_id = p.proof_id
     WHERE p.chain = $1 AND p.from_seq >= $2 AND p.to_seq <= $3 AND d.proof_id IS NULL ORDER BY p.from_seq LIMIT $4`,
    [chain, fromSeq, toSeq, MAX_PROOF_DOCUMENTS],
  );
  return rows.map((row) => row.proof_id);
}

/** Stored proofs whose time range meets [fromTs, toTs] (an audit bundle keeps those its batches hold). */
export async function proofDocumentsMeeting(
  db: SqlExecutor,
  chain: string,
  fromTs: string,
  toTs: string,
  after?: { fromSeq: number; proofId: string },
): Promise<StoredProof[]> {
  const { rows } = await db.query<Record<string, unknown>>(
    `${SELECT} WHERE d.chain = $1 AND d.to_ts >= $2 AND d.from_ts <= $3
       AND ($5::int8 IS NULL OR (d.from_seq, d.proof_id) > ($5::int8, $6::text))
     ORDER BY d.from_seq, d.proof_id LIMIT $4`,
    [chain, fromTs, toTs, MAX_PROOF_DOCUMENTS, after?.fromSeq ?? null, after?.proofId ?? null],
  );
  return rows.map(storedOf);
}

/** The proofs one bundle takes from the database; a range holding more is refused (narrow it), never cut silently. */
export const MAX_BUNDLE_PROOFS = 100_000;

function tooManyProofs(): never {
  throw new CodedError(
    'BUNDLE_TOO_MANY_PROOFS',
    `the range holds more than ${MAX_BUNDLE_PROOFS} proofs: bundle a shorter range`,
    { maxProofs: MAX_BUNDLE_PROOFS },
  );
}

/**
 * The texts an audit bundle considers from the database: the stored proofs of
 * the period, a day either side (the bundle keeps those its batches hold).
 * `chainbook audit-bundle` and GET /audit/bundle read the same ones.
 */
export async function bundleProofTexts(
  db: SqlExecutor,
  chain: string,
  fromTs: string,
  toTs: string,
): Promise<{ name: string; text: string }[]> {
  const dayMs = 86_400_000;
  // Widened by a day, within the years RFC 3339 text sorts in (past 9999 toISOString writes `+010000-…`, which sorts first).
  const from = new Date(Math.max(Date.parse(fromTs) - dayMs, Date.parse(FIRST_INSTANT))).toISOString();
  const to = new Date(Math.min(Date.parse(toTs) + dayMs, Date.parse(LAST_INSTANT))).toISOString();
  const texts: { name: string; text: string }[] = [];
  // Every stored ledger proof of the period, a page at a time.
  for (let page = await proofDocumentsMeeting(db, chain, from, to); page.length > 0;) {
    for (const proof of page)
      if (proof.matchesChain) texts.push({ name: `database ${proof.proofId}`, text: JSON.stringify(proof.document) });
    if (texts.length > MAX_BUNDLE_PROOFS) tooManyProofs();
    const last = page.at(-1)!;
    page =
      page.length < MAX_PROOF_DOCUMENTS
        ? []
        : await proofDocumentsMeeting(db, chain, from, to, { fromSeq: last.fromSeq, proofId: last.proofId });
  }
  // Delivery proofs are rebuilt from the chain by the delivery projection: always what the chain says.
  for (const proof of await deliveryProofsMeeting(db, from, to, MAX_BUNDLE_PROOFS + 1 - texts.length)) {
    if ((proof.document as { chain?: unknown }).chain !== chain) continue;
    texts.push({ name: `database ${proof.proofId}`, text: JSON.stringify(proof.document) });
  }
  if (texts.length > MAX_BUNDLE_PROOFS) tooManyProofs();
  return texts;
}
