/**
 * Deliveries (docs/DOMAIN.md, "Delivery"): per order, the current
 * preparation, its proof's id, links and failures; every signed delivery
 * proof; every link issued.
 * The proof document is rebuilt here from its two records (the
 * `delivery.prepared` at deliverySeq and the `delivery.proof_issued`), so a
 * replay after a restore serves the same document byte for byte.
 */
import { deliveryProofFromChain } from '../../chain/deliveryProof.ts';
import type { DeliveryEvent, DeliveryPrepared } from '../../domain/delivery/deliveryEvents.ts';
import { assertNever, CodedError } from '../../domain/errors.ts';
import { foldRows, requireRow, type RowFold } from '../foldRows.ts';
import type { Projection, ProjectedRecord } from '../projection.ts';
import { upsertRows, type Row, type TableSpec } from '../rowStore.ts';

export const DELIVERIES: TableSpec = {
  name: 'deliveries',
  key: ['order_id'],
  columns: {
    order_id: 'text',
    delivery_id: 'text',
    buyer_id: 'text',
    status: 'text',
    object_key: 'text',
    artifact_sha256: 'text',
    ciphertext_sha256: 'text',
    ciphertext_bytes: 'int8',
    algorithm: 'text',
    key_provenance: 'text',
    manifest_signature_id: 'text',
    ledger_proof_id: 'text',
    prepared_seq: 'int8',
    prepared_hash: 'text',
    prepared_ts: 'text',
    prepared_data: 'text',
    proof_id: 'text',
    links_issued: 'int4',
    failures: 'int4',
    last_failure_code: 'text',
    last_failure_reason: 'text',
    updated_seq: 'int8',
  },
};

export const DELIVERY_PROOFS: TableSpec = {
  name: 'delivery_proofs',
  key: ['proof_id'],
  columns: {
    proof_id: 'text',
    order_id: 'text',
    delivery_id: 'text',
    delivery_seq: 'int8',
    prepared_ts: 'text',
    document: 'text',
  },
};

export const DELIVERY_LINKS: TableSpec = {
  name: 'delivery_links',
  key: ['link_id'],
  columns: {
    link_id: 'text',
    order_id: 'text',
    delivery_id: 'text',
    object_key: 'text',
    expires_at: 'text',
    issued_seq: 'int8',
  },
};

function preparedRow(current: Row | undefined, data: DeliveryPrepared, record: ProjectedRecord): Row {
  return {
    order_id: data.orderId,
    delivery_id: data.deliveryId,
    buyer_id: data.buyerId,
    status: 'prepared',
    object_key: data.objectKey,
    artifact_sha256: data.artifactSha256,
    ciphertext_sha256: data.ciphertextSha256,
    ciphertext_bytes: data.ciphertextBytes,
    algorithm: data.algorithm,
    key_provenance: JSON.stringify(data.keyProvenance),
    manifest_signature_id: data.manifestSignatureId,
    ledger_proof_id: data.ledgerProofId,
    prepared_seq: record.seq,
    prepared_hash: record.hash,
    prepared_ts: record.ts,
    prepared_data: JSON.stringify(data),
    proof_id: null,
    links_issued: (current?.['links_issued'] as number | undefined) ?? 0,
    failures: (current?.['failures'] as number | undefined) ?? 0,
    last_failure_code: (current?.['last_failure_code'] as string | undefined) ?? null,
    last_failure_reason: (current?.['last_failure_reason'] as string | undefined) ?? null,
    updated_seq: record.seq,
  };
}

function mismatch(record: ProjectedRecord, what: string): CodedError {
  return new CodedError('INVALID_DOMAIN_EVENT', `${record.event.type} at seq ${record.seq}: ${what}`, {
    seq: record.seq,
    type: record.event.type,
  });
}

/** The deliveries fold; the links and proofs it issues are collected beside it (a link with its delivery's object key). */
function deliveryFold(links: Row[], proofs: Row[]): RowFold<DeliveryEvent> {
  return {
    spec: DELIVERIES,
    keyOf: (event) => ({ order_id: event.data.orderId }),
    evolve(row, event, record) {
      const updated = { updated_seq: record.seq };
      switch (event.type) {
        case 'delivery.prepared':
          return preparedRow(row, event.data, record);
        case 'delivery.proof_issued': {
          const current = requireRow(row, record);
          const { deliveryId, deliverySeq, deliveryHash } = event.data;
          if (current['delivery_id'] !== deliveryId || current['prepared_seq'] !== deliverySeq)
            throw mismatch(record, `delivery ${deliveryId} at seq ${deliverySeq} is not the order's current one`);
          if (current['prepared_hash'] !== deliveryHash)
            throw mismatch(record, `deliveryHash is not the hash of the record at seq ${deliverySeq}`);
          const prepared = JSON.parse(current['prepared_data'] as string) as DeliveryPrepared;
          const document = deliveryProofFromChain(
            { chain: record.chain, seq: deliverySeq, hash: deliveryHash, data: prepared },
            event.data,
          );
          proofs.push({
            proof_id: event.data.proofId,
            order_id: event.data.orderId,
            delivery_id: deliveryId,
            delivery_seq: deliverySeq,
            prepared_ts: current['prepared_ts'] as string,
            document: JSON.stringify(document),
          });
          return { ...current, status: 'proven', proof_id: event.data.proofId, ...updated };
        }
        case 'delivery.link_issued': {
          const current = requireRow(row, record);
          if (current['delivery_id'] !== event.data.deliveryId)
            throw mismatch(record, `delivery ${event.data.deliveryId} is not the order's current one`);
          links.push({
            link_id: event.data.linkId,
            order_id: event.data.orderId,
            delivery_id: event.data.deliveryId,
            object_key: current['object_key'] as string,
            expires_at: event.data.expiresAt,
            issued_seq: record.seq,
          });
          return { ...current, links_issued: (current['links_issued'] as number) + 1, ...updated };
        }
        case 'delivery.failed': {
          const failure = {
            failures: ((row?.['failures'] as number | undefined) ?? 0) + 1,
            last_failure_code: event.data.code,
            last_failure_reason: event.data.reason,
            ...updated,
          };
          if (row !== undefined) return { ...row, ...failure };
          return {
            ...Object.fromEntries(Object.keys(DELIVERIES.columns).map((column) => [column, null])),
            order_id: event.data.orderId,
            delivery_id: '',
            buyer_id: '',
            status: 'failed',
            links_issued: 0,
            ...failure,
          };
        }
        case 'delivery.revoked':
          return { ...requireRow(row, record), status: 'revoked', ...updated };
        default:
          return assertNever(event, 'delivery event');
      }
    },
  };
}

export const deliveryProjection: Projection = {
  name: 'delivery',
  version: 1,
  tables: [DELIVERIES, DELIVERY_PROOFS, DELIVERY_LINKS],
  eventTypes: new Set([
    'delivery.prepared',
    'delivery.proof_issued',
    'delivery.link_issued',
    'delivery.failed',
    'delivery.revoked',
  ]),
  async apply(tx, records) {
    const links: Row[] = [];
    const proofs: Row[] = [];
    await foldRows(tx, deliveryFold(links, proofs), records);
    if (proofs.length > 0) await upsertRows(tx, DELIVERY_PROOFS, proofs);
    if (links.length > 0) await upsertRows(tx, DELIVERY_LINKS, links);
  },
};
