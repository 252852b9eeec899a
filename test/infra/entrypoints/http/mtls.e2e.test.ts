/**
 * mTLS of `chainbook serve` (README, "TLS and mTLS"): real serve processes,
 * real HTTPS requests, certificates made with the openssl CLI. A client
 * certificate of the trusted CA maps to its role by CN or SAN URI and acts
 * as `mtls:<subject>` in the chain; another CA's, an expired one and none are
 * refused on non-public routes while probes, the catalog and the auditor
 * page answer anyone; production refuses to start without mTLS.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:tls';
import { Agent, request as httpsRequest } from 'node:https';
import test from 'ava';
import { generateHsmKeyPair } from '../../../../infra/adapters/signers/pkcs11.ts';
import { CLI, runCli } from '../../../helpers/cli.ts';
import { openTestDatabase } from '../../../helpers/databases.ts';
import { registryEntry } from '../../../helpers/keys.ts';
import { writeRegistry } from '../../../helpers/signing.ts';
import { softHsmToken } from '../../../helpers/softhsm.ts';
import { issue, issueServer, makeCa, type Issued } from '../../../helpers/certificates.ts';
import { tempDir } from '../../../helpers/runtime.ts';

const folder = tempDir('mtls');
test.after.always(() => rmSync(folder, { recursive: true, force: true }));

const ca = makeCa(folder, 'ca');
const otherCa = makeCa(folder, 'other-ca');
const server = issueServer(folder, ca);
const clients = {
  publisher: issue(folder, ca, 'publisher', { commonName: 'publisher-svc' }),
  service: issue(folder, ca, 'service', { commonName: 'settlement-svc' }),
  auditor: issue(folder, ca, 'auditor', {
    commonName: 'ignored-cn',
    altNames: ['URI:spiffe://chainbook.test/ns/audit/sa/reader'],
  }),
  stranger: issue(folder, ca, 'stranger', { commonName: 'stranger-svc' }),
  expired: issue(folder, ca, 'expired', { commonName: 'settlement-svc', days: -1 }),
  foreign: issue(folder, otherCa, 'foreign', { commonName: 'settlement-svc' }),
};
const ADMIN_TOKEN = 'admin-token-for-the-mtls-test-0123456789';
const ROLE_MAP = 'publisher-svc=Publisher,settlement-svc=Service,spiffe://chainbook.test/ns/audit/sa/reader=Auditor';

function tlsEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    TLS_CERT_FILE: server.cert,
    TLS_KEY_FILE: server.key,
    TLS_CLIENT_CA_FILE: ca.cert,
    MTLS_ROLE_MAP: ROLE_MAP,
    API_TOKENS: `admin-1:SuperAdmin:${createHash('sha256').update(ADMIN_TOKEN).digest('hex')}`,
    ...extra,
  };
}

interface Serving {
  url: string;
  child: ChildProcess;
}

async function serve(t: { teardown(fn: () => void): void }, env: Record<string, string>): Promise<Serving> {
  const dataDir = tempDir('mtls-serve');
  const { DATABASE_URL: _ignored, ...inherited } = process.env;
  const child = spawn(process.execPath, [...CLI, 'serve'], {
    env: { ...inherited, CHAINBOOK_DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'warn', ...env },
    stdio: 'pipe',
  });
  t.teardown(() => {
    child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "serving" line: ${output}`)), 60_000);
    const read = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const match = /serving (https?:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    child.on('close', (code) => reject(new Error(`serve exited ${code}: ${output}`)));
  });
  return { url, child };
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: { error?: { code: string; details?: Record<string, unknown> } } & Record<string, unknown>;
}

/** One request on its own connection, presenting `client`'s certificate when given. */
function call(
  url: string,
  method: string,
  path: string,
  options: { client?: Issued; token?: string; body?: unknown } = {},
): Promise<Answer> {
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const request = httpsRequest(
      `${url}${path}`,
      {
        method,
        ca: readFileSync(ca.cert),
        agent: false,
        ...(options.client ? { cert: readFileSync(options.client.cert), key: readFileSync(options.client.key) } : {}),
        headers: {
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: Answer['body'];
          try {
            parsed = JSON.parse(text) as Answer['body'];
          } catch {
            parsed = { text };
          }
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: parsed });
        });
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

/** The code's OpenAPI document in a file, as `chainbook openapi --output` writes it for the image. */
async function openApiFile(): Promise<string> {
  const path = `${folder}/openapi-${process.pid}.yaml`;
  const written = await runCli(['openapi', '--output', path]);
  if (written.code !== 0) throw new Error(`chainbook openapi: ${written.stderr}`);
  return path;
}

const MANIFEST = {
  name: 'Sent over mTLS',
  version: '1',
  artifactSha256: 'd'.repeat(64),
  sizeBytes: 1,
  priceMinor: 100,
  currency: 'EUR',
  royaltySplits: [{ partyId: 'mtls:publisher-svc', basisPoints: 10_000 }],
};

test('mTLS required: a client certificate of the trusted CA maps to its role and acts as mtls:<CN> in the chain; others are refused on private routes only', async (t) => {
  const { url } = await serve(t, tlsEnv());
  t.regex(url, /^https:\/\//);

  // Probes, the catalog and the auditor page need no certificate (a kubelet has none).
  for (const path of ['/health', '/ready', '/catalog', '/auditor']) {
    const answer = await call(url, 'GET', path);
    t.not(answer.status, 401, `${path} is public`);
  }
  const catalog = await call(url, 'GET', '/catalog');
  t.is(catalog.status, 200);
  t.is(catalog.headers['cache-control'], 'public, max-age=30');

  // What the Publisher's certificate allows: submitting a manifest, recorded as its certificate's subject.
  const submitted = await call(url, 'POST', '/manifests', { client: clients.publisher, body: MANIFEST });
  t.is(submitted.status, 200, JSON.stringify(submitted.body));
  t.is(submitted.headers['cache-control'], 'no-store');
  const seq = (submitted.body['seqs'] as number[])[0]!;
  // And not more: the ledger is finance's.
  const ledger = await call(url, 'GET', '/ledger/accounts', { client: clients.publisher });
  t.is(ledger.status, 403);
  t.is(ledger.body.error?.code, 'FORBIDDEN_ROLE');

  // A Service certificate reads the chain; the record's actor is the publisher's certificate.
  const record = await call(url, 'GET', `/chain/records/${seq}`, { client: clients.service });
  t.is(record.status, 200, JSON.stringify(record.body));
  t.deepEqual(record.body['actor'], { id: 'mtls:publisher-svc', role: 'Publisher' });

  // A SAN URI maps too (looked up before the CN): an Auditor reads and writes nothing.
  const head = await call(url, 'GET', '/chain/head', { client: clients.auditor });
  t.is(head.status, 200, JSON.stringify(head.body));
  const write = await call(url, 'POST', '/manifests', { client: clients.auditor, body: MANIFEST });
  t.is(write.status, 403);

  // No certificate: refused, a valid bearer token notwithstanding.
  for (const token of [undefined, ADMIN_TOKEN]) {
    const none = await call(url, 'GET', '/chain/head', token ? { token } : {});
    t.is(none.status, 401);
    t.is(none.body.error?.code, 'CLIENT_CERTIFICATE_REQUIRED');
  }
  // Another CA's certificate, and an expired one of ours: refused with the reason, the token notwithstanding.
  for (const [client, reason] of [
    [clients.foreign, /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT/],
    [clients.expired, /CERT_HAS_EXPIRED|expired/i],
  ] as const) {
    const refused = await call(url, 'GET', '/chain/head', { client, token: ADMIN_TOKEN });
    t.is(refused.status, 401);
    t.is(refused.body.error?.code, 'CLIENT_CERTIFICATE_REJECTED');
    t.regex(String(refused.body.error?.details?.['reason']), reason);
    // The refusal changed nothing and public routes still answer that client.
    t.is((await call(url, 'GET', '/health', { client })).status, 200);
  }
  const refusedWrite = await call(url, 'POST', '/manifests', { client: clients.expired, body: MANIFEST });
  t.is(refusedWrite.status, 401);
  const after = await call(url, 'GET', '/chain/head', { client: clients.service });
  t.is(after.body['seq'], head.body['seq'], 'nothing was appended by a refused caller');

  // A verified certificate with no role: a bearer token names the actor (a gateway), none is 401.
  const unmapped = await call(url, 'GET', '/chain/head', { client: clients.stranger });
  t.is(unmapped.status, 401);
  t.is(unmapped.body.error?.code, 'UNAUTHENTICATED');
  t.is((await call(url, 'GET', '/chain/head', { client: clients.stranger, token: ADMIN_TOKEN })).status, 200);
});

test('edge headers: HSTS, CSP, nosniff and no framing on every answer; the auditor page keeps its own CSP', async (t) => {
  const { url } = await serve(t, tlsEnv());
  for (const [path, client] of [
    ['/health', undefined],
    ['/chain/head', clients.service],
    ['/chain/head', undefined],
    ['/no-such-route', undefined],
  ] as const) {
    const answer = await call(url, 'GET', path, client ? { client } : {});
    t.regex(String(answer.headers['strict-transport-security']), /max-age=31536000; includeSubDomains/, path);
    t.is(answer.headers['x-content-type-options'], 'nosniff', path);
    t.is(answer.headers['x-frame-options'], 'DENY', path);
    t.regex(String(answer.headers['content-security-policy']), /default-src 'none'.*frame-ancestors 'none'/, path);
    t.is(answer.headers['cache-control'], 'no-store', path);
  }
  const page = await call(url, 'GET', '/auditor');
  t.is(page.status, 200);
  t.regex(String(page.headers['content-security-policy']), /script-src 'sha256-/);
  t.regex(String(page.headers['content-security-policy']), /frame-ancestors 'none'/);
  t.is(page.headers['cache-control'], 'no-cache');
});

test('DEV_SKIP_MTLS=true outside production: a client certificate is optional (a token alone works) but one that does not verify is still refused', async (t) => {
  const { url } = await serve(t, tlsEnv({ DEV_SKIP_MTLS: 'true', CATALOG_CACHE_SECONDS: '5' }));
  t.is((await call(url, 'GET', '/chain/head', { token: ADMIN_TOKEN })).status, 200);
  t.is((await call(url, 'GET', '/chain/head', { client: clients.service })).status, 200);
  const foreign = await call(url, 'GET', '/chain/head', { client: clients.foreign, token: ADMIN_TOKEN });
  t.is(foreign.body.error?.code, 'CLIENT_CERTIFICATE_REJECTED');
  t.is((await call(url, 'GET', '/catalog')).headers['cache-control'], 'public, max-age=5');
});

const REFUSALS: [string, Record<string, string>, RegExp][] = [
  [
    'production without TLS',
    {
      NODE_ENV: 'production',
      DATABASE_URL: 'postgres://127.0.0.1:1/none',
      SIGNING_BACKEND: 'kms',
      AUDIT_SIGNING_KMS_KEY_ID: 'alias/x',
      AUDIT_SIGNING_ALG: 'ed25519',
      SIGNING_KID: 'k',
    },
    /TLS_CERT_FILE, TLS_KEY_FILE and TLS_CLIENT_CA_FILE: required when NODE_ENV=production/,
  ],
  [
    'production with TLS but no client CA',
    {
      NODE_ENV: 'production',
      DATABASE_URL: 'postgres://127.0.0.1:1/none',
      SIGNING_BACKEND: 'kms',
      AUDIT_SIGNING_KMS_KEY_ID: 'alias/x',
      AUDIT_SIGNING_ALG: 'ed25519',
      SIGNING_KID: 'k',
      TLS_CERT_FILE: server.cert,
      TLS_KEY_FILE: server.key,
    },
    /TLS_CLIENT_CA_FILE: required when NODE_ENV=production/,
  ],
  [
    'production with DEV_SKIP_MTLS=true, mTLS configured',
    {
      ...tlsEnv({ DEV_SKIP_MTLS: 'true' }),
      NODE_ENV: 'production',
      DATABASE_URL: 'postgres://127.0.0.1:1/none',
      SIGNING_BACKEND: 'kms',
      AUDIT_SIGNING_KMS_KEY_ID: 'alias/x',
      AUDIT_SIGNING_ALG: 'ed25519',
      SIGNING_KID: 'k',
    },
    /DEV_SKIP_MTLS: must be false when NODE_ENV=production/,
  ],
  [
    'plain HTTP on an address other machines reach',
    { HOST: '0.0.0.0' },
    /HOST: 0\.0\.0\.0 is reachable from other machines/,
  ],
  [
    'the key is not the certificate',
    tlsEnv({ TLS_KEY_FILE: clients.service.key }),
    /TLS_KEY_FILE: is not the private key of TLS_CERT_FILE's certificate/,
  ],
  [
    'a certificate file is missing',
    tlsEnv({ TLS_CLIENT_CA_FILE: `${folder}/none.pem` }),
    /TLS_CLIENT_CA_FILE: cannot be read/,
  ],
  [
    'MTLS_ROLE_MAP names no role',
    tlsEnv({ MTLS_ROLE_MAP: 'publisher-svc=Root' }),
    /MTLS_ROLE_MAP: .*"Root" is not one of/,
  ],
  ['MTLS_ROLE_MAP without a client CA', { MTLS_ROLE_MAP: 'a=Service' }, /MTLS_ROLE_MAP: needs TLS_CLIENT_CA_FILE/],
];

for (const [what, env, message] of REFUSALS) {
  test(`serve refuses to start (exit 2): ${what}`, async (t) => {
    const dataDir = tempDir('mtls-guard');
    t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
    const result = await runCli(['serve'], { env: { CHAINBOOK_DATA_DIR: dataDir, PORT: '0', ...env } });
    t.is(result.code, 2, result.stdout + result.stderr);
    t.regex(result.stderr, /refusing to start/);
    t.regex(result.stderr, message);
    t.notRegex(result.stdout, /serving/);
  });
}

test('DEV_SKIP_MTLS=true lets a development server listen on every address over plain HTTP, on purpose', async (t) => {
  const { url } = await serve(t, { HOST: '0.0.0.0', DEV_SKIP_MTLS: 'true' });
  t.regex(url, /^http:\/\//);
});

test('in production (PostgreSQL, an HSM signer) the same rules hold: HTTPS only, a service certificate acts, none or another CA is refused', async (t) => {
  const database = await openTestDatabase('postgres');
  t.teardown(() => database.drop());
  const token = softHsmToken('mtls-production');
  t.teardown(() => token.remove());
  const publicKey = generateHsmKeyPair(token, 'writer', 'ed25519');
  const signers = `${folder}/production-signers.json`;
  writeRegistry(signers, [registryEntry('hsm-writer', 'ed25519', publicKey)]);
  const { url } = await serve(
    t,
    tlsEnv({
      NODE_ENV: 'production',
      DATABASE_URL: database.location,
      SIGNING_BACKEND: 'pkcs11',
      PKCS11_MODULE: token.modulePath,
      PKCS11_TOKEN_LABEL: token.tokenLabel,
      PKCS11_PIN: token.pin,
      PKCS11_KEY_LABEL: 'writer',
      SIGNING_KID: 'hsm-writer',
      CHAINBOOK_SIGNERS: signers,
      SOFTHSM2_CONF: token.conf,
      // The document production serves, written as the image's build does (scripts/image/build-app.sh).
      OPENAPI_PATH: await openApiFile(),
      // Production's delivery settings (test/infra/wiring/dataKeysConfig.unit.test.ts); not what this test is about.
      DELIVERY_S3_BUCKET: 'deliveries',
      DELIVERY_WRAPPING_KEY: Buffer.alloc(32, 7).toString('base64'),
    }),
  );
  t.regex(url, /^https:\/\//);
  t.is((await call(url, 'GET', '/health')).status, 200);
  const submitted = await call(url, 'POST', '/manifests', { client: clients.publisher, body: MANIFEST });
  t.is(submitted.status, 200, JSON.stringify(submitted.body));
  const seq = (submitted.body['seqs'] as number[])[0]!;
  const record = await call(url, 'GET', `/chain/records/${seq}`, { client: clients.service });
  t.deepEqual(record.body['actor'], { id: 'mtls:publisher-svc', role: 'Publisher' });
  t.is((await call(url, 'GET', '/chain/head', { token: ADMIN_TOKEN })).body.error?.code, 'CLIENT_CERTIFICATE_REQUIRED');
  const before = await call(url, 'GET', '/chain/head', { client: clients.service });
  const foreign = await call(url, 'POST', '/manifests', {
    client: clients.foreign,
    token: ADMIN_TOKEN,
    body: MANIFEST,
  });
  t.is(foreign.body.error?.code, 'CLIENT_CERTIFICATE_REJECTED');
  const head = await call(url, 'GET', '/chain/head', { client: clients.service });
  t.is(head.body['seq'], before.body['seq'], 'the refused write appended nothing');
});

/** The serial number of the certificate the server presents now. */
function servedSerial(url: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), ca: readFileSync(ca.cert) }, () => {
      resolve(socket.getPeerCertificate().serialNumber);
      socket.end();
    });
    socket.on('error', reject);
  });
}

test('a renewed certificate written over the files is served to new connections without a restart', async (t) => {
  const renewed = issueServer(folder, ca, 'renewed');
  const live = { cert: `${folder}/live.pem`, key: `${folder}/live.key` };
  copyFileSync(server.cert, live.cert);
  copyFileSync(server.key, live.key);
  const { url } = await serve(t, tlsEnv({ TLS_CERT_FILE: live.cert, TLS_KEY_FILE: live.key, TLS_RELOAD_SECONDS: '1' }));
  const before = await servedSerial(url);
  t.is(before, new X509Certificate(readFileSync(server.cert)).serialNumber);
  copyFileSync(renewed.key, live.key);
  copyFileSync(renewed.cert, live.cert);
  const expected = new X509Certificate(readFileSync(renewed.cert)).serialNumber;
  let now = before;
  for (let attempt = 0; attempt < 50 && now !== expected; attempt += 1) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    now = await servedSerial(url);
  }
  t.is(now, expected, 'the renewed certificate is served');
  t.is((await call(url, 'GET', '/chain/head', { client: clients.service })).status, 200);
});

test('a TLS file that cannot even be looked at (its folder swapped for a file: ENOTDIR) is reported, and serve keeps serving the previous certificate', async (t) => {
  const mount = `${folder}/mount-${process.pid}`;
  mkdirSync(mount);
  const live = { cert: `${mount}/tls.crt`, key: `${mount}/tls.key` };
  copyFileSync(server.cert, live.cert);
  copyFileSync(server.key, live.key);
  const { url, child } = await serve(
    t,
    tlsEnv({ TLS_CERT_FILE: live.cert, TLS_KEY_FILE: live.key, TLS_RELOAD_SECONDS: '1' }),
  );
  rmSync(mount, { recursive: true, force: true });
  writeFileSync(mount, 'not a folder');
  await new Promise((resolve) => setTimeout(resolve, 2_500));
  t.is(child.exitCode, null, 'serve is still running');
  t.is((await call(url, 'GET', '/chain/head', { client: clients.service })).status, 200);
});

/**
 * Renegotiates a TLS 1.2 connection that presented `client`'s certificate:
 * the error that ends it, or undefined when the server went along.
 */
function renegotiation(url: string, client: Issued): Promise<Error | undefined> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(
      {
        host: hostname,
        port: Number(port),
        ca: readFileSync(ca.cert),
        cert: readFileSync(client.cert),
        key: readFileSync(client.key),
        maxVersion: 'TLSv1.2',
      },
      () => {
        const started = socket.renegotiate({ rejectUnauthorized: true }, (error) => {
          resolve(error ?? undefined);
          socket.destroy();
        });
        if (!started) resolve(new Error('renegotiation could not start'));
      },
    );
    socket.on('error', (error) => resolve(error));
  });
}

test('a client cannot renegotiate: a second handshake could swap in a certificate that does not verify while the first one stays "authorized"', async (t) => {
  const { url } = await serve(t, tlsEnv());
  // An unmapped certificate of our CA: the first handshake verifies; a second one (with another CA's certificate
  // named settlement-svc) would have kept socket.authorized and given that CN its role.
  const error = await renegotiation(url, clients.stranger);
  t.truthy(error, 'the server refused to renegotiate');
  t.regex(String(error?.message), /no renegotiation|socket hang up|ECONNRESET/i);
  // Connections that do not renegotiate are served as before.
  t.is((await call(url, 'GET', '/chain/head', { client: clients.service })).status, 200);
});

test('a client CA replaced on disk also ends the connections verified under the previous one: a kept-alive connection gets no further authenticated answer', async (t) => {
  const liveCa = `${folder}/live-client-ca.pem`;
  copyFileSync(ca.cert, liveCa);
  const { url } = await serve(t, tlsEnv({ TLS_CLIENT_CA_FILE: liveCa, TLS_RELOAD_SECONDS: '1' }));
  // One connection kept alive by a request every 200 ms, as a caller whose certificate is being cut off would.
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const kept = () =>
    new Promise<number>((resolve, reject) => {
      const request = httpsRequest(
        `${url}/chain/head`,
        {
          agent,
          ca: readFileSync(ca.cert),
          cert: readFileSync(clients.service.cert),
          key: readFileSync(clients.service.key),
        },
        (response) => {
          response.resume();
          response.on('end', () => resolve(response.statusCode ?? 0));
        },
      );
      request.on('error', reject);
      request.end();
    });
  t.is(await kept(), 200);
  copyFileSync(otherCa.cert, liveCa);
  let status = 200;
  for (let attempt = 0; attempt < 50 && status === 200; attempt += 1) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    status = await kept();
  }
  t.is(status, 401, 'the previous CA no longer vouches for this caller');
  // The new CA is in force for new connections: its certificate acts, ours is refused.
  t.is((await call(url, 'GET', '/chain/head', { client: clients.foreign })).status, 200);
  t.is(
    (await call(url, 'GET', '/chain/head', { client: clients.service })).body.error?.code,
    'CLIENT_CERTIFICATE_REJECTED',
  );
});
