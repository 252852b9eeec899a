/**
 * Counts every signature a signer makes in `signatures_total{backend,algorithm}`
 * (the kernel guide's "signature/sec": rate() of it), whatever the backend:
 * records, manifests and proofs, and in delegated mode the session keys'
 * signatures under backend `session`. Counted once signed: a failure is
 * counted by the backend in kms_errors_total.
 */
import type { SessionKey, Signer } from '../../../chain/signer.ts';
import { signaturesTotal } from '../metrics.ts';

function countedSession(session: SessionKey): SessionKey {
  const labels = { backend: 'session', algorithm: session.delegation.algorithm };
  return new Proxy(session, {
    get(target, key) {
      if (key === 'signBatch')
        return async (requests: Parameters<SessionKey['signBatch']>[0]) => {
          const signatures = await target.signBatch(requests);
          signaturesTotal.inc(labels, signatures.length);
          return signatures;
        };
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** `signer` with its signatures counted as `backend`; everything else passes through to it unchanged. */
export function countedSigner<S extends Signer>(signer: S, backend: string): S {
  const labels = { backend, algorithm: signer.algorithm };
  return new Proxy(signer, {
    get(target, key) {
      switch (key) {
        case 'sign':
          return async (hash: Uint8Array, preimage: Uint8Array) => {
            const signature = await target.sign(hash, preimage);
            signaturesTotal.inc(labels);
            return signature;
          };
        case 'signBatch':
          return async (requests: Parameters<Signer['signBatch']>[0]) => {
            const signatures = await target.signBatch(requests);
            signaturesTotal.inc(labels, signatures.length);
            return signatures;
          };
        case 'signMessage':
          return async (message: Uint8Array) => {
            const signature = await target.signMessage(message);
            signaturesTotal.inc(labels);
            return signature;
          };
        case 'session':
          if (!target.session) return undefined;
          return (tsMs: number) => {
            const session = target.session!(tsMs);
            return session === undefined ? undefined : countedSession(session);
          };
      }
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
