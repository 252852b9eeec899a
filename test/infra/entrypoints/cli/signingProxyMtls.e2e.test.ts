/**
 * The signing-proxy client presents a client certificate when configured
 * (SIGNING_PROXY_CLIENT_CERT, SIGNING_PROXY_CLIENT_KEY, SIGNING_PROXY_CA):
 * a proxy that verifies its callers by mTLS signs for it, and refuses at
 * the handshake a caller without one or with another CA's. The client is
 * the real CLI (`chainbook signing check`), the certificates the openssl CLI's.
 */
import test from 'ava';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createKeySigner } from '../../../../infra/adapters/signers/local.ts';
import { startSigningProxy, type RunningProxy } from '../../../../infra/entrypoints/signingProxy/proxyServer.ts';
import { issue, issueServer, makeCa } from '../../../helpers/certificates.ts';
import { runCli } from '../../../helpers/cli.ts';
import { registryEntry } from '../../../helpers/keys.ts';
import { tempDir } from '../../../helpers/runtime.ts';
import { writeRegistry } from '../../../helpers/signing.ts';

const KID = 'mtls-proxy-ed25519';
const API_KEY = 'mtls-proxy-api-key-0123456789abcdef';
const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const folder = tempDir('proxy-mtls');
const ca = makeCa(folder, 'ca');
const otherCa = makeCa(folder, 'other-ca');
const server = issueServer(folder, ca);
const client = issue(folder, ca, 'writer', { commonName: 'chainbook-writer' });
const foreign = issue(folder, otherCa, 'foreign', { commonName: 'chainbook-writer' });
const signers = join(folder, 'signers.json');
let proxy: RunningProxy;

test.before(async () => {
  writeRegistry(signers, [registryEntry(KID, 'ed25519', publicKey)]);
  const signer = { ...createKeySigner(KID, privateKey), publicKey, description: 'a test key' };
  proxy = await startSigningProxy({
    signer,
    clients: [{ name: 'writer', apiKey: API_KEY }],
    port: 0,
    tls: { cert: readFileSync(server.cert), key: readFileSync(server.key), clientCa: readFileSync(ca.cert) },
    log: () => {},
  });
});
test.after.always(async () => {
  await proxy?.close();
  rmSync(folder, { recursive: true, force: true });
});

function env(extra: Record<string, string>): Record<string, string> {
  return {
    CHAINBOOK_DATA_DIR: folder,
    SIGNING_BACKEND: 'proxy',
    SIGNING_KID: KID,
    SIGNING_PROXY_URL: proxy.url,
    SIGNING_PROXY_API_KEY: API_KEY,
    CHAINBOOK_SIGNERS: signers,
    SIGNING_TIMEOUT_MS: '2000',
    SIGNING_PROXY_CA: ca.cert,
    ...extra,
  };
}

test('with SIGNING_PROXY_CLIENT_CERT and _KEY the writer reaches a proxy that requires mTLS and signs through it', async (t) => {
  t.regex(proxy.url, /^https:/);
  const ok = await runCli(['signing', 'check'], {
    env: env({ SIGNING_PROXY_CLIENT_CERT: client.cert, SIGNING_PROXY_CLIENT_KEY: client.key }),
  });
  t.is(ok.code, 0, ok.stdout + ok.stderr);
  t.regex(ok.stdout, new RegExp(`signing check: OK: .* signs as ${KID}`));
});

test('without a client certificate, or with one of another CA, the proxy refuses the handshake: SIGNING_UNAVAILABLE', async (t) => {
  for (const extra of [
    {},
    { SIGNING_PROXY_CLIENT_CERT: foreign.cert, SIGNING_PROXY_CLIENT_KEY: foreign.key },
  ] as Record<string, string>[]) {
    const refused = await runCli(['signing', 'check'], { env: env(extra) });
    t.is(refused.code, 1, refused.stdout + refused.stderr);
    t.regex(refused.stderr, /signing check: FAILED: SIGNING_UNAVAILABLE/);
  }
});

test('the client certificate settings are checked at start: a pair, over https://, readable', async (t) => {
  const half = await runCli(['signing', 'check'], { env: env({ SIGNING_PROXY_CLIENT_CERT: client.cert }) });
  t.is(half.code, 2, half.stdout + half.stderr);
  t.regex(half.stderr, /SIGNING_PROXY_CLIENT_CERT and SIGNING_PROXY_CLIENT_KEY: set both or neither/);
  const plain = await runCli(['signing', 'check'], { env: env({ SIGNING_PROXY_URL: 'http://127.0.0.1:9' }) });
  t.is(plain.code, 2, plain.stdout + plain.stderr);
  t.regex(plain.stderr, /SIGNING_PROXY_URL: must be an https:\/\/ URL when/);
  const missing = await runCli(['signing', 'check'], {
    env: env({ SIGNING_PROXY_CLIENT_CERT: join(folder, 'none.pem'), SIGNING_PROXY_CLIENT_KEY: client.key }),
  });
  t.is(missing.code, 2, missing.stdout + missing.stderr);
  t.regex(missing.stderr, /SIGNING_PROXY_CLIENT_CERT: cannot be read/);
});
