/**
 * Ed25519 public keys refused whatever verifies with them (docs/FORMAT.md
 * section 3): the encodings of the points of small order, under which the
 * identity R with S = 0 verifies for any message with the cofactorless
 * check OpenSSL and WebCrypto make, and encodings whose y is not below p.
 * The independent checker (auditor/checker.mjs) refuses the same keys, so
 * both verifiers, and the auditor page with or without WebCrypto's Ed25519,
 * give one verdict. Pure: no crypto needed.
 */

/** y of the points of small order, little-endian with the sign bit cleared: the identity, y = 0, y = p - 1, the two y of order 8. */
const SMALL_ORDER_Y = new Set([
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
]);

/** Why a raw 32-byte Ed25519 public key is refused (small order, y not below p); undefined for any other. */
export function ed25519KeyProblem(raw: Uint8Array): string | undefined {
  const y = Uint8Array.from(raw);
  y[31]! &= 0x7f;
  const hex = Array.from(y, (byte) => byte.toString(16).padStart(2, '0')).join('');
  if (SMALL_ORDER_Y.has(hex)) return 'an Ed25519 key of small order';
  // y >= p = 2^255 - 19: bytes 1 to 30 all 0xff, byte 31 0x7f, byte 0 at least 0xed.
  if (y[0]! >= 0xed && y[31] === 0x7f && y.subarray(1, 31).every((byte) => byte === 0xff))
    return 'an Ed25519 key not canonically encoded';
  return undefined;
}
