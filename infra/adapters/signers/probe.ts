/** A probe signature: proves a signer can sign now and that its signatures verify under the key we expect. */
import type { KeyObject } from 'node:crypto';
import { sha256 } from '../../../chain/hash.ts';
import { verifySignature } from '../../../chain/signature.ts';
import type { Signer } from '../../../chain/signer.ts';

/** Why the signer cannot be used, or undefined when a fresh probe signs and verifies under `publicKey`. */
export async function probeSigner(signer: Signer, publicKey: KeyObject | undefined): Promise<string | undefined> {
  const preimage = Buffer.from(`chainbook signing probe ${new Date().toISOString()} ${Math.random()}`);
  const hash = sha256(preimage);
  try {
    const signature = await signer.sign(hash, preimage);
    if (signature.kid !== signer.kid || signature.alg !== signer.algorithm) {
      return `the probe was signed as ${signature.kid} (${signature.alg}), expected ${signer.kid} (${signer.algorithm})`;
    }
    if (
      publicKey &&
      !verifySignature(signer.algorithm, publicKey, hash, preimage, Buffer.from(signature.value, 'base64'))
    ) {
      return `the probe signature of ${signer.kid} does not verify under the registered public key`;
    }
    return undefined;
  } catch (error) {
    return `the probe could not be signed: ${error instanceof Error ? error.message : String(error)}`;
  }
}
