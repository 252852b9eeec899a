/**
 * Static bearer tokens: each maps to an actor id and a role. Only the SHA-256
 * of a token is stored (tokens.json, mode 0600, or API_TOKENS); the token is
 * shown once, when it is made. Tokens are 32 random bytes, so a plain hash
 * is enough: there is nothing to guess from it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { ROLES, type Role } from '../../../../domain/actor.ts';
import { CodedError } from '../../../../domain/errors.ts';
import { ACTOR_ID_PATTERN, type TokenEntry } from '../../../wiring/httpConfig.ts';

/** Tokens in one tokens.json. */
export const MAX_TOKENS = 10_000;
/** The actor the first start of the embedded default makes a token for. */
export const FIRST_ADMIN_ACTOR = 'admin';
const TOKEN_PREFIX = 'cb_';

const tokenFileSchema = z.strictObject({
  tokens: z
    .array(
      z.strictObject({
        actorId: z.string().regex(ACTOR_ID_PATTERN),
        role: z.enum(ROLES),
        sha256: z.string().regex(/^[0-9a-f]{64}$/),
      }),
    )
    .max(MAX_TOKENS),
});

export function tokenDigest(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function newToken(): string {
  return `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
}

export function readTokenFile(path: string): TokenEntry[] {
  if (!existsSync(path)) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new CodedError('INVALID_CONFIGURATION', `cannot read the token file ${path}: ${(error as Error).message}`, {
      path,
    });
  }
  const result = tokenFileSchema.safeParse(parsed);
  if (!result.success)
    throw new CodedError(
      'INVALID_CONFIGURATION',
      `the token file ${path} is not {"tokens": [{actorId, role, sha256}]}: ${result.error.issues[0]?.message ?? ''}`,
      { path },
    );
  return result.data.tokens;
}

function writeTokenFile(path: string, tokens: readonly TokenEntry[]): void {
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify({ tokens }, null, 2)}\n`, { mode: 0o600 });
  chmodSync(temporary, 0o600);
  renameSync(temporary, path);
}

/** Makes a token for `actorId` with `role`, stores its hash in the file, returns the token (shown once). */
export function addToken(path: string, actorId: string, role: Role): string {
  if (!ACTOR_ID_PATTERN.test(actorId))
    throw new CodedError('INVALID_ARGUMENT', `actor id must match ${ACTOR_ID_PATTERN.source}`);
  const tokens = readTokenFile(path);
  if (tokens.length >= MAX_TOKENS)
    throw new CodedError('INVALID_ARGUMENT', `${path} already holds ${MAX_TOKENS} tokens`);
  const token = newToken();
  writeTokenFile(path, [...tokens, { actorId, role, sha256: tokenDigest(token) }]);
  return token;
}

/** Removes every token of `actorId`; returns how many were removed. */
export function revokeTokens(path: string, actorId: string): number {
  const tokens = readTokenFile(path);
  const kept = tokens.filter((entry) => entry.actorId !== actorId);
  if (kept.length !== tokens.length) writeTokenFile(path, kept);
  return tokens.length - kept.length;
}

/**
 * First start of the embedded default: when no token file exists, makes a
 * SuperAdmin token and returns it, to be printed once. Undefined otherwise.
 */
export function firstStartToken(path: string): string | undefined {
  if (existsSync(path)) return undefined;
  return addToken(path, FIRST_ADMIN_ACTOR, 'SuperAdmin');
}
