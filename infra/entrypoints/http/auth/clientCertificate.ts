/**
 * mTLS: who a caller is by its client certificate (README, "TLS and mTLS").
 * The server asks every TLS client for a certificate but lets the handshake
 * finish without one (kubelet probes and browsers have none): public routes
 * are served to anyone, and this step decides for the others.
 *
 * - A certificate that was presented and did not verify against
 *   TLS_CLIENT_CA_FILE (another CA, expired, not yet valid) is refused, with
 *   or without a bearer token: 401 CLIENT_CERTIFICATE_REJECTED.
 * - mTLS `required`: no certificate is 401 CLIENT_CERTIFICATE_REQUIRED.
 * - A verified certificate with a bearer token: the token names the actor
 *   (a gateway holding a certificate forwards a user's token).
 * - A verified certificate alone: its SAN URIs (or, without any, its CN)
 *   looked up in MTLS_ROLE_MAP; the actor is `mtls:<CN>` with that role, so the chain
 *   records which service acted. A subject with no role there is 401.
 */
import { TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import type { Actor } from '../../../../domain/actor.ts';
import { HttpError } from '../errors.ts';
import type { MtlsMode, MtlsRoleMap } from '../../../wiring/tlsConfig.ts';

/** Who is calling, from the Authorization header and the connection's client certificate (undefined over HTTP). */
export type RequestAuthenticator = (
  authorization: string | undefined,
  certificate: ClientCertificate | undefined,
) => Promise<Actor>;

/** What the TLS handshake established about the client's certificate. */
export interface ClientCertificate {
  presented: boolean;
  /** Chains to TLS_CLIENT_CA_FILE and is inside its validity window. */
  verified: boolean;
  /** OpenSSL's reason when not verified (CERT_HAS_EXPIRED, UNABLE_TO_VERIFY_LEAF_SIGNATURE, …). */
  error: string | undefined;
  commonName: string | undefined;
  uris: readonly string[];
}

/** Most SAN entries read from one certificate. */
const MAX_SAN_ENTRIES = 32;

/** `URI:spiffe://…, DNS:x` as node writes subjectaltname (a value with special characters JSON-quoted). */
function sanUris(subjectAltName: string | undefined): string[] {
  if (subjectAltName === undefined) return [];
  const uris: string[] = [];
  for (const entry of subjectAltName.split(', ').slice(0, MAX_SAN_ENTRIES)) {
    if (!entry.startsWith('URI:')) continue;
    const value = entry.slice(4);
    if (!value.startsWith('"')) uris.push(value);
  }
  return uris;
}

/** The certificate of this request's connection; undefined over plain HTTP. */
export function clientCertificateOf(socket: Socket): ClientCertificate | undefined {
  if (!(socket instanceof TLSSocket)) return undefined;
  const peer = socket.getPeerCertificate();
  const presented = peer !== null && typeof peer === 'object' && Object.keys(peer).length > 0;
  const error = socket.authorizationError;
  const commonName = presented ? peer.subject?.CN : undefined;
  return {
    presented,
    // `authorized` is set by the first handshake and never cleared, `authorizationError` by the last one: a
    // certificate swapped in by a later handshake (renegotiation, refused by the server too) is verified only if both say so.
    verified: presented && socket.authorized && (error === null || error === undefined),
    error: error === null || error === undefined ? undefined : String((error as Error | string).toString()),
    // Several CNs (an array) name no single subject: none is looked up.
    commonName: typeof commonName === 'string' ? commonName : undefined,
    uris: presented ? sanUris(peer.subjectaltname) : [],
  };
}

function refused(code: 'CLIENT_CERTIFICATE_REQUIRED' | 'CLIENT_CERTIFICATE_REJECTED', message: string, details = {}) {
  return new HttpError(code, message, details);
}

/**
 * The certificate's actor from MTLS_ROLE_MAP. A certificate with SAN URIs is
 * named by them alone (a SPIFFE-style CA vouches for the URI; the CN may be
 * whatever the workload asked for), and only when exactly one identity of the
 * map matches; the CN names a certificate without any SAN URI.
 */
export function certificateActor(certificate: ClientCertificate, roleMap: MtlsRoleMap): Actor | undefined {
  if (certificate.uris.length > 0) {
    const identities = new Set(certificate.uris.map((uri) => roleMap.byUri.get(uri)).filter((found) => found));
    if (identities.size !== 1) return undefined;
    const [identity] = [...identities];
    return identity ? { id: identity.actorId, role: identity.role } : undefined;
  }
  const identity = certificate.commonName === undefined ? undefined : roleMap.byCommonName.get(certificate.commonName);
  return identity ? { id: identity.actorId, role: identity.role } : undefined;
}

/** Bearer tokens behind the client certificate rules above. */
export function mtlsAuthenticator(
  mode: MtlsMode,
  roleMap: MtlsRoleMap,
  bearer: (authorization: string | undefined) => Promise<Actor>,
): RequestAuthenticator {
  if (mode === 'off') return (authorization) => bearer(authorization);
  return async (authorization, certificate) => {
    if (certificate?.presented && !certificate.verified)
      throw refused(
        'CLIENT_CERTIFICATE_REJECTED',
        `the client certificate did not verify: ${certificate.error ?? 'unknown reason'}`,
        { reason: certificate.error ?? null },
      );
    if (!certificate?.presented) {
      if (mode === 'required')
        throw refused(
          'CLIENT_CERTIFICATE_REQUIRED',
          'this route needs a client certificate issued by the CA this server trusts (mTLS)',
        );
      return bearer(authorization);
    }
    if (authorization !== undefined && authorization !== '') return bearer(authorization);
    const actor = certificateActor(certificate, roleMap);
    if (actor) return actor;
    throw new HttpError(
      'UNAUTHENTICATED',
      `the client certificate (${certificate.uris.length > 0 ? `${certificate.uris.length} SAN URI(s)` : `CN ${certificate.commonName ?? 'none'}`}) has no single role in MTLS_ROLE_MAP; send a bearer token too`,
      {},
      { 'WWW-Authenticate': 'Bearer realm="chainbook"' },
    );
  };
}
