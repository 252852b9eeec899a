/**
 * Delegated session signers, docs/FORMAT.md section 4b, and the event types
 * that record signer changes in the chain itself.
 *
 * A `signer.delegated` record, signed by a registry signer, carries
 * `data = { kid, algorithm, public_key_pem, notBefore, notAfter }` and
 * introduces the session signer `kid`: later records of the same chain signed
 * by it are valid when notBefore <= ts < notAfter (at most 24 hours apart).
 * A session kid never signs a `signer.delegated` record and never appears in
 * signers.json.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { isJsonObject } from '../domain/json.ts';
import { onTheCalendar, RFC3339_PATTERN } from './registry.ts';
import { isSignatureAlgorithm, keyMismatch, type SignatureAlgorithm } from './signature.ts';

/** Event types of signer changes (docs/SIGNING.md lists their data). */
export const SIGNER_EVENT_TYPES = {
  delegated: 'signer.delegated',
  registered: 'signer.registered',
  activated: 'signer.activated',
  retired: 'signer.retired',
  breakglassUsed: 'signing.breakglass_used',
} as const;

/** Longest window of one delegation (docs/FORMAT.md section 4b). */
export const MAX_DELEGATION_WINDOW_MS = 24 * 60 * 60 * 1000;

/** `data` of a signer.delegated record, exactly these members. */
export interface DelegationData {
  kid: string;
  algorithm: SignatureAlgorithm;
  public_key_pem: string;
  notBefore: string;
  notAfter: string;
}

export interface Delegation {
  kid: string;
  algorithm: SignatureAlgorithm;
  publicKey: KeyObject;
  notBefore: string;
  notBeforeMs: number;
  notAfter: string;
  notAfterMs: number;
}

const DELEGATION_MEMBERS = ['algorithm', 'kid', 'notAfter', 'notBefore', 'public_key_pem'];
const KID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** An RFC 3339 instant whose date and hour exist as written (Date.parse would roll 2026-11-31 over to December 1). */
function instant(value: unknown): number | undefined {
  return typeof value === 'string' &&
    RFC3339_PATTERN.test(value) &&
    onTheCalendar(value) &&
    !Number.isNaN(Date.parse(value))
    ? Date.parse(value)
    : undefined;
}

/** The delegation a signer.delegated record's data introduces, or why it introduces none. */
export function parseDelegation(data: unknown): Delegation | string {
  if (!isJsonObject(data)) return 'data is not an object';
  const members = Object.keys(data).sort();
  if (members.join() !== DELEGATION_MEMBERS.join())
    return `data must have exactly the members ${DELEGATION_MEMBERS.join(', ')}`;
  const { kid, algorithm, public_key_pem: pem, notBefore, notAfter } = data;
  if (typeof kid !== 'string' || !KID_PATTERN.test(kid)) return 'data.kid is not a signer id';
  if (!isSignatureAlgorithm(algorithm))
    return `data.algorithm ${JSON.stringify(algorithm)} is not a signature algorithm`;
  const notBeforeMs = instant(notBefore);
  const notAfterMs = instant(notAfter);
  if (notBeforeMs === undefined || notAfterMs === undefined)
    return 'data.notBefore and data.notAfter must be RFC 3339 timestamps';
  if (notAfterMs <= notBeforeMs || notAfterMs - notBeforeMs > MAX_DELEGATION_WINDOW_MS)
    return 'the delegation window must be non-empty and at most 24 hours';
  let publicKey: KeyObject;
  try {
    if (typeof pem !== 'string' || !pem.includes('-----BEGIN PUBLIC KEY-----'))
      return 'data.public_key_pem is not an SPKI PEM public key';
    publicKey = createPublicKey({ key: pem, format: 'pem' });
  } catch (error) {
    return `data.public_key_pem does not parse: ${(error as Error).message}`;
  }
  const mismatch = keyMismatch(algorithm, publicKey);
  if (mismatch) return `data.public_key_pem does not fit ${algorithm}: ${mismatch}`;
  return {
    kid,
    algorithm,
    publicKey,
    notBefore: notBefore as string,
    notBeforeMs,
    notAfter: notAfter as string,
    notAfterMs,
  };
}
