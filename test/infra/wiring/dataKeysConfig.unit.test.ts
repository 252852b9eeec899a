/**
 * Option B's data key service in the configuration (DELIVERY_KEY_SERVICE and
 * its variables) and openDataKeys choosing it (infra/wiring/dataKeys.ts).
 * The PKCS#11 choice needs a token: test/infra/wiring/dataKeys.int.test.ts.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CodedError } from '../../../domain/errors.ts';
import { localWrappingKeyId } from '../../../infra/adapters/keys/localDataKeys.ts';
import { loadConfig } from '../../../infra/wiring/config.ts';
import { openDataKeys } from '../../../infra/wiring/dataKeys.ts';
import { tempDir } from '../../helpers/runtime.ts';

const KEY_ARN = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const TOKEN = { PKCS11_MODULE: '/usr/lib/softhsm/libsofthsm2.so', PKCS11_TOKEN_LABEL: 'shop', PKCS11_PIN: '1234' };
/** What production needs besides the data key service, so that only the delivery problems are left. */
const PRODUCTION = {
  NODE_ENV: 'production',
  SIGNING_BACKEND: 'kms',
  AUDIT_SIGNING_KMS_KEY_ID: 'k',
  AUDIT_SIGNING_ALG: 'ed25519',
  SIGNING_KID: 'kms-1',
  DELIVERY_S3_BUCKET: 'deliveries',
};

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
    return [];
  } catch (error) {
    if (!(error instanceof CodedError)) throw error;
    return (error.details['problems'] as string[]) ?? [];
  }
}

test('the local service is the default, with its key file in the data directory', (t) => {
  const config = loadConfig({ CHAINBOOK_DATA_DIR: '/tmp/chainbook-data-keys' });
  t.like(config.delivery, {
    keyService: 'local',
    wrappingKey: undefined,
    wrappingKeyFile: '/tmp/chainbook-data-keys/keys/delivery-wrapping.key',
    kms: undefined,
    pkcs11: undefined,
  });
});

test('kms reads DELIVERY_KMS_KEY_ID and AWS_REGION; pkcs11 reads the signer token settings and DELIVERY_PKCS11_KEY_LABEL', (t) => {
  t.like(loadConfig({ DELIVERY_KEY_SERVICE: 'kms', DELIVERY_KMS_KEY_ID: KEY_ARN, AWS_REGION: 'eu-west-1' }).delivery, {
    keyService: 'kms',
    kms: { keyId: KEY_ARN, region: 'eu-west-1' },
    pkcs11: undefined,
  });
  t.like(loadConfig({ DELIVERY_KEY_SERVICE: 'pkcs11', DELIVERY_PKCS11_KEY_LABEL: 'delivery', ...TOKEN }).delivery, {
    keyService: 'pkcs11',
    kms: undefined,
    pkcs11: { modulePath: TOKEN.PKCS11_MODULE, tokenLabel: 'shop', pin: '1234', keyLabel: 'delivery' },
  });
});

test('each key service names every variable it is missing, one message each, in any environment', (t) => {
  t.deepEqual(problems({ DELIVERY_KEY_SERVICE: 'kms' }), [
    'DELIVERY_KMS_KEY_ID: required when DELIVERY_KEY_SERVICE=kms',
  ]);
  t.deepEqual(problems({ DELIVERY_KEY_SERVICE: 'pkcs11' }), [
    'PKCS11_MODULE: required when DELIVERY_KEY_SERVICE=pkcs11',
    'PKCS11_TOKEN_LABEL: required when DELIVERY_KEY_SERVICE=pkcs11',
    'PKCS11_PIN: required when DELIVERY_KEY_SERVICE=pkcs11',
    'DELIVERY_PKCS11_KEY_LABEL: required when DELIVERY_KEY_SERVICE=pkcs11',
  ]);
  t.deepEqual(problems({ DELIVERY_KEY_SERVICE: 'pkcs11', ...TOKEN }), [
    'DELIVERY_PKCS11_KEY_LABEL: required when DELIVERY_KEY_SERVICE=pkcs11',
  ]);
  t.deepEqual(problems({ ...PRODUCTION, DELIVERY_KEY_SERVICE: 'kms' }), [
    'DELIVERY_KMS_KEY_ID: required when DELIVERY_KEY_SERVICE=kms',
  ]);
});

test('production requires DELIVERY_WRAPPING_KEY with the local service only', (t) => {
  t.deepEqual(problems(PRODUCTION), [
    'DELIVERY_WRAPPING_KEY: required when NODE_ENV=production with DELIVERY_KEY_SERVICE=local',
  ]);
  t.deepEqual(problems({ ...PRODUCTION, DELIVERY_WRAPPING_KEY: randomBytes(32).toString('base64') }), []);
  t.deepEqual(problems({ ...PRODUCTION, DELIVERY_KEY_SERVICE: 'kms', DELIVERY_KMS_KEY_ID: KEY_ARN }), []);
  t.deepEqual(
    problems({ ...PRODUCTION, ...TOKEN, DELIVERY_KEY_SERVICE: 'pkcs11', DELIVERY_PKCS11_KEY_LABEL: 'delivery' }),
    [],
  );
});

test('malformed values are reported by variable: an unknown service, a KMS alias, a wrapping key of the wrong length', (t) => {
  t.deepEqual(problems({ DELIVERY_KEY_SERVICE: 'vault' }), ['DELIVERY_KEY_SERVICE: must be one of local, kms, pkcs11']);
  for (const alias of ['alias/delivery', 'arn:aws:kms:eu-west-1:111122223333:alias/delivery']) {
    t.deepEqual(problems({ DELIVERY_KEY_SERVICE: 'kms', DELIVERY_KMS_KEY_ID: alias }), [
      'DELIVERY_KMS_KEY_ID: must be a KMS key id or key ARN, not an alias (it is recorded with each wrapped data key)',
    ]);
  }
  t.deepEqual(
    problems({ DELIVERY_KMS_KEY_ID: '1234abcd-12ab-34cd-56ef-1234567890ab', DELIVERY_KEY_SERVICE: 'kms' }),
    [],
  );
  t.deepEqual(problems({ DELIVERY_WRAPPING_KEY: randomBytes(16).toString('base64') }), [
    'DELIVERY_WRAPPING_KEY: must be base64 of 32 bytes',
  ]);
});

test('openDataKeys opens the local service on DELIVERY_WRAPPING_KEY, without a key file', async (t) => {
  const dataDir = tempDir('data-keys');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const key = randomBytes(32);
  const { service, close } = openDataKeys(
    loadConfig({ CHAINBOOK_DATA_DIR: dataDir, DELIVERY_WRAPPING_KEY: key.toString('base64') }),
  );
  t.teardown(close);
  t.is(service.origin, 'local');
  t.is(service.wrappingKeyId, localWrappingKeyId(key));
  const { plaintext, wrapped } = await service.generate('order-1');
  t.deepEqual(await service.unwrap('order-1', wrapped, service.wrappingKeyId), plaintext);
  t.false(existsSync(join(dataDir, 'keys', 'delivery-wrapping.key')));
});

test('openDataKeys on the embedded default makes the key file once and opens the same key again', (t) => {
  const dataDir = tempDir('data-keys');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const config = loadConfig({ CHAINBOOK_DATA_DIR: dataDir });
  const first = openDataKeys(config);
  const file = join(dataDir, 'keys', 'delivery-wrapping.key');
  t.is(statSync(file).mode & 0o777, 0o600);
  const second = openDataKeys(config);
  t.is(second.service.wrappingKeyId, first.service.wrappingKeyId);
  first.close();
  second.close();
});

test('openDataKeys opens the KMS service on DELIVERY_KMS_KEY_ID without calling KMS', (t) => {
  const { service, close } = openDataKeys(
    loadConfig({ DELIVERY_KEY_SERVICE: 'kms', DELIVERY_KMS_KEY_ID: KEY_ARN, AWS_REGION: 'eu-west-1' }),
  );
  t.is(service.origin, 'kms');
  t.is(service.wrappingKeyId, KEY_ARN);
  t.notThrows(close);
});
