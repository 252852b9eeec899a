/**
 * docs/FORMAT.md section 2:
 *   preimage = JCS(payload) as UTF-8 bytes || the 32 raw bytes of prevHash
 *   hash     = SHA-256(preimage)
 */
import { createHash } from 'node:crypto';
import { assert } from '../domain/errors.ts';
import { payloadJcs } from './canonical.ts';
import type { RecordPayload } from './record.ts';

export function preimageOf(payloadText: string, prevHash: string): Buffer {
  const payloadBytes = Buffer.from(payloadText, 'utf8');
  const preimage = Buffer.allocUnsafe(payloadBytes.length + 32);
  payloadBytes.copy(preimage, 0);
  const written = preimage.write(prevHash, payloadBytes.length, 'hex');
  assert(written === 32, `prevHash is not 32 bytes of hex: ${prevHash}`);
  return preimage;
}

export function sha256(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The hash of a payload linked to prevHash, with its preimage. */
export function hashPayload(payload: RecordPayload, prevHash: string): { preimage: Buffer; hash: Buffer } {
  const preimage = preimageOf(payloadJcs(payload), prevHash);
  return { preimage, hash: sha256(preimage) };
}
