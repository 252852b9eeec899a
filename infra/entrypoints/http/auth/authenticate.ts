/**
 * Who is calling: a static bearer token (looked up by its SHA-256), or, when
 * OIDC is configured, a JWT verified with `jose` against the issuer's JWKS
 * (issuer, audience and expiry checked; the actor is `sub`, the role the
 * configured claim). Tokens are never logged.
 *
 * A static token past its `expiresAt` is 401. When the issuer's key set
 * cannot be fetched, a JWT is not "unverified" but unverifiable for now: 503
 * AUTHENTICATION_UNAVAILABLE with Retry-After, reported to `keySet` (logged,
 * and /ready says so) instead of a 401 that would tell the caller its token
 * is bad.
 */
import { createRemoteJWKSet, errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
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

/** Seconds a caller should wait when the key set could not be fetched. */
export const KEY_SET_RETRY_AFTER_SECONDS = 5;

/** What the authenticator knows of the OIDC key set: the last failure to fetch it and the last success. */
export interface KeySetHealth {
  lastFailure: { atMs: number; message: string } | undefined;
  lastSuccessAtMs: number | undefined;
}

/**
 * /ready's probe of a failing key set: one fetch of the JWKS URL. Without
 * it, an instance taken out of service for failing /ready would get no JWT
 * to verify, and would never see the key set come back.
 */
export async function probeKeySet(jwksUrl: string, health: KeySetHealth, timeoutMs: number): Promise<void> {
  try {
    const response = await fetch(jwksUrl, { signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
    const body = (await response.json()) as { keys?: unknown };
    if (!response.ok || !Array.isArray(body.keys)) throw new Error(`HTTP ${response.status}, not a key set`);
    health.lastSuccessAtMs = Date.now();
  } catch (error) {
    health.lastFailure = { atMs: Date.now(), message: error instanceof Error ? error.message : String(error) };
  }
}

/** Fetching the key set failed (network, timeout, not 200, not a key set), as opposed to a token that does not verify. */
function keySetUnavailable(error: unknown): boolean {
  if (!(error instanceof errors.JOSEError)) return true;
  return error.code === 'ERR_JWKS_TIMEOUT' || error.code === 'ERR_JWKS_INVALID' || error.code === 'ERR_JOSE_GENERIC';
}

function oidcVerifier(
  oidc: OidcConfig,
  keys: JWTVerifyGetKey,
  health: KeySetHealth,
  onKeySetFailure: (message: string) => void,
): (token: string) => Promise<Actor> {
  return async (token) => {
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: oidc.issuer,
        audience: oidc.audience,
        clockTolerance: JWT_CLOCK_TOLERANCE_SECONDS,
      }));
    } catch (error) {
      if (keySetUnavailable(error)) {
        const message = error instanceof Error ? error.message : String(error);
        health.lastFailure = { atMs: Date.now(), message };
        onKeySetFailure(message);
        throw new HttpError(
          'AUTHENTICATION_UNAVAILABLE',
          'the identity provider key set cannot be fetched; retry later',
          {},
          { 'Retry-After': String(KEY_SET_RETRY_AFTER_SECONDS) },
        );
      }
      health.lastSuccessAtMs = Date.now(); // the key set was there; the token is what failed
      throw unauthenticated(`the bearer token did not verify: ${(error as { code?: string }).code ?? 'invalid'}`);
    }
    health.lastSuccessAtMs = Date.now();
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
  /** The static tokens as they are now (the token file is re-read when it changes). */
  tokens: () => readonly TokenEntry[];
  oidc?: OidcConfig | undefined;
  /** For tests: the key set instead of fetching oidc.jwksUrl. */
  keys?: JWTVerifyGetKey;
  /** Shared with /ready. */
  keySetHealth?: KeySetHealth;
  onKeySetFailure?: (message: string) => void;
}

interface KnownToken {
  actor: Actor;
  expiresAtMs: number | undefined;
}

/** The lookup table of a token list, rebuilt only when the list is another one. */
function tokenTable(tokens: () => readonly TokenEntry[]): () => Map<string, KnownToken> {
  let list: readonly TokenEntry[] | undefined;
  let table = new Map<string, KnownToken>();
  return () => {
    const current = tokens();
    if (current !== list) {
      list = current;
      table = new Map(
        current.map((entry) => [
          entry.sha256,
          {
            actor: { id: entry.actorId, role: entry.role },
            expiresAtMs: entry.expiresAt === undefined ? undefined : Date.parse(entry.expiresAt),
          },
        ]),
      );
    }
    return table;
  };
}

export function authenticator(options: AuthenticatorOptions): Authenticator {
  const table = tokenTable(options.tokens);
  const health = options.keySetHealth ?? { lastFailure: undefined, lastSuccessAtMs: undefined };
  const verifyJwt = options.oidc
    ? oidcVerifier(
        options.oidc,
        options.keys ?? createRemoteJWKSet(new URL(options.oidc.jwksUrl)),
        health,
        options.onKeySetFailure ?? (() => undefined),
      )
    : undefined;
  return async (authorization) => {
    if (authorization === undefined || authorization === '')
      throw unauthenticated('send Authorization: Bearer <token>');
    if (authorization.length > MAX_AUTHORIZATION_LENGTH) throw unauthenticated('the Authorization header is too long');
    const match = /^Bearer ([\x21-\x7e]+)$/.exec(authorization);
    if (!match) throw unauthenticated('the Authorization header must be Bearer <token>');
    const token = match[1]!;
    const known = table().get(tokenDigest(token));
    if (known) {
      if (known.expiresAtMs !== undefined && known.expiresAtMs <= Date.now())
        throw unauthenticated('the bearer token has expired');
      return known.actor;
    }
    if (verifyJwt && JWT_SHAPE.test(token)) return verifyJwt(token);
    throw unauthenticated('unknown bearer token');
  };
}
