/**
 * Who is calling: a static bearer token (looked up by its SHA-256), or, when
 * OIDC is configured, a JWT verified with `jose` against the issuer's JWKS
 * (issuer, audience and expiry checked; the actor is `sub`, the role the
 * configured claim). Tokens are never logged.
 */
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { ROLES, type Actor, type Role } from '../../../../domain/actor.ts';
import { HttpError } from '../errors.ts';
import { ACTOR_ID_PATTERN, type OidcConfig, type TokenEntry } from '../../../wiring/httpConfig.ts';
import { tokenDigest } from './tokens.ts';

/** Longest Authorization header read; a longer one is refused unread. */
export const MAX_AUTHORIZATION_LENGTH = 8192;
/** Clock skew tolerated on JWT exp/nbf. */
const JWT_CLOCK_TOLERANCE_SECONDS = 30;
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export type Authenticator = (authorization: string | undefined) => Promise<Actor>;

function unauthenticated(message: string): HttpError {
  return new HttpError('UNAUTHENTICATED', message, {}, { 'WWW-Authenticate': 'Bearer realm="chainbook"' });
}

function oidcVerifier(oidc: OidcConfig, keys: JWTVerifyGetKey): (token: string) => Promise<Actor> {
  return async (token) => {
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: oidc.issuer,
        audience: oidc.audience,
        clockTolerance: JWT_CLOCK_TOLERANCE_SECONDS,
      }));
    } catch (error) {
      throw unauthenticated(`the bearer token did not verify: ${(error as { code?: string }).code ?? 'invalid'}`);
    }
    const role = payload[oidc.roleClaim];
    const subject = payload['sub'];
    if (typeof subject !== 'string' || !ACTOR_ID_PATTERN.test(subject))
      throw unauthenticated('the token has no usable sub claim');
    if (typeof role !== 'string' || !(ROLES as readonly string[]).includes(role))
      throw unauthenticated(`the token's ${oidc.roleClaim} claim is not one of ${ROLES.join(', ')}`);
    return { id: subject, role: role as Role };
  };
}

export interface AuthenticatorOptions {
  tokens: readonly TokenEntry[];
  oidc?: OidcConfig | undefined;
  /** For tests: the key set instead of fetching oidc.jwksUrl. */
  keys?: JWTVerifyGetKey;
}

export function authenticator(options: AuthenticatorOptions): Authenticator {
  const byDigest = new Map(options.tokens.map((entry) => [entry.sha256, { id: entry.actorId, role: entry.role }]));
  const verifyJwt = options.oidc
    ? oidcVerifier(options.oidc, options.keys ?? createRemoteJWKSet(new URL(options.oidc.jwksUrl)))
    : undefined;
  return async (authorization) => {
    if (authorization === undefined || authorization === '')
      throw unauthenticated('send Authorization: Bearer <token>');
    if (authorization.length > MAX_AUTHORIZATION_LENGTH) throw unauthenticated('the Authorization header is too long');
    const match = /^Bearer ([\x21-\x7e]+)$/.exec(authorization);
    if (!match) throw unauthenticated('the Authorization header must be Bearer <token>');
    const token = match[1]!;
    const known = byDigest.get(tokenDigest(token));
    if (known) return known;
    if (verifyJwt && JWT_SHAPE.test(token)) return verifyJwt(token);
    throw unauthenticated('unknown bearer token');
  };
}
