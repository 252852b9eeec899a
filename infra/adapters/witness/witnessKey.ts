/**
 * A witness's Ed25519 key (docs/FORMAT.md section 14, "Witnesses and
 * cosignatures"): a PKCS#8 PEM file, made once (mode 0600) when `create` is
 * allowed and the file does not exist. The public half is what logs and
 * auditors configure, as a cosignature/v1 verifier key.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { COSIGNATURE_ED25519, formatVerifierKey } from '../../../chain/cosignature.ts';
import { sha256 } from '../../../chain/hash.ts';
import type { WitnessIdentity } from '../../../chain/witness.ts';
import { rawEd25519 } from '../../../verifier/verifyInclusion.ts';

export interface WitnessKey {
  identity: WitnessIdentity;
  /** `<name>+<key hash>+<base64(0x04 || public key)>`. */
  vkey: string;
}

export function loadWitnessKey(path: string, name: string, options: { create: boolean }): WitnessKey {
  if (!existsSync(path)) {
    if (!options.create) throw new Error(`the witness key ${path} does not exist (WITNESS_KEY_FILE)`);
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const { privateKey } = generateKeyPairSync('ed25519');
    writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  }
  const privateKey: KeyObject = createPrivateKey(readFileSync(path, 'utf8'));
  const publicKey = rawEd25519(createPublicKey(privateKey));
  if (!publicKey) throw new Error(`the witness key ${path} is not an Ed25519 key`);
  return {
    identity: { name, publicKey, sign: (message) => sign(null, message, privateKey) },
    vkey: formatVerifierKey(sha256, name, COSIGNATURE_ED25519, publicKey),
  };
}
