/**
 * Credentials take effect at once (issue 13, item 8): the token file is
 * re-read while the server runs, static tokens expire, and an identity
 * provider whose key set cannot be fetched gives 503 with Retry-After, a log
 * line and a failed /ready check rather than 401 for every JWT.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import {
  addToken,
  revokeTokens,
  TOKEN_FILE_CHECK_INTERVAL_MS,
} from '../../../../../infra/entrypoints/http/auth/tokens.ts';
import { send, testServer } from '../../../../helpers/http.ts';

/** Polls until `status` answers `expected`, for at most a few check intervals. */
async function eventually(status: () => Promise<number>, expected: number): Promise<number> {
  const deadline = Date.now() + 5 * TOKEN_FILE_CHECK_INTERVAL_MS;
  let last = await status();
  while (last !== expected && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    last = await status();
  }
  return last;
}

test('tokens add and revoke take effect on a running server within seconds, without a restart', async (t) => {
  const server = await testServer(t);
  const path = server.services.http.tokensPath;
  const token = addToken(path, 'late-auditor', 'Auditor');
  const status = async () => (await send(server.url, 'GET', '/chain/head', { token })).status;
  t.is(await eventually(status, 200), 200, 'a token added while the server runs authenticates');
  t.is(revokeTokens(path, 'late-auditor'), 1);
  t.is(await eventually(status, 401), 401, 'a revoked token is refused');
  t.is((await server.request('GET', '/chain/head', { as: 'auditor' })).status, 200, 'API_TOKENS are kept');
});

test('a static token with an expiry authenticates until then and is refused after', async (t) => {
  const server = await testServer(t);
  const path = server.services.http.tokensPath;
  const expired = addToken(path, 'old-auditor', 'Auditor', '2020-01-01T00:00:00Z');
  const valid = addToken(path, 'new-auditor', 'Auditor', '2999-01-01T00:00:00Z');
  t.is(await eventually(async () => (await send(server.url, 'GET', '/chain/head', { token: valid })).status, 200), 200);
  const refused = await send(server.url, 'GET', '/chain/head', { token: expired });
  t.is(refused.status, 401);
  t.regex(refused.body.error.message, /expired/);
  t.throws(() => addToken(path, 'x', 'Auditor', 'next tuesday'), { message: /RFC 3339/ });
});

/** An identity provider's JWKS endpoint that answers 500 until told to serve the key. */
async function jwksServer(t: ExecutionContext, jwk: object): Promise<{ url: string; up: { serving: boolean } }> {
  const up = { serving: false };
  const server = createServer((_request, response) => {
    if (!up.serving) return void response.writeHead(500).end('down');
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`, up };
}

test('when the OIDC key set cannot be fetched: 503 with Retry-After, logged, /ready says so, and recovers by itself', async (t) => {
  const issuer = 'https://idp.example.test';
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwks = await jwksServer(t, { ...(await exportJWK(publicKey)), kid: 'idp-1', alg: 'ES256' });
  const server = await testServer(t, {
    env: { OIDC_JWKS_URL: jwks.url, OIDC_ISSUER: issuer, OIDC_AUDIENCE: 'chainbook' },
  });
  const jwt = await new SignJWT({ role: 'Buyer' })
    .setProtectedHeader({ alg: 'ES256', kid: 'idp-1' })
    .setIssuer(issuer)
    .setAudience('chainbook')
    .setSubject('oidc-buyer')
    .setExpirationTime('5m')
    .sign(privateKey);
  const response = await send(server.url, 'GET', '/orders', { token: jwt });
  t.is(response.status, 503, response.text);
  t.is(response.body.error.code, 'AUTHENTICATION_UNAVAILABLE');
  t.is(response.headers.get('retry-after'), '5');
  t.true(
    server.logs.some((line) => line['level'] === 50 && String(line['msg']).includes('OIDC key set cannot be fetched')),
    'logged',
  );
  const ready = await server.request('GET', '/ready');
  t.is(ready.status, 503);
  t.like(ready.body, { status: 'not-ready', checks: { authentication: { ok: false } } });
  t.is((await server.request('GET', '/orders', { as: 'buyer' })).status, 200, 'static tokens still authenticate');
  // The provider comes back: /ready sees it by itself (no JWT needs to arrive first), and JWTs verify again.
  jwks.up.serving = true;
  const recovered = await server.request('GET', '/ready');
  t.is(recovered.status, 200, recovered.text);
  t.like(recovered.body, { checks: { authentication: { ok: true } } });
  t.is((await send(server.url, 'GET', '/orders', { token: jwt })).status, 200);
});
