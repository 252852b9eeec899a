/**
 * docs/FORMAT.md section 3: an ECDSA signature (r, s) is also valid as
 * (r, n − s). Only the low-S form (s <= n/2) is one text of a signature;
 * the high-S twin is refused, by records and documents alike.
 */
import test from 'ava';
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import {
  ecdsaDerIntegers,
  isHighSEcdsa,
  lowSEcdsaDer,
  verifyMessageSignature,
  verifySignature,
} from '../../chain/signature.ts';
import { ecdsaTwins, signDigestDeterministic } from '../helpers/ecdsa.ts';

/** Both forms of one signature over `message`, as DER: [low-S, high-S]. */
function twins(privateKey: KeyObject, message: Buffer): [Buffer, Buffer] {
  const { low, high } = ecdsaTwins(sign('sha256', message, { key: privateKey, dsaEncoding: 'ieee-p1363' }));
  return [low, high];
}

test('a high-S ECDSA signature is refused where its low-S twin verifies, for records and documents', (t) => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  for (let index = 0; index < 20; index++) {
    const preimage = Buffer.from(`preimage ${index}`);
    const hash = createHash('sha256').update(preimage).digest();
    const [low, high] = twins(privateKey, preimage);
    t.true(verifySignature('ecdsa-p256-sha256', publicKey, hash, preimage, low));
    t.false(verifySignature('ecdsa-p256-sha256', publicKey, hash, preimage, high), 'high-S record signature');
    t.true(verifyMessageSignature('ecdsa-p256-sha256', publicKey, preimage, low));
    t.false(verifyMessageSignature('ecdsa-p256-sha256', publicKey, preimage, high), 'high-S document signature');
  }
});

test('lowSEcdsaDer turns a high-S signature into its low-S twin and leaves a low-S one as it is', (t) => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  for (let index = 0; index < 20; index++) {
    const message = Buffer.from(`document ${index}`);
    const [low, high] = twins(privateKey, message);
    t.false(isHighSEcdsa(low));
    t.true(isHighSEcdsa(high));
    t.deepEqual(lowSEcdsaDer(high), low);
    t.deepEqual(lowSEcdsaDer(low), low);
    t.true(verifyMessageSignature('ecdsa-p256-sha256', publicKey, message, lowSEcdsaDer(high)));
  }
  t.deepEqual(lowSEcdsaDer(Buffer.from('not DER')), Buffer.from('not DER'));
  t.is(ecdsaDerIntegers(Buffer.from([0x30, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x07]))?.s, 7n);
  t.is(ecdsaDerIntegers(Buffer.from([0x30, 0x06, 0x02, 0x01, 0x05, 0x02, 0x02, 0x07])), undefined);
});

test('the deterministic ECDSA of the test helpers (golden vectors) gives the RFC 6979 vector A.2.5, P-256, SHA-256, "sample"', (t) => {
  const d = BigInt('0xC9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721');
  const signature = signDigestDeterministic(d, createHash('sha256').update('sample').digest());
  t.is(
    signature.toString('hex').toUpperCase(),
    'EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716' +
      'F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8',
  );
});
