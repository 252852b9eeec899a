/** What infra knows of a signing backend beyond chain's Signer: its public key, to check against the registry. */
import type { KeyObject } from 'node:crypto';
import type { Signer } from '../../../chain/signer.ts';

export interface BackendSigner extends Signer {
  /** The public key the backend reports (KMS GetPublicKey, the HSM's public key object, the proxy's /health). */
  readonly publicKey: KeyObject | undefined;
  /** For messages and logs: where the key lives, without secrets. */
  readonly description: string;
}
