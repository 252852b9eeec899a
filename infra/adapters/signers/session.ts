/**
 * KMS- or HSM-rooted session signers (docs/FORMAT.md section 4b). The writer signs
 * records with an Ed25519 key made in this process's memory, at local speed;
 * the root signer (KMS, HSM, proxy) signs only the signer.delegated record
 * that introduces each session key in each chain. The key is replaced when
 * its window ends (SIGNING_SESSION_HOURS, at most 24) and dropped on close;
 * it is never written anywhere.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { MAX_DELEGATION_WINDOW_MS, type DelegationData } from '../../../chain/delegation.ts';
import type { SessionKey, Signer } from '../../../chain/signer.ts';
import { assert } from '../../../domain/errors.ts';
import type { BackendSigner } from './backend.ts';
import { spkiPem } from './der.ts';
import { createKeySigner } from './local.ts';

export const DEFAULT_SESSION_LIFETIME_MS = 4 * 60 * 60 * 1000;

export interface SessionOptions {
  /** Window of each session key; at most 24 hours. */
  lifetimeMs?: number;
}

/** A fresh session key whose window starts at `startMs`. Its kid names the root and a digest of the key. */
export function newSessionKey(startMs: number, lifetimeMs: number): SessionKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const pem = spkiPem(publicKey);
  const fingerprint = createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex')
    .slice(0, 16);
  const kid = `session-${fingerprint}`;
  const delegation: DelegationData = {
    kid,
    algorithm: 'ed25519',
    public_key_pem: pem,
    notBefore: new Date(startMs).toISOString(),
    notAfter: new Date(startMs + lifetimeMs).toISOString(),
  };
  const signer = createKeySigner(kid, privateKey);
  return {
    kid,
    delegation,
    notBeforeMs: startMs,
    notAfterMs: startMs + lifetimeMs,
    signBatch: (requests) => signer.signBatch(requests),
  };
}

/** The root signer in delegated mode: signs documents and delegations itself, hands records to its session key. */
export function delegatingSigner(
  root: BackendSigner,
  options: SessionOptions = {},
): BackendSigner & Required<Pick<Signer, 'session'>> {
  const lifetimeMs = options.lifetimeMs ?? DEFAULT_SESSION_LIFETIME_MS;
  assert(
    lifetimeMs > 0 && lifetimeMs <= MAX_DELEGATION_WINDOW_MS,
    `session lifetime ${lifetimeMs} ms is not in (0, 24 h]`,
  );
  let current: SessionKey | undefined;
  return {
    kid: root.kid,
    algorithm: root.algorithm,
    publicKey: root.publicKey,
    description: `${root.description}, with in-memory Ed25519 session keys of ${lifetimeMs / 3_600_000} h`,
    sign: (hash, preimage) => root.sign(hash, preimage),
    signBatch: (requests) => root.signBatch(requests),
    signMessage: (message) => root.signMessage(message),
    session(tsMs) {
      if (!current || tsMs < current.notBeforeMs || tsMs >= current.notAfterMs)
        current = newSessionKey(Math.floor(tsMs), lifetimeMs);
      return current;
    },
    async close() {
      current = undefined;
      await root.close();
    },
  };
}
