/**
 * The signing interface the writer uses. Backends (local key, KMS, HSM,
 * signing proxy) live in infra/adapters/signers and implement it.
 */
import type { DelegationData } from './delegation.ts';
import type { RecordSignature } from './record.ts';
import type { SignatureAlgorithm } from './signature.ts';

export interface SignRequest {
  /** The 32-byte record hash. */
  hash: Uint8Array;
  /** The bytes whose SHA-256 is `hash`; backends that hash themselves sign this. */
  preimage: Uint8Array;
}

export interface Signer {
  /** The registry kid this signer signs as now. */
  readonly kid: string;
  readonly algorithm: SignatureAlgorithm;
  sign(hash: Uint8Array, preimage: Uint8Array): Promise<RecordSignature>;
  /** Signs many at once; results in request order. */
  signBatch(requests: readonly SignRequest[]): Promise<RecordSignature[]>;
  /**
   * Signs a document (archive manifest, ledger proof: docs/FORMAT.md sections
   * 8 and 9): `ed25519` signs the bytes themselves, `rsa-sha256` and
   * `ecdsa-p256-sha256` sign their SHA-256.
   */
  signMessage(message: Uint8Array): Promise<RecordSignature>;
  /**
   * Delegated mode (docs/FORMAT.md section 4b): the session key to sign records
   * committed at `tsMs` with, its window holding `tsMs` (made or renewed as
   * needed); undefined when this signer signs every record itself. The
   * writer introduces each new session in each chain with a signer.delegated
   * record that this signer (the registry signer) signs.
   */
  session?(tsMs: number): SessionKey | undefined;
  close(): Promise<void>;
}

export interface SessionKey {
  readonly kid: string;
  /** `data` of the signer.delegated record that introduces it. */
  readonly delegation: DelegationData;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  signBatch(requests: readonly SignRequest[]): Promise<RecordSignature[]>;
}

/**
 * signBatch for backends that can only sign one at a time: at most
 * `maxInFlight` calls outstanding, results in request order.
 */
export async function signConcurrently(
  requests: readonly SignRequest[],
  maxInFlight: number,
  signOne: (request: SignRequest) => Promise<RecordSignature>,
): Promise<RecordSignature[]> {
  const results = new Array<RecordSignature>(requests.length);
  let next = 0;
  async function lane(): Promise<void> {
    while (next < requests.length) {
      const index = next++;
      results[index] = await signOne(requests[index]!);
    }
  }
  await Promise.all(Array.from({ length: Math.min(maxInFlight, requests.length) }, lane));
  return results;
}
