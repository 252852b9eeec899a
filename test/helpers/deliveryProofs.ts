/**
 * Chains that carry signed delivery proofs (docs/FORMAT.md section 13), built
 * as the delivery flow records them: a `delivery.prepared` record, then a
 * proof signed over it by the registry signer, recorded as
 * `delivery.proof_issued` on the same stream. Appended to a bare chain (no
 * projections), so tests can also record what the flow never would.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { sha256Hex } from '../../chain/hash.ts';
import {
  deliveryProofPayload,
  signDeliveryProof,
  type PreparedRecord,
  type SignedDeliveryProof,
} from '../../chain/deliveryProof.ts';
import type { SignerRegistry } from '../../chain/registry.ts';
import type { Signer } from '../../chain/signer.ts';
import type { AppendedEvent, EventStore } from '../../chain/store.ts';
import type { DeliveryPrepared, DeliveryProofIssued } from '../../domain/delivery/deliveryEvents.ts';
import type { JsonObject } from '../../domain/json.ts';
import type { RecordReader } from '../../verifier/reader.ts';

export const DELIVERY_SERVICE = { id: 'service:chainbook-delivery', role: 'Service' };

export function preparedData(
  orderId: string,
  deliveryId: string,
  changes: Partial<DeliveryPrepared> = {},
): DeliveryPrepared {
  return {
    orderId,
    deliveryId,
    buyerId: 'buyer-0042',
    manifestId: 'manifest-kc7',
    artifactSha256: sha256Hex(`artifact of ${orderId}`),
    artifactBytes: 4096,
    objectKey: `deliveries/${orderId}/${deliveryId}.bin`,
    ciphertextSha256: sha256Hex(`ciphertext of ${deliveryId}`),
    ciphertextBytes: 4200,
    envelope: 'CHAINBOOK-DELIVERY-1',
    algorithm: 'ECDH-ES+A256KW',
    keyProvenance: { type: 'buyer-key', keyType: 'x25519', spkiSha256: sha256Hex(`buyer key of ${orderId}`) },
    manifestSignatureId: 'msig-kc7',
    ledgerProofId: `proof-${orderId}`,
    ...changes,
  };
}

export async function appendEvent(
  store: EventStore,
  stream: string,
  type: string,
  data: object,
): Promise<AppendedEvent> {
  const result = await store.append('main', [{ stream, type, data: data as JsonObject, actor: DELIVERY_SERVICE }]);
  return result.events[0]!;
}

export async function appendPrepared(store: EventStore, data: DeliveryPrepared): Promise<PreparedRecord> {
  const event = await appendEvent(store, `delivery-${data.orderId}`, 'delivery.prepared', data);
  return { chain: 'main', seq: event.seq, hash: event.hash, data };
}

/** The proof over `prepared`, signed now by `signer`, and the data of the record that carries it. */
export async function signedProof(
  prepared: PreparedRecord,
  signer: Pick<Signer, 'kid' | 'algorithm' | 'signMessage'>,
  proofId = `dproof-${prepared.data.deliveryId}`,
): Promise<{ proof: SignedDeliveryProof; issued: DeliveryProofIssued }> {
  const payload = deliveryProofPayload(prepared, {
    proofId,
    ts: new Date().toISOString(),
    signerKid: signer.kid,
    alg: signer.algorithm,
  });
  const proof = await signDeliveryProof(payload, signer);
  const issued: DeliveryProofIssued = {
    orderId: prepared.data.orderId,
    deliveryId: prepared.data.deliveryId,
    proofId,
    kind: 'delivery',
    deliverySeq: prepared.seq,
    deliveryHash: prepared.hash,
    signerKid: proof.signer_kid,
    alg: proof.alg,
    signature: proof.signature,
    payloadSha256: sha256Hex(proof.canonical_payload),
    proofTs: proof.ts,
  };
  return { proof, issued };
}

/** Records `delivery.proof_issued` with `data` (as issued, or changed) on the order's delivery stream. */
export function appendProofIssued(store: EventStore, orderId: string, data: object): Promise<AppendedEvent> {
  return appendEvent(store, `delivery-${orderId}`, 'delivery.proof_issued', data);
}

/** The chain as `chainbook dump` writes it, into `path`. */
export async function writeDump(reader: RecordReader, path: string): Promise<void> {
  const lines: string[] = [];
  for await (const page of reader.pages('main', 1, await reader.lastSeq('main'))) lines.push(...page);
  writeFileSync(path, lines.map((line) => `${line}\n`).join(''));
}

/** A signers.json of `registry`'s signers, as `chainbook signers export` prints one, into `path`. */
export function writeSigners(registry: SignerRegistry, path: string): void {
  const signers = [...registry.signers.values()].map((signer) => ({
    signer_kid: signer.kid,
    algorithm: signer.algorithm,
    public_key_pem: signer.publicKeyPem,
    deployedAt: signer.deployedAt,
    retiredAt: signer.retiredAt,
  }));
  writeFileSync(path, `${JSON.stringify({ signers }, null, 2)}\n`);
}

/** Runs a docs/FORMAT.md shell block with bash in `directory`; whether it exited 0, and what it printed. */
export function runShell(script: string, directory: string): { ok: boolean; output: string } {
  const result = spawnSync('bash', ['-c', script], { cwd: directory, encoding: 'utf8' });
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}` };
}
