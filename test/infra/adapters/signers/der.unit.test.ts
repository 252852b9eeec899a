import test from 'ava';
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { ecdsaRawToDer, SHA256_DIGEST_INFO_PREFIX, unwrapEcPoint } from '../../../../infra/adapters/signers/der.ts';

test('ECDSA r‖s becomes the DER that OpenSSL and node verify, for high-bit and leading-zero halves alike', (t) => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  for (let index = 0; index < 200; index++) {
    const message = Buffer.from(`message ${index}`);
    const raw = sign('sha256', message, { key: privateKey, dsaEncoding: 'ieee-p1363' });
    const der = ecdsaRawToDer(raw);
    t.true(verify('sha256', message, publicKey, der));
  }
  t.deepEqual(
    ecdsaRawToDer(Buffer.from([0x00, 0x80, 0x00, 0x01])),
    Buffer.from([0x30, 0x07, 0x02, 0x02, 0x00, 0x80, 0x02, 0x01, 0x01]),
  );
});

test('the SHA-256 DigestInfo prefix is the one RSASSA-PKCS1-v1_5 uses (RFC 8017 9.2)', (t) => {
  t.is(SHA256_DIGEST_INFO_PREFIX.length + 32, 51);
  t.is(SHA256_DIGEST_INFO_PREFIX.toString('hex'), '3031300d060960864801650304020105000420');
});

test('CKA_EC_POINT is accepted wrapped in an OCTET STRING or bare', (t) => {
  const point = Buffer.alloc(32, 7);
  t.deepEqual(unwrapEcPoint(Buffer.concat([Buffer.from([0x04, 32]), point]), 32), point);
  t.deepEqual(unwrapEcPoint(point, 32), point);
  t.throws(() => unwrapEcPoint(Buffer.alloc(10), 32));
});
