/**
 * scripts/ci/check-no-private-keys.sh, the runbooks' secret scan. The secrets it must find are made
 * here at run time (a fresh key pair, random bytes, a token from the code that issues them): none
 * is written in the repository, which the scan must pass.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { newToken } from '../../infra/entrypoints/http/auth/tokens.ts';
import { tempDir } from '../helpers/runtime.ts';

const SCRIPT = join(process.cwd(), 'scripts', 'ci', 'check-no-private-keys.sh');

function scan(folder?: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync('bash', [SCRIPT, ...(folder === undefined ? [] : [folder])], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A folder with harmless files that look a little like secrets: the scan must not cry wolf. */
function harmlessTree(): string {
  const folder = tempDir('secret-scan');
  mkdirSync(join(folder, 'config'), { recursive: true });
  const publicPem = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
  writeFileSync(join(folder, 'config', 'signer.pub.pem'), publicPem);
  writeFileSync(
    join(folder, 'README.md'),
    [
      'Tokens look like /cb_[A-Za-z0-9_-]{43}/; this one is too short: ' + newToken().slice(0, -1),
      'S3_SECRET_ACCESS_KEY comes from the environment, never from a file.',
      `A hash: ${randomBytes(32).toString('hex')}`,
    ].join('\n'),
  );
  return folder;
}

test('a tree without secrets passes, public keys, token patterns and hashes included', (t) => {
  const folder = harmlessTree();
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  const result = scan(folder);
  t.is(result.status, 0, result.stdout + result.stderr);
  t.regex(result.stdout, /no private key, AWS secret or bearer token in 2 files/);
});

test('a planted PEM private key, AWS secret access key and bearer token are each found by file and line, never printed', (t) => {
  const folder = harmlessTree();
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  const privatePem = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    .privateKey.export({ type: 'sec1', format: 'pem' })
    .toString();
  const awsSecret = randomBytes(30).toString('base64');
  const token = newToken();
  mkdirSync(join(folder, 'deploy keys'));
  writeFileSync(join(folder, 'deploy keys', 'signer.pem'), privatePem);
  writeFileSync(
    join(folder, 'credentials'),
    `[default]\naws_access_key_id = x\naws_secret_access_key = ${awsSecret}\n`,
  );
  writeFileSync(join(folder, 'notes.txt'), `call it with\nAuthorization: Bearer ${token}\n`);

  const result = scan(folder);
  t.is(result.status, 1, result.stdout + result.stderr);
  const findings = result.stdout.trim().split('\n').sort();
  t.deepEqual(findings, [
    'check-no-private-keys: credentials:3: AWS secret access key',
    'check-no-private-keys: deploy keys/signer.pem:1: PEM private key',
    'check-no-private-keys: notes.txt:2: Chainbook bearer token',
  ]);
  t.regex(result.stderr, /3 secret\(s\) found/);
  for (const secret of [awsSecret, token, privatePem.split('\n')[1]!])
    t.false((result.stdout + result.stderr).includes(secret));
});

test('the repository itself passes (the files git would commit)', (t) => {
  const result = scan();
  t.is(result.status, 0, result.stdout + result.stderr);
  t.regex(result.stdout, /^check-no-private-keys: no private key, AWS secret or bearer token in \d+ files$/m);
});
