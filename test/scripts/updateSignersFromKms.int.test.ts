/**
 * scripts/update-signers-from-kms.sh around `chainbook signers add --kms-key-id`, with the KMS client
 * mock in the CLI process (test/helpers/kmsMockPreload.ts) and the real CLI, embedded database and
 * registry file: it publishes the KMS key's public key with its window and records signer.registered;
 * a second run changes nothing and exits 0; another key under the kid, a KMS that answers no key and a
 * KMS that does not answer are refused, naming why, and change nothing.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/build.ts';
import { CLI, runCli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/runtime.ts';

const SCRIPT = join(ROOT, 'scripts', 'update-signers-from-kms.sh');
const PRELOAD = join(ROOT, 'test', 'helpers', 'kmsMockPreload.ts');

function kmsKey() {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    der: publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
    pem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

function script(dataDir: string, args: readonly string[], kms: Record<string, string>) {
  const { DATABASE_URL: _inherited, ...env } = process.env;
  const result = spawnSync('bash', [SCRIPT, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120_000,
    env: {
      ...env,
      CHAINBOOK_DATA_DIR: dataDir,
      CHAINBOOK_CLI: [process.execPath, ...CLI].join(' '),
      NODE_OPTIONS: `--import tsx --import ${PRELOAD}`,
      AWS_REGION: 'eu-west-1',
      ...kms,
    },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

async function registered(dataDir: string): Promise<{ count: number; registry: string }> {
  const dump = await runCli(['dump'], { env: { CHAINBOOK_DATA_DIR: dataDir } });
  return {
    count: dump.stdout.split('\n').filter((line) => line.includes('"type":"signer.registered"')).length,
    registry: readFileSync(join(dataDir, 'signers.json'), 'utf8'),
  };
}

test('publishes the KMS key with its window, then a second run changes nothing; another key under the kid is refused', async (t) => {
  const dataDir = tempDir('kms-update');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const key = kmsKey();
  const args = ['--kms-key-id', 'alias/chainbook-2027', '--kid', 'kms-2027', '--alg', 'ecdsa-p256-sha256'];
  const mock = { KMS_MOCK_MODE: 'key', KMS_MOCK_ALG: 'ecdsa-p256-sha256', KMS_MOCK_PUBLIC_KEY: key.der };
  const before = Date.now();
  const first = script(dataDir, args, mock);
  t.is(first.status, 0, first.stderr + first.stdout);
  t.regex(first.stdout, /kms-2027 \(KMS key alias\/chainbook-2027\) published, deployedAt \S+Z/);
  const exported = await runCli(['signers', 'export'], { env: { CHAINBOOK_DATA_DIR: dataDir } });
  const entry = (JSON.parse(exported.stdout) as { signers: Record<string, unknown>[] }).signers.find(
    (signer) => signer['signer_kid'] === 'kms-2027',
  );
  t.like(entry, {
    algorithm: 'ecdsa-p256-sha256',
    public_key_pem: key.pem,
    retiredAt: null,
    description: 'AWS KMS key alias/chainbook-2027',
  });
  // Published an hour ahead by default: it may sign only from then on.
  const deployedAtMs = Date.parse(entry?.['deployedAt'] as string);
  t.true(
    deployedAtMs >= before + 59 * 60_000 && deployedAtMs <= Date.now() + 61 * 60_000,
    String(entry?.['deployedAt']),
  );
  const afterFirst = await registered(dataDir);
  t.is(afterFirst.count, 1);

  const second = script(dataDir, args, mock);
  t.is(second.status, 0, second.stderr);
  t.regex(second.stdout, /kms-2027 \(KMS key alias\/chainbook-2027\) is already in the registry: nothing to do/);
  t.deepEqual(await registered(dataDir), afterFirst);

  const other = script(dataDir, args, { ...mock, KMS_MOCK_PUBLIC_KEY: kmsKey().der });
  t.is(other.status, 2, other.stderr);
  t.regex(other.stderr, /was not published as kms-2027: .*SIGNER_EXISTS.*another public key/);
  t.deepEqual(await registered(dataDir), afterFirst);
});

test('exits non-zero naming why when KMS answers no key or does not answer, and changes nothing', async (t) => {
  const dataDir = tempDir('kms-update-none');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  // The registry and the signer in force exist first (the local development signer).
  const seeded = script(dataDir, ['--kms-key-id', 'alias/seed', '--kid', 'kms-seed', '--alg', 'ed25519'], {
    KMS_MOCK_MODE: 'key',
    KMS_MOCK_ALG: 'ed25519',
    KMS_MOCK_PUBLIC_KEY: generateKeyPairSync('ed25519')
      .publicKey.export({ type: 'spki', format: 'der' })
      .toString('base64'),
  });
  t.is(seeded.status, 0, seeded.stderr);
  const before = await registered(dataDir);
  const args = ['--kms-key-id', 'alias/silent', '--kid', 'kms-silent', '--alg', 'ecdsa-p256-sha256'];

  const empty = script(dataDir, args, { KMS_MOCK_MODE: 'empty' });
  t.not(empty.status, 0);
  t.regex(empty.stderr, /KMS key alias\/silent was not published as kms-silent: .*GetPublicKey returned no public key/);
  const down = script(dataDir, args, { KMS_MOCK_MODE: 'timeout' });
  t.not(down.status, 0);
  t.regex(
    down.stderr,
    /KMS key alias\/silent was not published as kms-silent: .*(SIGNING_UNAVAILABLE|SIGNER_UNAVAILABLE).*timed out/,
  );
  t.deepEqual(await registered(dataDir), before);

  const usage = script(dataDir, ['--kms-key-id', 'alias/x', '--kid', 'x'], { KMS_MOCK_MODE: 'empty' });
  t.is(usage.status, 2);
  t.regex(usage.stderr, /--alg is required/);
});
