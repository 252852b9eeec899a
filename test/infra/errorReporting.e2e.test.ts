/**
 * SENTRY_DSN: unexpected errors reach Sentry, and nothing of a request's body, headers, query string
 * or tokens does. The ingest endpoint is a local HTTP server the DSN points at (127.0.0.1); the
 * errors are real 500s of the real HTTP server, with a fault put into its event store.
 */
import test from 'ava';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import type { ErrorEvent } from '@sentry/node';
import {
  flushErrorReports,
  scrubEvent,
  scrubText,
  startErrorReporting,
} from '../../infra/entrypoints/errorReporting.ts';
import { testServer } from '../helpers/http.ts';
import { runCli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/runtime.ts';

const envelopes: string[] = [];
const ingest = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    const body = Buffer.concat(chunks);
    envelopes.push((request.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body).toString('utf8'));
    response.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
  });
});

test.before(async () => {
  await new Promise<void>((resolve) => ingest.listen(0, '127.0.0.1', resolve));
  const { port } = ingest.address() as AddressInfo;
  await startErrorReporting(`http://publickey@127.0.0.1:${port}/1`, { environment: 'test', release: 'chainbook@test' });
});
test.after.always(() => ingest.close());

async function envelopesAfter(count: number): Promise<string[]> {
  await flushErrorReports(5000);
  for (let waited = 0; envelopes.length < count && waited < 5000; waited += 20)
    await new Promise((resolve) => setTimeout(resolve, 20));
  return envelopes.slice();
}

test('a 500 of the server reaches the ingest endpoint with its error and tags, without the body, the headers, the query string or the token', async (t) => {
  const server = await testServer(t, { engine: 'pglite' });
  const token = server.tokens.publisher;
  const store = server.app.runtime.store;
  store.append = () => Promise.reject(new Error(`the disk is on fire (sent with Authorization: Bearer ${token})`));
  store.head = () => Promise.reject(new TypeError('head went away'));

  const before = envelopes.length;
  const refused = await server.request('GET', '/chain/records/999999', { as: 'auditor' });
  t.is(refused.status, 404, 'an expected refusal');
  const posted = await server.request('POST', '/manifests?access_token=QUERY-SECRET-1', {
    as: 'publisher',
    headers: { cookie: 'session=COOKIE-SECRET-2' },
    body: {
      name: 'BODY-SECRET-3',
      version: '1',
      artifactSha256: 'c'.repeat(64),
      sizeBytes: 1,
      priceMinor: 100,
      currency: 'EUR',
      royaltySplits: [{ partyId: 'publisher-1', basisPoints: 10_000 }],
    },
  });
  t.is(posted.status, 500, posted.text);
  const head = await server.request('GET', '/chain/head?token=QUERY-SECRET-4', { as: 'auditor' });
  t.is(head.status, 500, head.text);

  const sent = (await envelopesAfter(before + 2)).slice(before);
  t.is(sent.length, 2, 'the two 500s, not the 404');
  const all = sent.join('\n');
  t.regex(all, /the disk is on fire/);
  t.regex(all, /head went away/);
  t.regex(all, /"route":"\/manifests"/);
  t.regex(all, /"route":"\/chain\/head"/);
  t.regex(all, /"requestId":"[0-9a-f-]{36}"/);
  for (const secret of [
    token,
    server.tokens.auditor,
    'QUERY-SECRET-1',
    'COOKIE-SECRET-2',
    'BODY-SECRET-3',
    'QUERY-SECRET-4',
    'access_token',
  ])
    t.false(all.includes(secret), `${secret} reached the ingest endpoint`);
  t.false(/authorization|"cookies?"/i.test(all.replace(/Authorization: Bearer \[scrubbed\]/, '')), 'no header');
});

test('the scrub removes request data, headers, cookies, query strings and tokens that anything else put into an event', (t) => {
  const event = scrubEvent({
    type: undefined,
    message: 'GET /x?token=abc failed for Bearer cb_abcdefghijklmnopqrstuvwxyz0123',
    request: {
      url: 'https://api.example/chain/head?access_token=abc',
      method: 'GET',
      data: '{"card":"4242"}',
      headers: { authorization: 'Bearer cb_x', cookie: 'a=b' },
      cookies: { a: 'b' },
      query_string: 'access_token=abc',
    },
    breadcrumbs: [{ message: 'POST /orders body {"x":1}' }],
    user: { ip_address: '10.0.0.1' },
    extra: { body: 'x' },
    exception: {
      values: [
        {
          type: 'Error',
          value: 'token cb_abcdefghijklmnopqrstuvwxyz0123 refused',
          stacktrace: { frames: [{ vars: { token: 'x' } }] },
        },
      ],
    },
  } as ErrorEvent);
  t.deepEqual(event.request, { url: 'https://api.example/chain/head', method: 'GET' });
  t.is(event.breadcrumbs, undefined);
  t.is(event.user, undefined);
  t.is(event.extra, undefined);
  t.is(event.message, 'GET /x?[scrubbed] failed for Bearer [scrubbed]');
  t.is(event.exception?.values?.[0]?.value, 'token [scrubbed token] refused');
  t.is(event.exception?.values?.[0]?.stacktrace?.frames?.[0]?.vars, undefined);
  t.is(scrubText('no secrets here'), 'no secrets here');
});

test('a failed run of export --every, through the real CLI with SENTRY_DSN, is reported with the command as its tag', async (t) => {
  const dataDir = tempDir('sentry-export');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  writeFileSync(join(dataDir, 'a-file'), '');
  const line = JSON.stringify({
    stream: 'quote-1',
    type: 'quote.recorded',
    data: { n: 1 },
    actor: { id: 'b', role: 'Buyer' },
  });
  t.is((await runCli(['append'], { env: { CHAINBOOK_DATA_DIR: dataDir }, input: `${line}\n` })).code, 0);
  const { port } = ingest.address() as AddressInfo;
  const before = envelopes.length;
  const result = await runCli(
    ['export', '--to', join(dataDir, 'a-file', 'archive'), '--every', '1s', '--runs', '1', '--threads', '0'],
    {
      env: { CHAINBOOK_DATA_DIR: dataDir, SENTRY_DSN: `http://publickey@127.0.0.1:${port}/1` },
    },
  );
  t.regex(result.stderr, /export: run failed/);
  t.is(result.code, 1, 'a bounded schedule whose only run failed exits 1');
  const sent = envelopes.slice(before).join('\n');
  t.regex(sent, /ENOTDIR/, 'the error reached the ingest endpoint before the process ended');
  t.regex(sent, /"command":"export --every"/);
});
