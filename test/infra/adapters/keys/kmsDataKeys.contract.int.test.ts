/**
 * Contract tests of the KMS data key service against a real AWS KMS key.
 * They run only when DELIVERY_KMS_TEST_KEY_ID names a symmetric
 * ENCRYPT_DECRYPT key (and AWS credentials and AWS_REGION are in the
 * environment); the signer's KMS_TEST_KEY_ID cannot serve, as it names an
 * asymmetric signing key, which GenerateDataKey refuses. Without it every
 * test here is skipped, saying so.
 */
import test from 'ava';
import { KMSClient } from '@aws-sdk/client-kms';
import { CodedError } from '../../../../domain/errors.ts';
import { kmsDataKeys } from '../../../../infra/adapters/keys/kmsDataKeys.ts';

const keyId = process.env['DELIVERY_KMS_TEST_KEY_ID'];
const contract = keyId === undefined ? test.skip : test;
if (keyId === undefined) {
  console.log(
    'KMS data key contract suite skipped: set DELIVERY_KMS_TEST_KEY_ID (a symmetric ENCRYPT_DECRYPT key; and AWS credentials, AWS_REGION) to run it against a real KMS key',
  );
}

function openService() {
  const client = new KMSClient({});
  return { service: kmsDataKeys({ client, keyId: keyId! }), close: () => client.destroy() };
}

contract('a data key made by KMS for an order unwraps for that order, and for no other', async (t) => {
  const { service, close } = openService();
  t.teardown(close);
  const { plaintext, wrapped } = await service.generate('contract-order-1');
  t.is(plaintext.length, 32);
  t.false(wrapped.includes(plaintext));
  t.deepEqual(await service.unwrap('contract-order-1', wrapped, service.wrappingKeyId), plaintext);
  const other = await t.throwsAsync(service.unwrap('contract-order-2', wrapped, service.wrappingKeyId), {
    instanceOf: CodedError,
  });
  t.is(other.code, 'DELIVERY_KEY_UNAVAILABLE');
});

contract('a wrapped data key with a flipped byte is refused by KMS', async (t) => {
  const { service, close } = openService();
  t.teardown(close);
  const { wrapped } = await service.generate('contract-order-3');
  const flipped = Buffer.from(wrapped);
  flipped[flipped.length - 1] = flipped[flipped.length - 1]! ^ 0x01;
  const error = await t.throwsAsync(service.unwrap('contract-order-3', flipped, service.wrappingKeyId), {
    instanceOf: CodedError,
  });
  t.is(error.code, 'DELIVERY_KEY_UNAVAILABLE');
});
