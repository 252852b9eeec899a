/**
 * The PKCS#11 data key service against a real SoftHSM2 token (a throw-away
 * token in a temp folder for this file): data keys wrapped on the token with
 * AES-GCM, bound to the order by the additional data.
 */
import test from 'ava';
import pkcs11js from 'pkcs11js';
import { CodedError } from '../../../../domain/errors.ts';
import {
  generateHsmWrappingKey,
  openPkcs11DataKeys,
  PKCS11_WRAPPED_KEY_BYTES,
} from '../../../../infra/adapters/keys/pkcs11DataKeys.ts';
import { generateHsmKeyPair, openPkcs11Signer, Pkcs11Token } from '../../../../infra/adapters/signers/pkcs11.ts';
import { softHsmToken, type SoftHsmToken } from '../../../helpers/softhsm.ts';

let token: SoftHsmToken;
test.before(() => {
  token = softHsmToken();
  generateHsmWrappingKey(token, 'delivery');
});
test.after.always(() => token?.remove());

test.serial(
  'a data key wrapped on the token for an order unwraps for that order, also after the token is reopened',
  async (t) => {
    const service = openPkcs11DataKeys({ ...token, keyLabel: 'delivery' });
    t.teardown(() => service.close());
    t.is(service.origin, 'pkcs11');
    t.is(service.wrappingKeyId, 'delivery');
    const { plaintext, wrapped } = await service.generate('order-1');
    t.is(plaintext.length, 32);
    t.is(wrapped.length, PKCS11_WRAPPED_KEY_BYTES);
    t.false(wrapped.includes(plaintext));
    t.deepEqual(await service.unwrap('order-1', wrapped, 'delivery'), plaintext);
    const second = await service.generate('order-1');
    t.notDeepEqual(second.plaintext, plaintext, 'a fresh key each time');
    t.notDeepEqual(second.wrapped.subarray(0, 12), wrapped.subarray(0, 12), 'a fresh IV each time');
    service.close();
    const reopened = openPkcs11DataKeys({ ...token, keyLabel: 'delivery' });
    t.teardown(() => reopened.close());
    t.deepEqual(await reopened.unwrap('order-1', wrapped, 'delivery'), plaintext);
  },
);

test.serial("another order's id is refused with DELIVERY_KEY_UNAVAILABLE", async (t) => {
  const service = openPkcs11DataKeys({ ...token, keyLabel: 'delivery' });
  t.teardown(() => service.close());
  const { plaintext, wrapped } = await service.generate('order-1');
  const error = await t.throwsAsync(service.unwrap('order-2', wrapped, 'delivery'), { instanceOf: CodedError });
  t.is(error.code, 'DELIVERY_KEY_UNAVAILABLE');
  t.regex(error.message, /does not open for this order/);
  t.deepEqual(await service.unwrap('order-1', wrapped, 'delivery'), plaintext, 'the session is usable after a refusal');
});

test.serial(
  'a flipped byte in the IV, the ciphertext or the tag is refused; so are a wrong length and another key id',
  async (t) => {
    const service = openPkcs11DataKeys({ ...token, keyLabel: 'delivery' });
    t.teardown(() => service.close());
    const { wrapped } = await service.generate('order-1');
    for (const index of [0, 11, 12, 43, 44, PKCS11_WRAPPED_KEY_BYTES - 1]) {
      const flipped = Buffer.from(wrapped);
      flipped[index] = flipped[index]! ^ 0x80;
      const error = await t.throwsAsync(service.unwrap('order-1', flipped, 'delivery'), { instanceOf: CodedError });
      t.is(error.code, 'DELIVERY_KEY_UNAVAILABLE', `byte ${index}`);
    }
    const short = await t.throwsAsync(service.unwrap('order-1', wrapped.subarray(0, 59), 'delivery'), {
      instanceOf: CodedError,
    });
    t.regex(short.message, /wrong length/);
    const otherKey = await t.throwsAsync(service.unwrap('order-1', wrapped, 'delivery-old'), {
      instanceOf: CodedError,
    });
    t.is(otherKey.code, 'DELIVERY_KEY_UNAVAILABLE');
    t.regex(otherKey.message, /wrapped by delivery-old/);
  },
);

test.serial(
  'a label with no key on the token is a clear HSM_KEY_NOT_FOUND; a key that is not AES-256 is HSM_KEY_UNSUPPORTED',
  (t) => {
    const missing = t.throws(() => openPkcs11DataKeys({ ...token, keyLabel: 'no-such-key' }), {
      instanceOf: CodedError,
    });
    t.is(missing.code, 'HSM_KEY_NOT_FOUND');
    t.regex(
      missing.message,
      /token chainbook-test has no secret key labelled "no-such-key" \(DELIVERY_PKCS11_KEY_LABEL/,
    );

    // A signing key pair under the label is no secret key either.
    generateHsmKeyPair(token, 'signing-pair', 'ed25519');
    t.is(
      t.throws(() => openPkcs11DataKeys({ ...token, keyLabel: 'signing-pair' }), { instanceOf: CodedError }).code,
      'HSM_KEY_NOT_FOUND',
    );

    const opened = Pkcs11Token.open(token, 1);
    t.teardown(() => opened.close());
    opened.module.C_GenerateKey(opened.withSessionSync(), { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
      { type: pkcs11js.CKA_VALUE_LEN, value: 16 },
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_ENCRYPT, value: true },
      { type: pkcs11js.CKA_DECRYPT, value: true },
      { type: pkcs11js.CKA_LABEL, value: 'aes-128' },
    ]);
    const short = t.throws(() => openPkcs11DataKeys({ ...token, keyLabel: 'aes-128' }), { instanceOf: CodedError });
    t.is(short.code, 'HSM_KEY_UNSUPPORTED');

    const wrongToken = t.throws(
      () => openPkcs11DataKeys({ ...token, tokenLabel: 'no-such-token', keyLabel: 'delivery' }),
      {
        instanceOf: CodedError,
      },
    );
    t.is(wrongToken.code, 'HSM_TOKEN_NOT_FOUND');
  },
);

test.serial(
  'the wrapping key made on the token is sensitive and not extractable; its label cannot be taken twice',
  (t) => {
    const opened = Pkcs11Token.open(token, 1);
    t.teardown(() => opened.close());
    const session = opened.withSessionSync();
    const key = opened.findObject(session, pkcs11js.CKO_SECRET_KEY, 'delivery')!;
    const [extractable, sensitive] = opened.module.C_GetAttributeValue(session, key, [
      { type: pkcs11js.CKA_EXTRACTABLE },
      { type: pkcs11js.CKA_SENSITIVE },
    ]);
    t.deepEqual(extractable?.value, Buffer.from([0]));
    t.deepEqual(sensitive?.value, Buffer.from([1]));
    t.throws(() => opened.module.C_GetAttributeValue(session, key, [{ type: pkcs11js.CKA_VALUE }]));
    const again = t.throws(() => generateHsmWrappingKey(token, 'delivery'), { instanceOf: CodedError });
    t.is(again.code, 'HSM_KEY_EXISTS');
  },
);

test.serial(
  'the signer and the data key service share the token in one process; closing one leaves the other working',
  async (t) => {
    generateHsmKeyPair(token, 'records', 'ed25519');
    const signer = openPkcs11Signer({ ...token, keyLabel: 'records', kid: 'hsm-records', sessions: 1 });
    const service = openPkcs11DataKeys({ ...token, keyLabel: 'delivery' });
    t.teardown(() => service.close());
    const { plaintext, wrapped } = await service.generate('order-1');
    await signer.close();
    t.deepEqual(await service.unwrap('order-1', wrapped, 'delivery'), plaintext);
    const closed = await t.throwsAsync(
      (async () => {
        service.close();
        return service.unwrap('order-1', wrapped, 'delivery');
      })(),
      { instanceOf: CodedError },
    );
    t.is(closed.code, 'DELIVERY_KEY_UNAVAILABLE', 'a closed service refuses, it does not crash');
  },
);
