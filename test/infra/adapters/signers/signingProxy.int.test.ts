/**
 * The signing proxy end to end over real HTTP on 127.0.0.1, with the SoftHSM2
 * signer behind it: appends signed through it verify; a wrong API key gets
 * 401; a proxy killed mid-load leaves no unsigned or half-written record and
 * appends fail with SIGNING_UNAVAILABLE; when it returns, writes resume.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { CodedError } from '../../../../domain/errors.ts';
import { isChainError } from '../../../../chain/errors.ts';
import { sha256 } from '../../../../chain/hash.ts';
import { verifySignature } from '../../../../chain/signature.ts';
import { metricsRegistry } from '../../../../infra/adapters/metrics.ts';
import type { BackendSigner } from '../../../../infra/adapters/signers/backend.ts';
import { generateHsmKeyPair, openPkcs11Signer } from '../../../../infra/adapters/signers/pkcs11.ts';
import { openProxySigner } from '../../../../infra/adapters/signers/proxyClient.ts';
import {
  startSigningProxy,
  type ProxyLogLine,
  type RunningProxy,
} from '../../../../infra/entrypoints/signingProxy/proxyServer.ts';
import { registryEntry } from '../../../helpers/keys.ts';
import { tempDir, testRuntime } from '../../../helpers/runtime.ts';
import { appendMany, verdict, writeRegistry } from '../../../helpers/signing.ts';
import { softHsmToken, type SoftHsmToken } from '../../../helpers/softhsm.ts';

const API_KEY = 'test-api-key-0123456789abcdef';
const KID = 'proxy-hsm-ed25519';
let token: SoftHsmToken;
let hsm: BackendSigner;

test.before(() => {
  token = softHsmToken();
  generateHsmKeyPair(token, 'proxy-key', 'ed25519');
  hsm = openPkcs11Signer({ ...token, keyLabel: 'proxy-key', kid: KID });
});
test.after.always(async () => {
  await hsm?.close();
  token?.remove();
});

async function proxy(
  t: { teardown(fn: () => Promise<void> | void): void },
  port = 0,
  log: ProxyLogLine[] = [],
): Promise<RunningProxy> {
  const running = await startSigningProxy({
    signer: hsm,
    clients: [{ name: 'finance', apiKey: API_KEY }],
    port,
    log: (line) => log.push(line),
  });
  t.teardown(() => running.close());
  return running;
}

function proxyEnv(url: string, signersPath: string, apiKey = API_KEY): Record<string, string> {
  return {
    SIGNING_BACKEND: 'proxy',
    SIGNING_KID: KID,
    SIGNING_PROXY_URL: url,
    SIGNING_PROXY_API_KEY: apiKey,
    CHAINBOOK_SIGNERS: signersPath,
    SIGNING_TIMEOUT_MS: '1000',
    SIGNING_CIRCUIT_OPEN_MS: '300',
    REQUIRE_SIGNING_PROXY: 'true',
  };
}

function registryFile(t: { teardown(fn: () => void): void }): {
  path: string;
  registry: ReturnType<typeof writeRegistry>;
} {
  const folder = tempDir('proxy');
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  const path = join(folder, 'signers.json');
  return { path, registry: writeRegistry(path, [registryEntry(KID, 'ed25519', hsm.publicKey!)]) };
}

test.serial(
  'appends signed through the proxy by the HSM verify; every request is logged with time and caller, never the key',
  async (t) => {
    const log: ProxyLogLine[] = [];
    const running = await proxy(t, 0, log);
    const { path, registry } = registryFile(t);
    const rt = await testRuntime(t, 'postgres', { env: proxyEnv(running.url, path) });
    const results = await appendMany((chain, events) => rt.store.append(chain, events), 60, 16);
    t.true(results.every((result) => result.status === 'fulfilled'));
    const report = await verdict(rt.db, registry);
    t.true(report.ok, JSON.stringify(report.finding));
    const signs = log.filter((line) => line.path === '/sign');
    t.true(signs.length >= 60);
    t.true(
      signs.every(
        (line) =>
          line.caller === 'finance' &&
          line.status === 200 &&
          /^[0-9a-f]{64}$/.test(line.hash_hex ?? '') &&
          !Number.isNaN(Date.parse(line.ts)),
      ),
    );
    t.notRegex(JSON.stringify(log), new RegExp(API_KEY));
    t.regex(await metricsRegistry.getSingleMetricAsString('signing_proxy_health'), /signing_proxy_health 1/);
    const health = (await (await fetch(`${running.url}/health`)).json()) as Record<string, string>;
    t.like(health, { status: 'ok', signer_id: KID, algorithm: 'ed25519' });
  },
);

test.serial('a wrong or missing API key gets 401, and the client fails closed with SIGNING_UNAVAILABLE', async (t) => {
  const log: ProxyLogLine[] = [];
  const running = await proxy(t, 0, log);
  const body = JSON.stringify({ hash_hex: sha256(Buffer.from('x')).toString('hex'), kid: KID });
  const wrong = await fetch(`${running.url}/sign`, {
    method: 'POST',
    headers: { authorization: 'Bearer wrong-key-0123456789', 'content-type': 'application/json' },
    body,
  });
  t.is(wrong.status, 401);
  t.like(await wrong.json(), { error: { code: 'UNAUTHORIZED' } });
  const missing = await fetch(`${running.url}/sign`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  t.is(missing.status, 401);
  t.true(log.filter((line) => line.status === 401).every((line) => line.caller === 'anonymous'));

  const client = await openProxySigner({ url: running.url, apiKey: 'wrong-key-0123456789', kid: KID });
  const error = await t.throwsAsync(client.sign(sha256(Buffer.from('x')), Buffer.from('x')), {
    instanceOf: CodedError,
  });
  t.is(error.code, 'SIGNING_UNAVAILABLE');
  t.regex(error.message, /refused the API key \(401\)/);
  const { path } = registryFile(t);
  const refused = await t.throwsAsync(
    testRuntime(t, 'pglite', { env: proxyEnv(running.url, path, 'wrong-key-0123456789') }),
    { instanceOf: CodedError },
  );
  t.is(refused.code, 'SIGNING_UNAVAILABLE', 'start-up refuses: the probe signature is not given');
});

test.serial(
  'the proxy checks what it signs: the kid it signs as, the hash format, a preimage that matches',
  async (t) => {
    const running = await proxy(t);
    const headers = { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' };
    const preimage = Buffer.from('{"a":1}');
    const post = (body: unknown) =>
      fetch(`${running.url}/sign`, { method: 'POST', headers, body: JSON.stringify(body) });
    t.is((await post({ hash_hex: sha256(preimage).toString('hex'), kid: 'someone-else' })).status, 400);
    t.is((await post({ hash_hex: 'abc', kid: KID })).status, 400);
    t.is(
      (
        await post({
          hash_hex: sha256(Buffer.from('other')).toString('hex'),
          preimage_b64: preimage.toString('base64'),
          kid: KID,
        })
      ).status,
      400,
    );
    const ok = await post({
      hash_hex: sha256(preimage).toString('hex'),
      preimage_b64: preimage.toString('base64'),
      kid: KID,
    });
    t.is(ok.status, 200);
    const { signature_b64: signature, signer_id: signerId } = (await ok.json()) as {
      signature_b64: string;
      signer_id: string;
    };
    t.is(signerId, KID);
    t.true(verifySignature('ed25519', hsm.publicKey!, sha256(preimage), preimage, Buffer.from(signature, 'base64')));
  },
);

test.serial(
  'killed mid-load: no unsigned or half-written record, appends fail with SIGNING_UNAVAILABLE, and resume when the proxy returns',
  async (t) => {
    const first = await proxy(t);
    const port = Number(new URL(first.url).port);
    const { path, registry } = registryFile(t);
    const rt = await testRuntime(t, 'postgres', { env: proxyEnv(first.url, path) });
    let killed = false;
    const load = appendMany(
      async (chain, events) => {
        const result = await rt.store.append(chain, events);
        if (!killed) {
          killed = true;
          void first.close();
        }
        return result;
      },
      300,
      32,
    );
    const results = await load;
    const succeeded = results.filter((result) => result.status === 'fulfilled').length;
    const failures = results.filter((result): result is PromiseRejectedResult => result.status === 'rejected');
    t.true(failures.length > 0, 'some appends met the dead proxy');
    t.true(
      failures.every((failure) => isChainError(failure.reason, 'SIGNING_UNAVAILABLE')),
      String(failures[0]?.reason),
    );
    const { rows } = await rt.db.query<{ count: number }>('SELECT count(*)::int8 AS count FROM events');
    t.is(rows[0]!.count, succeeded, 'exactly the acknowledged appends are stored');
    const during = await verdict(rt.db, registry);
    t.true(during.ok, JSON.stringify(during.finding));
    t.regex(await metricsRegistry.getSingleMetricAsString('signing_proxy_health'), /signing_proxy_health 0/);

    await proxy(t, port);
    await new Promise((resolve) => setTimeout(resolve, 400)); // the circuit's open time
    const after = await appendMany((chain, events) => rt.store.append(chain, events), 50, 8, 'after');
    t.true(
      after.every((result) => result.status === 'fulfilled'),
      'writes resume',
    );
    const final = await verdict(rt.db, registry);
    t.true(final.ok, JSON.stringify(final.finding));
    t.is(final.records, succeeded + 50);
  },
);

test.serial(
  'start-up fails closed when the proxy is unreachable, and with REQUIRE_SIGNING_PROXY a local signer is refused',
  async (t) => {
    const { path } = registryFile(t);
    const down = await t.throwsAsync(testRuntime(t, 'pglite', { env: proxyEnv('http://127.0.0.1:9', path) }));
    t.regex(down.message, /unreachable|timed out/);
    const local = await t.throwsAsync(testRuntime(t, 'pglite', { env: { REQUIRE_SIGNING_PROXY: 'true' } }));
    t.regex(local.message, /REQUIRE_SIGNING_PROXY=true requires proxy/);
  },
);

test.serial('serves HTTPS when given a certificate', async (t) => {
  const folder = tempDir('tls');
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'key.pem',
      '-out',
      'cert.pem',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    {
      cwd: folder,
      stdio: 'pipe',
    },
  );
  const cert = readFileSync(join(folder, 'cert.pem'));
  const running = await startSigningProxy({
    signer: hsm,
    clients: [{ name: 'kernel', apiKey: API_KEY }],
    tls: { cert, key: readFileSync(join(folder, 'key.pem')) },
    log: () => undefined,
  });
  t.teardown(() => running.close());
  t.regex(running.url, /^https:/);
  const body = await new Promise<string>((resolve, reject) => {
    const request = httpsRequest(`${running.url}/health`, { ca: cert }, (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () => resolve(text));
    });
    request.on('error', reject);
    request.end();
  });
  t.like(JSON.parse(body), { status: 'ok', signer_id: KID });
});
