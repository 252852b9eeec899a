/**
 * Static bearer tokens: each maps to an actor id and a role. Only the SHA-256
 * of a token is stored (tokens.json, mode 0600, or API_TOKENS); the token is
 * shown once, when it is made. Tokens are 32 random bytes, so a plain hash
 * is enough: there is nothing to guess from it. A token may carry an expiry
 * (`expiresAt`). The server re-reads the file when it changes (at most
 * TOKEN_FILE_CHECK_INTERVAL_MS after), so `tokens add` and `tokens revoke`
 * take effect without a restart.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { ROLES, type Role } from '../../../../domain/actor.ts';
import { CodedError } from '../../../../domain/errors.ts';
import { ACTOR_ID_PATTERN, type TokenEntry } from '../../../wiring/httpConfig.ts';

/** Tokens in one tokens.json. */
export const MAX_TOKENS = 10_000;
/** The actor the first start of the embedded default makes a token for. */
export const FIRST_ADMIN_ACTOR = 'admin';
export const TOKEN_PREFIX = 'cb_';

const tokenFileSchema = z.strictObject({
  tokens: z
    .array(
      z.strictObject({
        actorId: z.string().regex(ACTOR_ID_PATTERN),
        role: z.enum(ROLES),
        sha256: z.string().regex(/^[0-9a-f]{64}$/),
        expiresAt: z.iso.datetime({ offset: true }).optional(),
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

/** Makes a token for `actorId` with `role` (until `expiresAt`, RFC 3339, when given), stores its hash in the file, returns the token (shown once). */
export function addToken(path: string, actorId: string, role: Role, expiresAt?: string): string {
  if (!ACTOR_ID_PATTERN.test(actorId))
    throw new CodedError('INVALID_ARGUMENT', `actor id must match ${ACTOR_ID_PATTERN.source}`);
  if (expiresAt !== undefined && !z.iso.datetime({ offset: true }).safeParse(expiresAt).success)
    throw new CodedError('INVALID_ARGUMENT', 'the expiry must be an RFC 3339 time, e.g. 2027-01-31T00:00:00Z');
  const tokens = readTokenFile(path);
  if (tokens.length >= MAX_TOKENS)
    throw new CodedError('INVALID_ARGUMENT', `${path} already holds ${MAX_TOKENS} tokens`);
  const token = newToken();
  writeTokenFile(path, [
    ...tokens,
    { actorId, role, sha256: tokenDigest(token), ...(expiresAt === undefined ? {} : { expiresAt }) },
  ]);
  return token;
}

/** How often the server looks at the token file for a change (its size, modification time or inode). */
export const TOKEN_FILE_CHECK_INTERVAL_MS = 1000;

/**
 * The tokens of the file as they are now: re-read when the file changed,
 * looked at no more often than every `intervalMs`. The file is replaced by a
 * rename (writeTokenFile), so a read never sees half of it; a file that does
 * not read keeps the last tokens read, reported to `onError`.
 */
export function tokenFileSource(
  path: string,
  onError: (error: unknown) => void,
  intervalMs = TOKEN_FILE_CHECK_INTERVAL_MS,
): () => readonly TokenEntry[] {
  let tokens = readTokenFile(path);
  let signature = fileSignature(path);
  let checkedAtMs = Date.now();
  return () => {
    const now = Date.now();
    if (now - checkedAtMs < intervalMs) return tokens;
    checkedAtMs = now;
    const current = fileSignature(path);
    if (current === signature) return tokens;
    try {
      tokens = readTokenFile(path);
      signature = current;
    } catch (error) {
      onError(error);
    }
    return tokens;
  };
}

function fileSignature(path: string): string {
  try {
    const stat = statSync(path, { bigint: true });
    return `${stat.ino}:${stat.size}:${stat.mtimeNs}`;
  } catch {
    return 'absent';
  }
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
