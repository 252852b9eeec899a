/** Reads of the delivery projection: an order's delivery, its proof document, one download link. */
import type { KeyProvenance } from '../../domain/delivery/deliveryEvents.ts';
import type { ProjectionExecutor } from '../rowStore.ts';

export const DELIVERY_STATUSES = ['failed', 'prepared', 'proven', 'revoked'] as const;

export interface DeliveryView {
  orderId: string;
  deliveryId: string | null;
  buyerId: string;
  status: (typeof DELIVERY_STATUSES)[number];
  objectKey: string | null;
  artifactSha256: string | null;
  ciphertextSha256: string | null;
  ciphertextBytes: number | null;
  algorithm: string | null;
  keyProvenance: KeyProvenance | null;
  manifestSignatureId: string | null;
  ledgerProofId: string | null;
  preparedSeq: number | null;
  proofId: string | null;
  linksIssued: number;
  failures: number;
  lastFailure: { code: string; reason: string } | null;
  updatedSeq: number;
}

const number = (value: unknown): number | null => (value === null ? null : Number(value));

export async function findDelivery(tx: ProjectionExecutor, orderId: string): Promise<DeliveryView | undefined> {
  const { rows } = await tx.query<Record<string, unknown>>(`SELECT * FROM deliveries WHERE order_id = $1`, [orderId]);
  const row = rows[0];
  if (!row) return undefined;
  return {
    orderId: row['order_id'] as string,
    deliveryId: (row['delivery_id'] as string) || null,
    buyerId: row['buyer_id'] as string,
    status: row['status'] as DeliveryView['status'],
    objectKey: row['object_key'] as string | null,
    artifactSha256: row['artifact_sha256'] as string | null,
    ciphertextSha256: row['ciphertext_sha256'] as string | null,
    ciphertextBytes: number(row['ciphertext_bytes']),
    algorithm: row['algorithm'] as string | null,
    keyProvenance:
      row['key_provenance'] === null ? null : (JSON.parse(row['key_provenance'] as string) as KeyProvenance),
    manifestSignatureId: row['manifest_signature_id'] as string | null,
    ledgerProofId: row['ledger_proof_id'] as string | null,
    preparedSeq: number(row['prepared_seq']),
    proofId: row['proof_id'] as string | null,
    linksIssued: Number(row['links_issued']),
    failures: Number(row['failures']),
    lastFailure:
      row['last_failure_code'] === null
        ? null
        : { code: row['last_failure_code'] as string, reason: row['last_failure_reason'] as string },
    updatedSeq: Number(row['updated_seq']),
  };
}

/** The signed delivery proof of an order's current delivery, as the chain's two records give it; undefined before it is issued. */
export async function findDeliveryProof(tx: ProjectionExecutor, orderId: string): Promise<unknown> {
  const { rows } = await tx.query<{ document: string }>(
    `SELECT p.document FROM deliveries d JOIN delivery_proofs p ON p.proof_id = d.proof_id WHERE d.order_id = $1`,
    [orderId],
  );
  const document = rows[0]?.document;
  return document === undefined ? undefined : (JSON.parse(document) as unknown);
}

/** The delivery proofs whose delivery.prepared was recorded in [fromTs, toTs], in seq order, at most `limit` (audit bundles). */
export async function deliveryProofsMeeting(
  tx: ProjectionExecutor,
  fromTs: string,
  toTs: string,
  limit: number,
): Promise<{ proofId: string; document: unknown }[]> {
  const { rows } = await tx.query<{ proof_id: string; document: string }>(
    `SELECT proof_id, document FROM delivery_proofs WHERE prepared_ts BETWEEN $1 AND $2 ORDER BY delivery_seq LIMIT $3`,
    [fromTs, toTs, limit],
  );
  return rows.map((row) => ({ proofId: row.proof_id, document: JSON.parse(row.document) as unknown }));
}

export interface DeliveryLinkView {
  linkId: string;
  orderId: string;
  deliveryId: string;
  objectKey: string;
  expiresAt: string;
  /** Whether the link's delivery is the order's current one and not revoked. */
  live: boolean;
}

export async function findDeliveryLink(tx: ProjectionExecutor, linkId: string): Promise<DeliveryLinkView | undefined> {
  const { rows } = await tx.query<Record<string, unknown>>(
    `SELECT l.link_id, l.order_id, l.delivery_id, l.object_key, l.expires_at,
       (d.status IN ('prepared', 'proven') AND d.delivery_id = l.delivery_id) AS live
     FROM delivery_links l JOIN deliveries d ON d.order_id = l.order_id WHERE l.link_id = $1`,
    [linkId],
  );
  const row = rows[0];
  return (
    row && {
      linkId: row['link_id'] as string,
      orderId: row['order_id'] as string,
      deliveryId: row['delivery_id'] as string,
      objectKey: row['object_key'] as string,
      expiresAt: row['expires_at'] as string,
      live: row['live'] === true,
    }
  );
}
