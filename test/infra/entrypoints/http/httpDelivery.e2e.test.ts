import { generateKeyPairSync } from 'node:crypto';
import test from 'ava';
import { ENGINES } from '../../../helpers/databases.ts';
import { listedProduct, testServer } from '../../../helpers/http.ts';

function spki(type: 'rsa' | 'ec' | 'x25519' | 'ed25519', options: Record<string, unknown> = {}): string {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- one generator for every key type
  return (generateKeyPairSync as any)(type, options).publicKey.export({ type: 'spki', format: 'pem' }) as string;
}

for (const engine of ENGINES) {
  test(`${engine}: checkout accepts RSA-3072, P-256 and X25519 keys and refuses Ed25519, RSA-512, malformed and oversized PEM, appending nothing`, async (t) => {
    const server = await testServer(t, { engine });
    const { listingId } = await listedProduct(server);
    for (const key of [spki('rsa', { modulusLength: 3072 }), spki('ec', { namedCurve: 'P-256' }), spki('x25519')]) {
      const created = await server.request('POST', '/orders', {
        as: 'buyer',
        body: { listingId, deliveryPublicKey: key },
      });
      t.is(created.status, 200, created.text);
    }
    const before = await server.snapshot();
    const refusals: [string, number, string][] = [
      [spki('ed25519'), 400, 'DELIVERY_KEY_NOT_FOR_ENCRYPTION'],
      [spki('rsa', { modulusLength: 512 }), 400, 'DELIVERY_KEY_NOT_FOR_ENCRYPTION'],
      ['-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n', 400, 'INVALID_INPUT'],
      [`-----BEGIN PUBLIC KEY-----\n${'A'.repeat(20_000)}\n-----END PUBLIC KEY-----\n`, 400, 'INVALID_INPUT'],
    ];
    for (const [key, status, code] of refusals) {
      const refused = await server.request('POST', '/orders', {
        as: 'buyer',
        body: { listingId, deliveryPublicKey: key },
      });
      t.is(refused.status, status, refused.text);
      t.is(refused.body.error.code, code);
    }
    t.deepEqual(await server.snapshot(), before, 'nothing appended');
  });
}
