/**
 * `chainbook signing check`, the runbooks' CI gate: exit 0 only when the configured signing path
 * answers and its key is registered and inside its window; otherwise non-zero, naming why. The
 * signing path here is a signing proxy on 127.0.0.1 in front of a key made by the test.
 */
import test from 'ava';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { CodedError } from '../../../../domain/errors.ts';
import { createKeySigner } from '../../../../infra/adapters/signers/local.ts';
import { startSigningProxy, type RunningProxy } from '../../../../infra/entrypoints/signingProxy/proxyServer.ts';
import { loadConfig } from '../../../../infra/wiring/config.ts';
import { checkSigning } from '../../../../infra/wiring/signing.ts';
import { runCli } from '../../../helpers/cli.ts';
import { registryEntry } from '../../../helpers/keys.ts';
import { tempDir } from '../../../helpers/runtime.ts';
import { writeRegistry } from '../../../helpers/signing.ts';

const KID = 'ci-gate-ed25519';
const API_KEY = 'ci-gate-api-key-0123456789abcdef';
const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const folder = tempDir('signing-check');
let proxy: RunningProxy;

test.before(async () => {
  const signer = { ...createKeySigner(KID, privateKey), publicKey, description: 'a test key' };
  proxy = await startSigningProxy({ signer, clients: [{ name: 'ci', apiKey: API_KEY }], port: 0, log: () => {} });
});
test.after.always(async () => {
  await proxy?.close();
  rmSync(folder, { recursive: true, force: true });
});

/** The environment of a writer signing through the proxy at `url`, with the registry at `signersPath`. */
function proxyEnv(signersPath: string, url = proxy.url): Record<string, string> {
  return {
    CHAINBOOK_DATA_DIR: folder,
    SIGNING_BACKEND: 'proxy',
    SIGNING_KID: KID,
    SIGNING_PROXY_URL: url,
    SIGNING_PROXY_API_KEY: API_KEY,
    CHAINBOOK_SIGNERS: signersPath,
    SIGNING_TIMEOUT_MS: '1000',
  };
}

function registryWith(name: string, ...window: [deployedAt?: string, retiredAt?: string | null]): string {
  const path = join(folder, `${name}.json`);
  writeRegistry(path, [registryEntry(KID, 'ed25519', publicKey, ...window)]);
  return path;
}

async function refusal(env: Record<string, string>): Promise<string> {
  const error = await checkSigning(loadConfig(env)).then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  if (!(error instanceof CodedError)) throw new Error(`expected a CodedError, got ${String(error)}`);
  return error.code;
}

test('a proxy that signs with a key registered inside its window passes, naming the kid and the window', async (t) => {
  const found = await checkSigning(loadConfig(proxyEnv(registryWith('current'))));
  t.like(found, { kid: KID, algorithm: 'ed25519', deployedAt: '2020-01-01T00:00:00Z', retiredAt: null });
});

test('the check fails, naming why, for a kid not registered, a key not yet deployed, a retired key, another key under the kid', async (t) => {
  const other = join(folder, 'other.json');
  writeRegistry(other, [registryEntry('someone-else', 'ed25519', publicKey)]);
  t.is(await refusal(proxyEnv(other)), 'SIGNER_NOT_REGISTERED');
  const future = new Date(Date.now() + 86_400_000).toISOString();
  t.is(await refusal(proxyEnv(registryWith('future', future))), 'SIGNER_NOT_YET_DEPLOYED');
  const past = new Date(Date.now() - 60_000).toISOString();
  t.is(await refusal(proxyEnv(registryWith('retired', '2020-01-01T00:00:00Z', past))), 'SIGNER_RETIRED');
  const stranger = createPublicKey(generateKeyPairSync('ed25519').privateKey);
  const wrongKey = join(folder, 'wrong-key.json');
  writeRegistry(wrongKey, [registryEntry(KID, 'ed25519', stranger)]);
  t.is(await refusal(proxyEnv(wrongKey)), 'SIGNER_KEY_MISMATCH');
});

test('chainbook signing check: exit 0 when the path answers; 1 naming SIGNING_UNAVAILABLE when it does not; 2 naming REQUIRE_KMS when the proxy is not allowed', async (t) => {
  const signers = registryWith('cli');
  const ok = await runCli(['signing', 'check'], { env: proxyEnv(signers) });
  t.is(ok.code, 0, ok.stderr);
  t.regex(ok.stdout, new RegExp(`^signing check: OK: .* signs as ${KID} \\(ed25519\\)`));

  // A port nothing listens on any more.
  const gone = createServer();
  await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(gone.address() as AddressInfo).port}`;
  await new Promise<void>((resolve) => gone.close(() => resolve()));
  const down = await runCli(['signing', 'check'], { env: proxyEnv(signers, url) });
  t.is(down.code, 1, down.stdout + down.stderr);
  t.regex(down.stderr, /^signing check: FAILED: SIGNING_UNAVAILABLE/m);

  const required = await runCli(['signing', 'check'], { env: { ...proxyEnv(signers), REQUIRE_KMS: 'true' } });
  t.is(required.code, 2, required.stdout + required.stderr);
  t.regex(required.stderr, /REQUIRE_KMS=true requires kms/);
});
