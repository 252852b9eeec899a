import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import test from 'ava';
import { CodedError } from '../../domain/errors.ts';
import { deliveryKeyOf } from '../../commands/orders/deliveryKey.ts';

function spki(type: 'rsa' | 'ec' | 'x25519' | 'ed25519' | 'x448', options: Record<string, unknown> = {}): string {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- one generator for every key type
  return (generateKeyPairSync as any)(type, options).publicKey.export({ type: 'spki', format: 'pem' }) as string;
}

test('RSA of 2048 bits and more, P-256 and X25519 keys are encryption keys, fingerprinted by their SPKI', (t) => {
  const cases = [
    [spki('rsa', { modulusLength: 2048 }), 'rsa'],
    [spki('rsa', { modulusLength: 3072 }), 'rsa'],
    [spki('ec', { namedCurve: 'P-256' }), 'p256'],
    [spki('x25519'), 'x25519'],
  ] as const;
  for (const [pem, keyType] of cases) {
    const key = deliveryKeyOf(pem);
    t.is(key.keyType, keyType);
    const der = createPublicKey(pem).export({ type: 'spki', format: 'der' });
    t.is(key.spkiSha256, createHash('sha256').update(der).digest('hex'));
  }
});

test('a signing-only key, a short RSA key or another curve is refused with DELIVERY_KEY_NOT_FOR_ENCRYPTION', (t) => {
  const cases = [
    [spki('ed25519'), { keyType: 'ed25519' }],
    [spki('rsa', { modulusLength: 512 }), { keyType: 'rsa', modulusBits: 512 }],
    [spki('rsa', { modulusLength: 1024 }), { keyType: 'rsa', modulusBits: 1024 }],
    [spki('ec', { namedCurve: 'P-384' }), { keyType: 'ec', curve: 'secp384r1' }],
    [spki('x448'), { keyType: 'x448' }],
  ] as const;
  for (const [pem, details] of cases) {
    const error = t.throws(() => deliveryKeyOf(pem), { instanceOf: CodedError });
    t.is(error.code, 'DELIVERY_KEY_NOT_FOR_ENCRYPTION');
    t.like(error.details, details);
  }
});
