import { createHash, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import { decryptEnvelope, encryptEnvelope } from '../../commands/delivery/deliveryEnvelope.ts';
import { deliveryKeyOf } from '../../commands/orders/deliveryKey.ts';
import { CodedError } from '../../domain/errors.ts';

function keyPair(type: 'rsa' | 'ec' | 'x25519', options: Record<string, unknown> = {}) {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- one generator for every key type
  const pair = (generateKeyPairSync as any)(type, options) as { publicKey: KeyObject; privateKey: KeyObject };
  return {
    recipient: deliveryKeyOf(pair.publicKey.export({ type: 'spki', format: 'pem' }) as string),
    privateKey: pair.privateKey,
  };
}

const KEYS = {
  'RSA-3072': keyPair('rsa', { modulusLength: 3072 }),
  'P-256': keyPair('ec', { namedCurve: 'P-256' }),
  X25519: keyPair('x25519'),
};

async function* pieces(bytes: Buffer, size: number): AsyncIterable<Uint8Array> {
  for (let offset = 0; offset < bytes.length; offset += size) yield bytes.subarray(offset, offset + size);
  if (bytes.length === 0) yield bytes;
}

async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const part of source) parts.push(part);
  return Buffer.concat(parts);
}

async function seal(bytes: Buffer, recipient = KEYS.X25519.recipient, chunkBytes = 1000): Promise<Buffer> {
  const artifactSha256 = createHash('sha256').update(bytes).digest('hex');
  return collect(
    encryptEnvelope(pieces(bytes, 777), recipient, { sizeBytes: bytes.length, artifactSha256, chunkBytes }),
  );
}

for (const [name, { recipient, privateKey }] of Object.entries(KEYS)) {
  test(`${name}: an envelope decrypts with the buyer's private key to the exact bytes, at every size around the chunk boundaries`, async (t) => {
    for (const size of [0, 1, 999, 1000, 1001, 3000, 4567]) {
      const bytes = randomBytes(size);
      const envelope = await seal(bytes, recipient);
      t.true(envelope.subarray(0, 21).equals(Buffer.from('CHAINBOOK-DELIVERY-1\n')));
      t.true((await collect(decryptEnvelope(pieces(envelope, 333), privateKey))).equals(bytes), `${size} bytes`);
    }
  });
}

async function refused(t: ExecutionContext, envelope: Buffer, what: string, privateKey = KEYS.X25519.privateKey) {
  const error = await t.throwsAsync(
    collect(decryptEnvelope(pieces(envelope, 4096), privateKey)),
    { instanceOf: CodedError },
    what,
  );
  t.is(error?.code, 'DELIVERY_DECRYPTION_FAILED', what);
}

test('tampering fails authentication: a flipped byte, a cut tail, a dropped last chunk, swapped chunks, appended bytes, another key, a spliced header', async (t) => {
  const bytes = randomBytes(3500);
  const envelope = await seal(bytes);
  const headerEnd = envelope.indexOf(10, 21) + 1;
  const flipped = Buffer.from(envelope);
  flipped[headerEnd + 100]! ^= 1;
  await refused(t, flipped, 'a flipped ciphertext byte');
  await refused(t, envelope.subarray(0, envelope.length - 10), 'a cut tail');
  const chunkLength = 4 + 1000 + 16;
  const withoutLast = envelope.subarray(0, headerEnd + 3 * chunkLength);
  await refused(t, withoutLast, 'the last chunk dropped');
  const first = envelope.subarray(headerEnd, headerEnd + chunkLength);
  const second = envelope.subarray(headerEnd + chunkLength, headerEnd + 2 * chunkLength);
  const swapped = Buffer.concat([
    envelope.subarray(0, headerEnd),
    second,
    first,
    envelope.subarray(headerEnd + 2 * chunkLength),
  ]);
  await refused(t, swapped, 'two chunks swapped');
  await refused(t, Buffer.concat([envelope, Buffer.from('x')]), 'a byte appended');
  await refused(t, envelope, 'another key', KEYS['P-256'].privateKey);
  const otherHeader = await seal(bytes);
  const spliced = Buffer.concat([
    otherHeader.subarray(0, otherHeader.indexOf(10, 21) + 1),
    envelope.subarray(headerEnd),
  ]);
  await refused(t, spliced, 'chunks of another envelope under a new JWE');
});

test('encryption refuses an artifact whose bytes are not the recorded ones', async (t) => {
  const bytes = randomBytes(2500);
  const artifactSha256 = createHash('sha256').update(bytes).digest('hex');
  for (const [what, sizeBytes, sha] of [
    ['longer', 2400, artifactSha256],
    ['shorter', 2600, artifactSha256],
    ['other bytes', 2500, 'f'.repeat(64)],
  ] as const) {
    const error = await t.throwsAsync(
      collect(
        encryptEnvelope(pieces(bytes, 500), KEYS.X25519.recipient, {
          sizeBytes,
          artifactSha256: sha,
          chunkBytes: 1000,
        }),
      ),
      { instanceOf: CodedError },
    );
    t.is(error?.code, 'DELIVERY_ARTIFACT_CHANGED', what);
  }
});
