/**
 * The compiled build (scripts/build.sh, npm install's `prepare`): bin/chainbook.js runs dist/, and
 * dist/ answers as the source does, its worker threads included. It rebuilds dist/ first when a
 * file the build reads is newer than the build (after `npm install` it is current); the other CLI
 * tests run dist/ only when it is current, and the source through tsx otherwise (test/helpers/cli.ts).
 */
import test from 'ava';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { registryEntry } from '../helpers/keys.ts';
import { compiledBuildIsCurrent, ROOT } from '../helpers/build.ts';
import { tempDir } from '../helpers/runtime.ts';
import { writeRegistry } from '../helpers/signing.ts';

const BIN = join(ROOT, 'bin', 'chainbook.js');

test.before(() => {
  if (!compiledBuildIsCurrent()) {
    execFileSync('bash', ['scripts/build.sh'], { cwd: ROOT, stdio: 'ignore', timeout: 300_000 });
  }
});

function chainbook(
  dataDir: string,
  args: readonly string[],
): { status: number | null; stdout: string; stderr: string } {
  const { DATABASE_URL: _inherited, NODE_OPTIONS: _options, ...env } = process.env;
  const result = spawnSync(process.execPath, [BIN, ...args], {
    env: { ...env, CHAINBOOK_DATA_DIR: dataDir },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('the compiled build has no TypeScript left to load: every relative import of dist/ names a .js module', (t) => {
  const offenders: string[] = [];
  const visit = (path: string): void => {
    for (const name of readdirSync(path)) {
      const child = join(path, name);
      if (statSync(child).isDirectory()) visit(child);
      else if (name.endsWith('.js') && /(?:from |import\()\s*'\.{1,2}\/[^']*\.ts'/.test(readFileSync(child, 'utf8')))
        offenders.push(child);
    }
  };
  visit(join(ROOT, 'dist'));
  t.deepEqual(offenders, []);
  t.false(existsSync(join(ROOT, 'dist', 'infra', 'adapters', 'workers', 'boot.mjs')), 'no tsx boot for workers');
});

test('bin/chainbook.js prints the version of package.json', (t) => {
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const result = chainbook(tempDir('build-version'), ['--version']);
  t.is(result.status, 0, result.stderr);
  t.is(result.stdout.trim(), version);
});

test('the compiled CLI runs the demo, then audit-verify checks the chain on worker threads, and finds a changed hash in its dump', (t) => {
  const dataDir = join(tempDir('build-chain'), '.chainbook');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const demo = chainbook(dataDir, ['demo', '--orders', '1']);
  t.is(demo.status, 0, demo.stderr);
  const verified = chainbook(dataDir, ['audit-verify', '--threads', '2', '--no-progress']);
  t.is(verified.status, 0, verified.stderr);
  t.regex(verified.stdout, /audit-verify: OK/);

  const dump = chainbook(dataDir, ['dump']);
  t.is(dump.status, 0, dump.stderr);
  const lines = dump.stdout.trimEnd().split('\n');
  const last = lines.at(-1)!;
  lines[lines.length - 1] = last.replace(
    /"hash":"([0-9a-f])/,
    (_match, digit: string) => `"hash":"${digit === '0' ? '1' : '0'}`,
  );
  t.not(lines.at(-1), last);
  const file = join(dataDir, 'tampered.jsonl');
  writeFileSync(file, `${lines.join('\n')}\n`);
  const tampered = chainbook(dataDir, ['audit-verify', '--threads', '2', '--no-progress', '-i', file]);
  t.is(tampered.status, 1, tampered.stdout + tampered.stderr);
});

test('npm start’s command, the compiled serve, answers /ready and stops with exit 0 on SIGTERM', async (t) => {
  const dataDir = tempDir('build-serve');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const { DATABASE_URL: _inherited, NODE_OPTIONS: _options, ...env } = process.env;
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: { ...env, CHAINBOOK_DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'warn' },
    stdio: 'pipe',
  });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "serving" line: ${stdout}`)), 60_000);
    child.stdout.on('data', () => {
      const match = /serving (http:\/\/\S+)/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
  });
  const ready = await fetch(`${url}/ready`);
  t.is(ready.status, 200, await ready.text());
  child.kill('SIGTERM');
  t.is(await exited, 0);
});

test('the signing gate runs the compiled signing check: REQUIRE_SIGNING_PROXY with a proxy that does not answer fails, naming why', (t) => {
  const dataDir = tempDir('build-gate');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  writeRegistry(join(dataDir, 'signers.json'), [
    registryEntry('ci-gate', 'ed25519', generateKeyPairSync('ed25519').publicKey),
  ]);
  // Port 9 (discard) on the loopback: nothing of ours listens there.
  const result = spawnSync('bash', ['scripts/ci/signing-gate.sh'], {
    env: {
      PATH: process.env['PATH'] ?? '',
      CHAINBOOK_DATA_DIR: dataDir,
      PROTECTED_BRANCH: 'true',
      REQUIRE_SIGNING_PROXY: 'true',
      SIGNING_BACKEND: 'proxy',
      SIGNING_KID: 'ci-gate',
      SIGNING_PROXY_URL: 'http://127.0.0.1:9',
      SIGNING_PROXY_API_KEY: 'ci-gate-api-key-0123456789abcdef',
      SIGNING_TIMEOUT_MS: '500',
    },
    encoding: 'utf8',
    timeout: 60_000,
  });
  t.is(result.status, 1, result.stdout + result.stderr);
  t.regex(result.stderr, /^signing check: FAILED: SIGNING_UNAVAILABLE/m);
});
