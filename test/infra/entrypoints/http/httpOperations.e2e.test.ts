import { randomBytes } from 'node:crypto';
import test from 'ava';
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { Signer } from '../../../../chain/signer.ts';
import { deliveryKey, demoArtifact, demoArtifactFields } from '../../../../commands/demo/marketplaceFlow.ts';
import { metricsRegistry } from '../../../../infra/adapters/metrics.ts';
import { listedProduct, send, testServer, uploadArtifactOver } from '../../../helpers/http.ts';

const KEY = deliveryKey();

/** The local signer, made to fail (or to be slow) on demand. */
function controllable(control: { failing: boolean; delayMs: number }): (signer: Signer) => Signer {
  const gate = async (): Promise<void> => {
    if (control.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, control.delayMs));
    if (control.failing) throw new Error('KMS endpoint unreachable (simulated)');
  };
  return (signer) => ({
    kid: signer.kid,
    algorithm: signer.algorithm,
    sign: async (hash, preimage) => (await gate(), signer.sign(hash, preimage)),
    signBatch: async (requests) => (await gate(), signer.signBatch(requests)),
    signMessage: async (message) => (await gate(), signer.signMessage(message)),
    close: () => signer.close(),
  });
}

test('a failing signer: commands get 503 SIGNING_UNAVAILABLE and append nothing, queries go on, /ready names the signer', async (t) => {
  const control = { failing: false, delayMs: 0 };
  const server = await testServer(t, { wrapSigner: controllable(control) });
  const { listingId } = await listedProduct(server);
  const pending = await server.request('POST', '/manifests', {
    as: 'publisher',
    body: {
      name: 'Second',
      version: '1',
      ...demoArtifactFields(1),
      priceMinor: 100,
      currency: 'EUR',
      royaltySplits: [{ partyId: 'publisher-1', basisPoints: 10_000 }],
    },
  });
  t.is((await uploadArtifactOver(server, pending.body.manifestId as string, demoArtifact(1))).status, 200);
  control.failing = true;
  const before = await server.snapshot();
  for (const [path, as, body] of [
    ['/orders', 'buyer', { listingId, deliveryPublicKey: KEY }],
    [`/manifests/${pending.body.manifestId as string}/approve`, 'operator', undefined],
  ] as const) {
    const refused = await server.request('POST', path, { as, body });
    t.is(refused.status, 503, refused.text);
    t.is(refused.body.error.code, 'SIGNING_UNAVAILABLE');
    t.truthy(refused.headers.get('retry-after'));
  }
  t.deepEqual(await server.snapshot(), before);
  t.is((await server.request('GET', '/catalog', { as: 'buyer' })).status, 200);
  t.is((await server.request('GET', '/chain/head', { as: 'auditor' })).status, 200);
  const ready = await server.request('GET', '/ready');
  t.is(ready.status, 503);
  t.like(ready.body, { status: 'not-ready', checks: { database: { ok: true }, signing: { ok: false } } });
  t.regex(ready.body.checks.signing.message, /SIGNING_UNAVAILABLE/);
  control.failing = false;
  t.is(
    (await server.request('POST', '/orders', { as: 'buyer', body: { listingId, deliveryPublicKey: KEY } })).status,
    200,
    'commands resume with the signer',
  );
});

test('SIGNING_DISABLED_REASON: read-only on purpose, reported by /ready and /kernel/security/status; commands 503, queries 200', async (t) => {
  const server = await testServer(t, { env: { SIGNING_DISABLED_REASON: 'KMS outage 2025-02-24T05:15Z' } });
  const before = await server.snapshot();
  const refused = await server.request('POST', '/manifests', { as: 'publisher', body: {} });
  t.is(refused.status, 503);
  t.like(refused.body.error, {
    code: 'SIGNING_UNAVAILABLE',
    details: { readOnly: true, reason: 'KMS outage 2025-02-24T05:15Z' },
  });
  t.deepEqual(await server.snapshot(), before);
  const ready = await server.request('GET', '/ready');
  t.is(ready.status, 200);
  t.like(ready.body, { status: 'read-only', checks: { signing: { ok: false, readOnly: true } } });
  // Public, as a JWKS is: a verifier or an auditor needs no token to read the keys and the mode.
  const status = await server.request('GET', '/kernel/security/status');
  t.is(status.status, 200, status.text);
  const documented = (await server.request('GET', '/openapi.json')).body.paths['/kernel/security/status'].get;
  t.deepEqual(documented.security, [], 'the document says no credentials');
  t.like(status.body, {
    mode: 'read-only',
    readOnlyReason: 'KMS outage 2025-02-24T05:15Z',
    signer: { backend: 'local' },
  });
  t.is(status.body.signers.length, 1);
  t.regex(status.body.signers[0].public_key_pem, /BEGIN PUBLIC KEY/);
  t.false(status.text.includes('PRIVATE'), 'public keys only');
  t.is((await server.request('GET', '/catalog', { as: 'buyer' })).status, 200);
});

test('rate limits per actor and route class: 429 with Retry-After, appending nothing, other classes unaffected', async (t) => {
  const server = await testServer(t, { env: { RATE_LIMIT_COMMANDS_PER_MINUTE: '2' } });
  const body = {
    reason: 'x',
    entries: [
      { account: 'asset:bank', direction: 'debit', amountMinor: 1, currency: 'EUR' },
      { account: 'equity:capital', direction: 'credit', amountMinor: 1, currency: 'EUR' },
    ],
  };
  t.is((await server.request('POST', '/ledger/transactions', { as: 'operator', body })).status, 200);
  t.is((await server.request('POST', '/ledger/transactions', { as: 'operator', body })).status, 200);
  const before = await server.snapshot();
  const limited = await server.request('POST', '/ledger/transactions', { as: 'operator', body });
  t.is(limited.status, 429, limited.text);
  t.is(limited.body.error.code, 'RATE_LIMITED');
  t.true(Number(limited.headers.get('retry-after')) >= 1);
  t.deepEqual(await server.snapshot(), before);
  t.is(
    (await server.request('GET', '/ledger/trial-balance', { as: 'operator' })).status,
    200,
    'queries are another class',
  );
  t.is(
    (await server.request('POST', '/ledger/transactions', { as: 'lead', body })).status,
    200,
    'another actor has its own budget',
  );
});

async function redisFallbacks(): Promise<number> {
  const metric = await metricsRegistry.getSingleMetric('rate_limit_redis_fallbacks_total')!.get();
  return metric.values.reduce((sum, value) => sum + value.value, 0);
}

test('with REDIS_URL, two API processes share one rate limit (Redis on 127.0.0.1:6379)', async (t) => {
  const env = {
    REDIS_URL: 'redis://127.0.0.1:6379',
    RATE_LIMIT_QUERIES_PER_MINUTE: '3',
    RATE_LIMIT_KEY_PREFIX: `test-${randomBytes(6).toString('hex')}`,
    // A loaded test machine can make Redis slower than the production default of 250 ms; here it must decide.
    RATE_LIMIT_REDIS_TIMEOUT_MS: '10000',
  };
  const fallbacksBefore = await redisFallbacks();
  const first = await testServer(t, { env });
  const second = await testServer(t, { env, test: first.test });
  // The same token table: the same actor on both.
  const token = first.tokens.buyer;
  const statuses: number[] = [];
  for (const url of [first.url, second.url, first.url, second.url])
    statuses.push(
      (await send(url, 'GET', '/orders', { token: url === first.url ? token : second.tokens.buyer })).status,
    );
  t.deepEqual(statuses.slice(0, 3), [200, 200, 200]);
  // Tokens differ per server but the actor id is the same: the fourth request is over the shared limit.
  t.is(statuses[3], 429);
  t.is(await redisFallbacks(), fallbacksBefore, 'Redis decided every request');
});

test('when Redis cannot decide, each process counts alone (fail open), counted in rate_limit_redis_fallbacks_total and logged', async (t) => {
  const server = await testServer(t, {
    // Nothing listens on port 1: every Redis call fails at once.
    env: { REDIS_URL: 'redis://127.0.0.1:1', RATE_LIMIT_QUERIES_PER_MINUTE: '2' },
  });
  const before = await redisFallbacks();
  const statuses: number[] = [];
  for (let index = 0; index < 3; index += 1)
    statuses.push((await server.request('GET', '/orders', { as: 'buyer' })).status);
  t.deepEqual(statuses, [200, 200, 429], 'the limit still holds, per process');
  t.true((await redisFallbacks()) - before >= 3, 'every decision without Redis is counted');
  const metrics = await server.request('GET', '/metrics');
  t.regex(metrics.text, /rate_limit_redis_fallbacks_total\{route_class="query"\} \d+/);
  t.true(
    server.logs.some((line) => line['level'] === 40 && String(line['msg']).includes('this process counts alone')),
    'a warning is logged',
  );
});

test('an unauthenticated flood is limited per client address before any token is checked', async (t) => {
  const server = await testServer(t, { env: { RATE_LIMIT_ADDRESS_PER_MINUTE: '5' } });
  const statuses: number[] = [];
  for (let index = 0; index < 5; index += 1)
    statuses.push((await send(server.url, 'GET', '/orders', { token: 'not-a-token' })).status);
  t.deepEqual(statuses, [401, 401, 401, 401, 401]);
  const limited = await send(server.url, 'GET', '/orders', { token: 'not-a-token' });
  t.is(limited.status, 429, limited.text);
  t.is(limited.body.error.code, 'RATE_LIMITED');
  t.true(Number(limited.headers.get('retry-after')) >= 1);
  t.is((await server.request('GET', '/orders', { as: 'buyer' })).status, 429, 'the same address, whatever the token');
  t.is((await server.request('GET', '/health')).status, 200, 'probes are not limited');
});

test('SIGTERM-style shutdown: stops accepting, finishes the command in flight', async (t) => {
  const control = { failing: false, delayMs: 0 };
  const server = await testServer(t, { wrapSigner: controllable(control) });
  const { listingId } = await listedProduct(server);
  control.delayMs = 400;
  const inFlight = server.request('POST', '/orders', { as: 'buyer', body: { listingId, deliveryPublicKey: KEY } });
  await new Promise((resolve) => setTimeout(resolve, 100));
  const closing = server.running.close();
  const finished = await inFlight;
  t.is(finished.status, 200, finished.text);
  await closing;
  await t.throwsAsync(send(server.url, 'GET', '/health'), undefined, 'no longer accepting');
  const head = await server.app.runtime.store.head('main');
  t.is(head.seq, finished.body.seqs[0], 'the command in flight was appended');
});

test('logs carry request id and trace id, never the token; the trace id reaches the record', async (t) => {
  const server = await testServer(t);
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const response = await server.request('POST', '/manifests', {
    as: 'publisher',
    headers: { 'x-request-id': 'req-abc', traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    body: {
      name: 'Traced',
      version: '1',
      artifactSha256: 'c'.repeat(64),
      sizeBytes: 1,
      priceMinor: 100,
      currency: 'EUR',
      royaltySplits: [{ partyId: 'publisher-1', basisPoints: 10_000 }],
    },
  });
  t.is(response.status, 200, response.text);
  t.is(response.headers.get('x-request-id'), 'req-abc');
  const line = server.logs.find((entry) => entry['requestId'] === 'req-abc');
  t.like(line, { traceId, route: '/manifests', status: 200, actorId: 'publisher-1', method: 'POST' });
  await server.request('GET', '/orders', { headers: { authorization: `Bearer ${server.tokens.admin}x` } });
  for (const token of Object.values(server.tokens))
    t.false(server.logText().includes(token), 'a token reached the log');
  const record = await server.request('GET', `/chain/records/${response.body.seqs[0] as number}`, { as: 'auditor' });
  t.like(record.body.meta, { traceId, correlationId: 'req-abc' });
});

test('OIDC: a JWT from the configured issuer and audience authenticates with its sub and role claim; others are 401', async (t) => {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'idp-1', alg: 'ES256' };
  const issuer = 'https://idp.example.test';
  const server = await testServer(t, {
    env: { OIDC_JWKS_URL: `${issuer}/jwks`, OIDC_ISSUER: issuer, OIDC_AUDIENCE: 'chainbook' },
    jwksKeys: createLocalJWKSet({ keys: [jwk] }),
  });
  const jwt = (claims: Record<string, unknown>, audience = 'chainbook', expires = '5m') =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: 'idp-1' })
      .setIssuer(issuer)
      .setAudience(audience)
      .setSubject('oidc-buyer')
      .setIssuedAt()
      .setExpirationTime(expires)
      .sign(privateKey);
  const good = await send(server.url, 'GET', '/orders', { token: await jwt({ role: 'Buyer' }) });
  t.is(good.status, 200, good.text);
  t.is((await send(server.url, 'GET', '/ledger/journal', { token: await jwt({ role: 'Buyer' }) })).status, 403);
  for (const token of [
    await jwt({ role: 'Buyer' }, 'another-service'),
    await jwt({ role: 'Root' }),
    await jwt({ role: 'Buyer' }, 'chainbook', '-1m'),
  ]) {
    const refused = await send(server.url, 'GET', '/orders', { token });
    t.is(refused.status, 401, refused.text);
    t.is(refused.headers.get('www-authenticate'), 'Bearer realm="chainbook"');
  }
});

test('/health, /ready and /metrics with the runbook metric names', async (t) => {
  const server = await testServer(t);
  t.deepEqual((await server.request('GET', '/health')).body, { status: 'ok' });
  const ready = await server.request('GET', '/ready');
  t.is(ready.status, 200);
  t.like(ready.body, {
    status: 'ready',
    checks: { database: { ok: true }, migrations: { ok: true }, projections: { ok: true }, signing: { ok: true } },
  });
  const { listingId } = await listedProduct(server);
  await server.request('POST', '/orders', { as: 'buyer', body: { listingId, deliveryPublicKey: KEY } });
  const metrics = await server.request('GET', '/metrics');
  t.regex(metrics.headers.get('content-type') ?? '', /text\/plain/);
  for (const name of [
    'marketplace_orders_total{event="created"}',
    'marketplace_checkout_latency_seconds_bucket',
    'finance_ledger_posts_total',
    'finance_ledger_post_latency_seconds',
    'finance_proof_generation_duration_seconds',
    'audit_append_latency_seconds_bucket',
    'kms_sign_latency_seconds',
    'kms_errors_total',
    'signing_proxy_health',
    'http_request_duration_seconds_bucket{le="0.005",method="POST",route="/orders",status="200"}',
  ])
    t.true(metrics.text.includes(name), `missing ${name}`);
});

test('/metrics counts a refused ledger post by command and code, the head-hash compute time and the signatures by backend', async (t) => {
  const server = await testServer(t);
  const failures = async (): Promise<number> => {
    const text = (await server.request('GET', '/metrics')).text;
    const line = text
      .split('\n')
      .find((row) =>
        row.startsWith('finance_ledger_post_failures_total{command="postLedgerTransaction",code="LEDGER_UNBALANCED"}'),
      );
    return line === undefined ? 0 : Number(line.split(' ').at(-1));
  };
  const before = await failures();
  const refused = await server.request('POST', '/ledger/transactions', {
    as: 'operator',
    body: {
      reason: 'typo',
      entries: [
        { account: 'asset:bank', direction: 'debit', amountMinor: 10, currency: 'EUR' },
        { account: 'equity:capital', direction: 'credit', amountMinor: 9, currency: 'EUR' },
      ],
    },
  });
  t.is(refused.status, 422);
  t.is(await failures(), before + 1);
  const posted = await server.request('POST', '/ledger/transactions', {
    as: 'operator',
    body: {
      reason: 'other',
      entries: [
        { account: 'asset:bank', direction: 'debit', amountMinor: 7, currency: 'EUR' },
        { account: 'equity:capital', direction: 'credit', amountMinor: 7, currency: 'EUR' },
      ],
    },
  });
  t.is(posted.status, 200, posted.text);
  t.is(await failures(), before + 1, 'a post that succeeds is not a failure');
  const text = (await server.request('GET', '/metrics')).text;
  t.regex(text, /^audit_head_hash_compute_seconds_count [1-9]/m);
  t.regex(text, /^signatures_total\{backend="local",algorithm="ed25519"\} [1-9]/m);
});
