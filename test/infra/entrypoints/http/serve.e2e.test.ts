import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import test from 'ava';
import { CLI, runCli } from '../../../helpers/cli.ts';
import { tempDir } from '../../../helpers/runtime.ts';

const PRODUCTION_GUARDS: [string, Record<string, string>, RegExp][] = [
  [
    'DATABASE_URL is missing',
    {
      NODE_ENV: 'production',
      SIGNING_BACKEND: 'kms',
      AUDIT_SIGNING_KMS_KEY_ID: 'alias/x',
      AUDIT_SIGNING_ALG: 'ed25519',
      SIGNING_KID: 'k',
    },
    /DATABASE_URL: required when NODE_ENV=production/,
  ],
  [
    'the local dev signer would be used',
    { NODE_ENV: 'production', DATABASE_URL: 'postgres://127.0.0.1:1/none', SIGNING_BACKEND: 'local' },
    /SIGNING_BACKEND: local is the development signer/,
  ],
  [
    'no signing backend is named',
    { NODE_ENV: 'production', DATABASE_URL: 'postgres://127.0.0.1:1/none' },
    /SIGNING_BACKEND: required when NODE_ENV=production/,
  ],
  [
    'REQUIRE_KMS is set but the signer is a proxy',
    {
      NODE_ENV: 'production',
      DATABASE_URL: 'postgres://127.0.0.1:1/none',
      REQUIRE_KMS: 'true',
      SIGNING_BACKEND: 'proxy',
      SIGNING_PROXY_URL: 'https://signer.internal',
      SIGNING_PROXY_API_KEY: 'k'.repeat(20),
      SIGNING_KID: 'k',
    },
    /REQUIRE_KMS=true requires kms/,
  ],
  [
    'REQUIRE_SIGNING_PROXY is set but the proxy is not configured',
    {
      NODE_ENV: 'production',
      DATABASE_URL: 'postgres://127.0.0.1:1/none',
      REQUIRE_SIGNING_PROXY: 'true',
      SIGNING_BACKEND: 'proxy',
      SIGNING_KID: 'k',
    },
    /SIGNING_PROXY_URL: required when SIGNING_BACKEND=proxy/,
  ],
  [
    'DEV_SKIP_MTLS=true',
    {
      NODE_ENV: 'production',
      DATABASE_URL: 'postgres://127.0.0.1:1/none',
      SIGNING_BACKEND: 'kms',
      AUDIT_SIGNING_KMS_KEY_ID: 'alias/x',
      AUDIT_SIGNING_ALG: 'ed25519',
      SIGNING_KID: 'k',
      DEV_SKIP_MTLS: 'true',
    },
    /DEV_SKIP_MTLS: must be false when NODE_ENV=production/,
  ],
  [
    'quarantine is enabled without ENCRYPTION_MASTER_KEY',
    { QUARANTINE_ENABLED: 'true' },
    /ENCRYPTION_MASTER_KEY: required when QUARANTINE_ENABLED=true/,
  ],
  [
    'ENCRYPTION_MASTER_KEY is not base64 of 32 bytes',
    { QUARANTINE_ENABLED: 'true', ENCRYPTION_MASTER_KEY: 'dG9vIHNob3J0' },
    /ENCRYPTION_MASTER_KEY: must be base64 of exactly 32 bytes/,
  ],
  [
    'a variable is malformed',
    { PORT: 'eighty', REDIS_URL: 'localhost:6379', RATE_LIMIT_COMMANDS_PER_MINUTE: '0' },
    /PORT: must be an integer[\s\S]*REDIS_URL: must be a redis:\/\/[\s\S]*RATE_LIMIT_COMMANDS_PER_MINUTE/,
  ],
];

for (const [what, env, message] of PRODUCTION_GUARDS) {
  test(`serve refuses to start with exit 2 (could not run) when ${what}`, async (t) => {
    const dataDir = tempDir('guard');
    t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
    const result = await runCli(['serve'], { env: { CHAINBOOK_DATA_DIR: dataDir, PORT: '0', ...env } });
    t.is(result.code, 2, result.stdout + result.stderr);
    t.regex(result.stderr, /refusing to start/);
    t.regex(result.stderr, message);
    t.notRegex(result.stdout, /serving/);
  });
}

test('serve on the embedded default: prints where it listens and a first-start SuperAdmin token once; SIGTERM stops it with exit 0', async (t) => {
  const dataDir = tempDir('serve');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const start = () => {
    const { DATABASE_URL: _ignored, ...env } = process.env;
    const child = spawn(process.execPath, [...CLI, 'serve'], {
      env: { ...env, CHAINBOOK_DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'warn' },
      stdio: 'pipe',
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    const listening = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "serving" line: ${stdout}`)), 60_000);
      child.stdout.on('data', () => {
        const match = /serving (http:\/\/\S+)/.exec(stdout);
        if (match && stdout.includes('\n')) {
          clearTimeout(timer);
          setTimeout(() => resolve(match[1]!), 200);
        }
      });
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    return { child, listening, exited, output: () => stdout };
  };
  const first = start();
  const url = await first.listening;
  const token = /(cb_[A-Za-z0-9_-]{43})/.exec(first.output())?.[1];
  t.truthy(token, first.output());
  const head = await fetch(`${url}/chain/head`, { headers: { authorization: `Bearer ${token!}` } });
  t.is(head.status, 200);
  t.is((await fetch(`${url}/chain/head`)).status, 401);
  first.child.kill('SIGTERM');
  t.is(await first.exited, 0);
  const second = start();
  await second.listening;
  t.false(/cb_[A-Za-z0-9_-]{43}/.test(second.output()), 'the token is printed on the first start only');
  second.child.kill('SIGTERM');
  t.is(await second.exited, 0);
});
