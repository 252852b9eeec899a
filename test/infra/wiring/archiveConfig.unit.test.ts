/** The archive's configuration: defaults, S3 settings, and one message per bad variable. */
import test from 'ava';
import { resolve } from 'node:path';
import { loadConfig } from '../../../infra/wiring/config.ts';

test('by default the archive is a folder in the data folder, service chainbook, COMPLIANCE for seven years, no PII, no policy declared', (t) => {
  const config = loadConfig({ CHAINBOOK_DATA_DIR: '/tmp/chainbook-config-test' });
  t.deepEqual(config.archive, {
    target: `${resolve('/tmp/chainbook-config-test')}/archive`,
    service: 'chainbook',
    env: 'development',
    lockMode: 'COMPLIANCE',
    retentionDays: 2557,
    piiIncluded: false,
    piiPolicyVersion: undefined,
    s3: { endpoint: undefined, region: 'us-east-1', forcePathStyle: false, credentials: undefined },
  });
});

test('S3_AUDIT_BUCKET makes the bucket the target unless ARCHIVE_TARGET says otherwise; the S3 variables are read', (t) => {
  const env = {
    S3_AUDIT_BUCKET: 'audit-archive-prod',
    S3_ENDPOINT: 'http://127.0.0.1:9000',
    S3_REGION: 'eu-west-1',
    S3_FORCE_PATH_STYLE: 'true',
    S3_ACCESS_KEY_ID: 'AKIAEXPORT',
    S3_SECRET_ACCESS_KEY: 'secret',
    ARCHIVE_OBJECT_LOCK_MODE: 'GOVERNANCE',
    ARCHIVE_RETENTION_DAYS: '30',
    ARCHIVE_SERVICE: 'finance',
    ARCHIVE_PII_INCLUDED: 'true',
    ARCHIVE_PII_POLICY_VERSION: 'pii-2026-01',
    ARCHIVE_ENV: 'staging',
  };
  t.like(loadConfig(env).archive, {
    target: 's3://audit-archive-prod',
    service: 'finance',
    env: 'staging',
    lockMode: 'GOVERNANCE',
    retentionDays: 30,
    piiIncluded: true,
    piiPolicyVersion: 'pii-2026-01',
    s3: {
      endpoint: 'http://127.0.0.1:9000',
      region: 'eu-west-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'AKIAEXPORT', secretAccessKey: 'secret' },
    },
  });
  t.is(loadConfig({ ...env, ARCHIVE_TARGET: 's3://other-bucket/exports' }).archive.target, 's3://other-bucket/exports');
});

test('each bad archive variable is named in the error', (t) => {
  const error = t.throws(() =>
    loadConfig({
      ARCHIVE_TARGET: 'ftp://x',
      ARCHIVE_SERVICE: 'Finance',
      ARCHIVE_OBJECT_LOCK_MODE: 'STRICT',
      ARCHIVE_RETENTION_DAYS: '0',
      ARCHIVE_PII_POLICY_VERSION: 'v 1',
      S3_ENDPOINT: 'localhost:9000',
      S3_AUDIT_BUCKET: 'Audit_Bucket',
      S3_FORCE_PATH_STYLE: 'yes',
    }),
  );
  for (const name of [
    'ARCHIVE_TARGET',
    'ARCHIVE_SERVICE',
    'ARCHIVE_OBJECT_LOCK_MODE',
    'ARCHIVE_RETENTION_DAYS',
    'ARCHIVE_PII_POLICY_VERSION',
    'S3_ENDPOINT',
    'S3_AUDIT_BUCKET',
    'S3_FORCE_PATH_STYLE',
  ]) {
    t.regex(error.message, new RegExp(`${name}: `), name);
  }
  t.throws(() => loadConfig({ S3_ACCESS_KEY_ID: 'AKIAEXPORT' }), {
    message: /S3_ACCESS_KEY_ID: give both S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY, or neither/,
  });
});
