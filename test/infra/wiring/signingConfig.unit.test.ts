import test from 'ava';
import { CodedError } from '../../../domain/errors.ts';
import { loadConfig } from '../../../infra/wiring/config.ts';

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
    return [];
  } catch (error) {
    if (!(error instanceof CodedError)) throw error;
    return (error.details['problems'] as string[]) ?? [];
  }
}

/** What production needs for delivery (test/infra/wiring/dataKeysConfig.unit.test.ts), so that only the signing problems are left. */
const PRODUCTION_DELIVERY = {
  DELIVERY_S3_BUCKET: 'deliveries',
  DELIVERY_WRAPPING_KEY: Buffer.alloc(32, 7).toString('base64'),
};

test('the local signer is the default outside production; production requires a real signing backend', (t) => {
  t.is(loadConfig({}).signing.backend, 'local');
  t.deepEqual(problems({ NODE_ENV: 'production', ...PRODUCTION_DELIVERY }), [
    'SIGNING_BACKEND: required when NODE_ENV=production (kms, pkcs11 or proxy)',
  ]);
  t.regex(problems({ NODE_ENV: 'production', SIGNING_BACKEND: 'local' })[0]!, /refused when NODE_ENV=production/);
});

test('each backend names every variable it is missing, one message each', (t) => {
  t.deepEqual(problems({ SIGNING_BACKEND: 'kms' }), [
    'AUDIT_SIGNING_KMS_KEY_ID: required when SIGNING_BACKEND=kms',
    'AUDIT_SIGNING_ALG: required when SIGNING_BACKEND=kms',
    'SIGNING_KID: required when SIGNING_BACKEND=kms',
  ]);
  t.is(problems({ SIGNING_BACKEND: 'pkcs11', SIGNING_KID: 'k' }).length, 4);
  t.deepEqual(problems({ SIGNING_BACKEND: 'proxy', SIGNING_KID: 'k', SIGNING_PROXY_URL: 'https://signer.internal' }), [
    'SIGNING_PROXY_API_KEY: required when SIGNING_BACKEND=proxy',
  ]);
});

test('production refuses a plain http:// signing proxy on another host (its API key would cross the network in clear); loopback and https:// pass', (t) => {
  const proxy = (url: string, nodeEnv = 'production') =>
    problems({
      NODE_ENV: nodeEnv,
      ...PRODUCTION_DELIVERY,
      SIGNING_BACKEND: 'proxy',
      SIGNING_KID: 'k',
      SIGNING_PROXY_API_KEY: 'proxy-client-key-0123456789',
      SIGNING_PROXY_URL: url,
    }).filter((problem) => problem.startsWith('SIGNING_PROXY_URL'));
  t.regex(proxy('http://signer.internal:8443')[0] ?? '', /plain http:\/\/ to another host is refused/);
  t.is(proxy('http://10.0.0.7:8443').length, 1);
  for (const fine of [
    'https://signer.internal:8443',
    'http://127.0.0.1:8443',
    'http://localhost:8443',
    'http://[::1]:8443',
  ])
    t.deepEqual(proxy(fine), [], fine);
  t.deepEqual(proxy('http://signer.internal:8443', 'development'), [], 'a laptop may');
});

test('malformed values are reported by variable', (t) => {
  const found = problems({
    SIGNING_BACKEND: 'hsm',
    AUDIT_SIGNING_ALG: 'hmac-sha256',
    SIGNING_PROXY_URL: 'signer:443',
    REQUIRE_KMS: 'yes',
    SIGNING_SESSION_HOURS: '25',
    SIGNING_PROXY_CLIENTS: 'finance:short',
  });
  t.deepEqual(
    found.map((problem) => problem.split(':')[0]),
    [
      'SIGNING_BACKEND',
      'REQUIRE_KMS',
      'SIGNING_SESSION_HOURS',
      'AUDIT_SIGNING_ALG',
      'SIGNING_PROXY_URL',
      'SIGNING_PROXY_CLIENTS',
    ],
  );
});

test('REQUIRE_KMS and REQUIRE_SIGNING_PROXY refuse any other signing path', (t) => {
  t.regex(problems({ REQUIRE_KMS: 'true' })[0]!, /REQUIRE_KMS=true requires kms/);
  t.regex(
    problems({
      REQUIRE_SIGNING_PROXY: 'true',
      SIGNING_BACKEND: 'kms',
      SIGNING_KID: 'k',
      AUDIT_SIGNING_KMS_KEY_ID: 'alias/a',
      AUDIT_SIGNING_ALG: 'ed25519',
    })[0]!,
    /requires proxy/,
  );
  const kms = loadConfig({
    NODE_ENV: 'production',
    ...PRODUCTION_DELIVERY,
    REQUIRE_KMS: 'true',
    SIGNING_BACKEND: 'kms',
    SIGNING_KID: 'kernel-audit-ed25519-v1',
    AUDIT_SIGNING_KMS_KEY_ID: 'alias/audit',
    AUDIT_SIGNING_ALG: 'ed25519',
    SIGNING_SESSION_KEYS: 'true',
  });
  t.like(kms.signing, {
    backend: 'kms',
    requireKms: true,
    sessionKeys: true,
    sessionLifetimeMs: 4 * 3_600_000,
    kms: { keyId: 'alias/audit', algorithm: 'ed25519' },
  });
});

test('session keys are rooted in kms, pkcs11 or proxy only', (t) => {
  t.regex(problems({ SIGNING_SESSION_KEYS: 'true' })[0]!, /SIGNING_SESSION_KEYS/);
});

test('SIGNING_PROXY_CLIENTS names each caller with its key', (t) => {
  t.deepEqual(
    loadConfig({ SIGNING_PROXY_CLIENTS: 'finance:0123456789abcdef0,kernel:fedcba98765432100' }).signing.proxyClients,
    [
      { name: 'finance', apiKey: '0123456789abcdef0' },
      { name: 'kernel', apiKey: 'fedcba98765432100' },
    ],
  );
});
