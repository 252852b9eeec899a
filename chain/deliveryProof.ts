/**
 * Signed delivery proofs, docs/FORMAT.md section 13, kind `delivery`: "order
 * O's artifact A was encrypted for this key as ciphertext C, recorded at
 * seq S with hash H, citing the kernel's manifest signature and a ledger
 * proof of the order's postings". Signed like a ledger proof (section 9):
 *
 *   canonical_payload = JCS of the members proof_id … alg
 *   signature         = the signer's signature over canonical_payload's UTF-8 bytes
 *
 * Every member comes from two records of the chain, the `delivery.prepared`
 * at delivery_seq and the `delivery.proof_issued` that follows it, so the
 * document is rebuilt from the chain (projections, audit-verify, DR) and
 * never has to be trusted from storage.
 */
import type { DeliveryPrepared, DeliveryProofIssued, KeyProvenance } from '../domain/delivery/deliveryEvents.ts';
import { jcs } from './canonical.ts';
import type { Signer } from './signer.ts';

export const DELIVERY_PROOF_KIND = 'delivery';

/** The signed members, in the order docs/FORMAT.md section 13 lists them (JCS sorts them anyway). */
export const DELIVERY_PROOF_MEMBERS = [
  'proof_id',
  'kind',
  'chain',
  'order_id',
  'delivery_id',
  'buyer_id',
  'manifest_id',
  'artifact_sha256',
  'ciphertext_sha256',
  'ciphertext_bytes',
  'algorithm',
  'key_provenance',
  'manifest_signature_id',
  'ledger_proof_id',
  'delivery_seq',
  'delivery_hash',
  'ts',
  'signer_kid',
  'alg',
] as const;

/** Whose key the content key was wrapped to, as the proof names it (no wrapped key material). */
export type ProofKeyProvenance =
  | { type: 'buyer-key'; key_type: string; spki_sha256: string }
  | { type: 'managed-key'; key_id: string; origin: string; wrapping_key_id: string };

export interface DeliveryProofPayload {
  proof_id: string;
  kind: typeof DELIVERY_PROOF_KIND;
  chain: string;
  order_id: string;
  delivery_id: string;
  buyer_id: string;
  manifest_id: string;
  artifact_sha256: string;
  ciphertext_sha256: string;
  ciphertext_bytes: number;
  algorithm: string;
  key_provenance: ProofKeyProvenance;
  manifest_signature_id: string;
  ledger_proof_id: string;
  delivery_seq: number;
  delivery_hash: string;
  ts: string;
  signer_kid: string;
  alg: string;
}

export interface SignedDeliveryProof extends DeliveryProofPayload {
  canonical_payload: string;
  signature: string;
}

export function proofKeyProvenance(provenance: KeyProvenance): ProofKeyProvenance {
  return provenance.type === 'buyer-key'
    ? { type: 'buyer-key', key_type: provenance.keyType, spki_sha256: provenance.spkiSha256 }
    : {
        type: 'managed-key',
        key_id: provenance.keyId,
        origin: provenance.origin,
        wrapping_key_id: provenance.wrappingKeyId,
      };
}

/** The record a proof is over, as the chain holds it. */
export interface PreparedRecord {
  chain: string;
  seq: number;
  hash: string;
  data: DeliveryPrepared;
}

/** The payload over a `delivery.prepared` record, before it is signed. */
export function deliveryProofPayload(
  prepared: PreparedRecord,
  proof: { proofId: string; ts: string; signerKid: string; alg: string },
): DeliveryProofPayload {
  const data = prepared.data;
  return {
    proof_id: proof.proofId,
    kind: DELIVERY_PROOF_KIND,
    chain: prepared.chain,
    order_id: data.orderId,
    delivery_id: data.deliveryId,
    buyer_id: data.buyerId,
    manifest_id: data.manifestId,
    artifact_sha256: data.artifactSha256,
    ciphertext_sha256: data.ciphertextSha256,
    ciphertext_bytes: data.ciphertextBytes,
    algorithm: data.algorithm,
    key_provenance: proofKeyProvenance(data.keyProvenance),
    manifest_signature_id: data.manifestSignatureId,
    ledger_proof_id: data.ledgerProofId,
    delivery_seq: prepared.seq,
    delivery_hash: prepared.hash,
    ts: proof.ts,
    signer_kid: proof.signerKid,
    alg: proof.alg,
  };
}

export function deliveryProofMembersOf(document: DeliveryProofPayload): DeliveryProofPayload {
  const payload: Record<string, unknown> = {};
  for (const member of DELIVERY_PROOF_MEMBERS) payload[member] = document[member];
  return payload as unknown as DeliveryProofPayload;
}

export async function signDeliveryProof(
  payload: DeliveryProofPayload,
  signer: Pick<Signer, 'signMessage'>,
): Promise<SignedDeliveryProof> {
  const canonical = jcs(deliveryProofMembersOf(payload));
  const signature = await signer.signMessage(Buffer.from(canonical, 'utf8'));
  return { ...deliveryProofMembersOf(payload), canonical_payload: canonical, signature: signature.value };
}

/** The document rebuilt from the two records that carry it. */
export function deliveryProofFromChain(prepared: PreparedRecord, issued: DeliveryProofIssued): SignedDeliveryProof {
  const payload = deliveryProofPayload(prepared, {
    proofId: issued.proofId,
    ts: issued.proofTs,
    signerKid: issued.signerKid,
    alg: issued.alg,
  });
  return { ...payload, canonical_payload: jcs(payload), signature: issued.signature };
}
