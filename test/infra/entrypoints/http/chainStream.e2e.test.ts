/**
 * GET /chain/stream on PostgreSQL: OS processes append while subscribers read
 * over HTTP (infra/adapters/stream/httpChainStream.ts checks every record);
 * Server-Sent Events resumed with Last-Event-ID; a slow reader holds a page,
 * not the chain; refusals before the first byte.
 */
import { appendQuotes } from '../../../helpers/quotes.ts';
import test from 'ava';
import { spawn } from 'node:child_process';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { StoredRecord } from '../../../../chain/record.ts';
import { readHttpChainStream } from '../../../../infra/adapters/stream/httpChainStream.ts';
import { testServer, type TestServer } from '../../../helpers/http.ts';

const PROCESSES = 4;
const APPENDS_PER_PROCESS = 150; // two records each

function writer(server: TestServer, tag: string): Promise<number | null> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'test/helpers/appendProcess.ts',
      server.test.location,
      server.services.config.dataDir,
      tag,
      String(APPENDS_PER_PROCESS),
      '4',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  return new Promise((resolve) => child.on('exit', resolve));
}

/** Reads the stream from `fromSeq` until seq `until()` (known once the writers are done) has come. */
async function subscriber(server: TestServer, fromSeq: number, until: () => number | undefined): Promise<number[]> {
  const controller = new AbortController();
  const seqs: number[] = [];
  const anchor =
    fromSeq === 1
      ? undefined
      : ((await server.request('GET', `/chain/records/${fromSeq - 1}`, { as: 'auditor' })).body.hash as string);
  try {
    for await (const stored of readHttpChainStream({
      url: server.url,
      token: server.tokens.auditor,
      chain: 'main',
      fromSeq,
      anchorHash: anchor,
      registry: server.services.registry,
      signal: controller.signal,
    })) {
      seqs.push(stored.record.seq);
      const last = until();
      if (last !== undefined && stored.record.seq >= last) break;
    }
  } finally {
    controller.abort();
  }
  return seqs;
}

test('four processes append while three subscribers read over HTTP, from seq 1 and from the live head: each gets every seq once, in order, checked', async (t) => {
  const server = await testServer(t);
  await appendQuotes(server.app.runtime.store, 0, 300, { paddingBytes: 200 });
  const writers: { last?: number } = {};
  const head = async () => (await server.request('GET', '/chain/head', { as: 'auditor' })).body.seq as number;
  const fromStart = subscriber(server, 1, () => writers.last);
  const liveAt = (await head()) + 1;
  const live = [subscriber(server, liveAt, () => writers.last), subscriber(server, liveAt, () => writers.last)];
  const codes = await Promise.all(Array.from({ length: PROCESSES }, (_, i) => writer(server, `w${i}`)));
  t.deepEqual(codes, Array(PROCESSES).fill(0));
  const last = await head();
  writers.last = last;
  t.is(last, 300 + PROCESSES * APPENDS_PER_PROCESS * 2);
  // A subscriber that had the last record before `last` was known is waiting for the next: append one.
  await appendQuotes(server.app.runtime.store, 10_000, 1, { paddingBytes: 200 });
  const expected = (from: number) => Array.from({ length: last - from + 1 }, (_, i) => from + i);
  const upToLast = (seqs: number[]) => seqs.filter((seq) => seq <= last);
  const seqsFromStart = await fromStart;
  t.deepEqual(upToLast(seqsFromStart), expected(1));
  t.true(seqsFromStart.length <= expected(1).length + 1);
  for (const seqs of await Promise.all(live)) {
    t.deepEqual(upToLast(seqs), expected(liveAt));
    t.true(seqs.length <= expected(liveAt).length + 1);
  }
});

/** The events of an SSE answer as they come: [id, event, data]. */
async function* sseEvents(response: IncomingMessage): AsyncGenerator<{ id?: string; event?: string; data?: string }> {
  let pending = '';
  for await (const chunk of response) {
    pending += (chunk as Buffer).toString('utf8');
    let end = pending.indexOf('\n\n');
    while (end >= 0) {
      const block = pending.slice(0, end);
      pending = pending.slice(end + 2);
      const fields: Record<string, string> = {};
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(': ');
        if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 2);
      }
      if (fields['data'] !== undefined) yield fields;
      end = pending.indexOf('\n\n');
    }
  }
}

function open(server: TestServer, path: string, headers: Record<string, string>): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(`${server.url}${path}`, { headers }, resolve);
    request.on('error', reject);
    request.end();
  });
}

test('Server-Sent Events carry each record with its seq as id; a reconnection with Last-Event-ID goes on after it', async (t) => {
  const server = await testServer(t);
  await appendQuotes(server.app.runtime.store, 0, 120, { paddingBytes: 200 });
  const auth = { authorization: `Bearer ${server.tokens.auditor}`, accept: 'text/event-stream' };
  const first = await open(server, '/chain/stream?from=5', auth);
  t.is(first.statusCode, 200);
  t.regex(first.headers['content-type'] ?? '', /^text\/event-stream/);
  const got: { id: string; record: StoredRecord['record'] }[] = [];
  for await (const event of sseEvents(first)) {
    t.is(event.event, 'record');
    got.push({ id: event.id!, record: JSON.parse(event.data!) as StoredRecord['record'] });
    if (got.length === 40) break;
  }
  first.destroy();
  t.deepEqual(
    got.map((event) => Number(event.id)),
    Array.from({ length: 40 }, (_, i) => 5 + i),
  );
  t.true(got.every((event) => Number(event.id) === event.record.seq));

  const resumed = await open(server, '/chain/stream?from=5', { ...auth, 'last-event-id': '44' });
  const next: number[] = [];
  for await (const event of sseEvents(resumed)) {
    next.push(Number(event.id));
    if (next.length === 3) break;
  }
  resumed.destroy();
  t.deepEqual(next, [45, 46, 47], 'after the last one received, whatever `from` says');
});

test('a reader that stops reading holds what the socket holds and one page, not the chain', async (t) => {
  const server = await testServer(t);
  // About 45 MiB of records: more than the loopback socket's buffers can hold (tcp_rmem and tcp_wmem here: 32 and 4 MiB).
  const total = 20_000;
  await appendQuotes(server.app.runtime.store, 0, total, { paddingBytes: 2000 });
  const store = server.app.runtime.store;
  const readChain = store.readChain.bind(store);
  let read = 0;
  let readBytes = 0;
  store.readChain = async (chain, options) => {
    const page = await readChain(chain, options);
    read += page.length;
    readBytes += page.reduce((sum, stored) => sum + stored.text.length, 0);
    return page;
  };
  const response = await open(server, '/chain/stream?format=ndjson', {
    authorization: `Bearer ${server.tokens.auditor}`,
  });
  response.pause();
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const readWhilePaused = read;
  t.log(`read while the reader read nothing: ${readWhilePaused} of ${total} records, ${readBytes} bytes`);
  t.true(readBytes < 16 * 1024 * 1024, `${readBytes} bytes read for a reader that read nothing`);
  t.true(readWhilePaused < total / 2);
  // It goes on when the reader does.
  let lines = 0;
  response.resume();
  response.setEncoding('utf8');
  for await (const chunk of response) {
    lines += (chunk as string).split('\n').filter((line) => line.startsWith('{')).length;
    if (lines >= total) break;
  }
  response.destroy();
  t.true(lines >= total);
});

test('refusals come before the first byte: a role that may not read the stream, bad parameters, a bad Last-Event-ID', async (t) => {
  const server = await testServer(t);
  for (const as of ['buyer', 'publisher'] as const)
    t.is((await server.request('GET', '/chain/stream', { as })).status, 403);
  for (const query of ['from=0', 'from=-1', 'from=abc', 'from=99999999999999999999', 'format=xml'])
    t.is(
      (await server.request('GET', `/chain/stream?${query}`, { as: 'auditor' })).body.error.code,
      'INVALID_INPUT',
      query,
    );
  for (const id of ['abc', '-1', '1e3', '99999999999999999'])
    t.is(
      (await server.request('GET', '/chain/stream', { as: 'auditor', headers: { 'last-event-id': id } })).body.error
        .code,
      'INVALID_HEADER',
      id,
    );
  t.is((await server.request('GET', '/chain/stream', {})).status, 401);
});

test('a consumer stops at a record whose bytes were changed in the database, at its seq, having given only the ones before', async (t) => {
  const server = await testServer(t);
  await appendQuotes(server.app.runtime.store, 0, 30, { paddingBytes: 200 });
  await server.test.superuser('UPDATE events SET record = replace(record, \'"n":11,\', \'"n":12,\') WHERE seq = 12');
  const given: number[] = [];
  const error = await t.throwsAsync(async () => {
    for await (const stored of readHttpChainStream({
      url: server.url,
      token: server.tokens.auditor,
      chain: 'main',
      fromSeq: 1,
      registry: server.services.registry,
    }))
      given.push(stored.record.seq);
  });
  t.deepEqual(
    given,
    Array.from({ length: 11 }, (_, i) => i + 1),
  );
  t.regex(error!.message, /at seq 12: its hash does not recompute/);
});

test('one caller holds at most 10 subscriptions at once: the 11th is 429 with Retry-After, others are unaffected, a closed one frees its place', async (t) => {
  const server = await testServer(t);
  await appendQuotes(server.app.runtime.store, 0, 3);
  const auditor = { authorization: `Bearer ${server.tokens.auditor}`, accept: 'application/x-ndjson' };
  const held = await Promise.all(Array.from({ length: 10 }, () => open(server, '/chain/stream', auditor)));
  t.teardown(() => held.forEach((response) => response.destroy()));
  t.true(held.every((response) => response.statusCode === 200));
  const refused = await server.request('GET', '/chain/stream', { as: 'auditor' });
  t.is(refused.status, 429);
  t.is(refused.body.error.code, 'STREAMS_PER_CLIENT_EXCEEDED');
  t.is(refused.headers.get('retry-after'), '5');
  const other = await open(server, '/chain/stream', { authorization: `Bearer ${server.tokens.service}` });
  t.is(other.statusCode, 200, 'another caller still subscribes');
  other.destroy();
  held.pop()!.destroy();
  let again = await open(server, '/chain/stream', auditor);
  for (let attempt = 0; again.statusCode !== 200 && attempt < 50; attempt += 1) {
    again.destroy();
    await new Promise((resolve) => setTimeout(resolve, 100));
    again = await open(server, '/chain/stream', auditor);
  }
  t.is(again.statusCode, 200, 'the closed subscription gave its place back');
  again.destroy();
});
