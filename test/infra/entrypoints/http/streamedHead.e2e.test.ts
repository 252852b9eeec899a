/**
 * A streamed answer (an audit bundle, an artifact download) asked with HEAD:
 * the status and headers a GET would get, and the source stopped after its
 * first chunk, so that a HEAD never makes the whole body.
 */
import test from 'ava';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { defineRoute } from '../../../../infra/entrypoints/http/route.ts';
import { createHttpApp } from '../../../../infra/entrypoints/http/server.ts';
import { testServer } from '../../../helpers/http.ts';

const CHUNKS = 1000;

test('HEAD on a streamed answer sends the headers and pulls one chunk of the source; GET pulls them all', async (t) => {
  const server = await testServer(t);
  const pulled = { count: 0, ended: false };
  const route = defineRoute({
    method: 'get',
    path: '/test/stream',
    operationId: 'testStream',
    summary: 'a stream of CHUNKS chunks',
    tag: 'operations',
    routeClass: 'operations',
    roles: 'public',
    responseContentType: 'application/octet-stream',
    response: z.string(),
    errors: [],
    async handle() {
      pulled.count = 0;
      pulled.ended = false;
      async function* body(): AsyncIterable<Uint8Array> {
        try {
          for (let i = 0; i < CHUNKS; i++) {
            pulled.count += 1;
            yield new Uint8Array(1024).fill(i % 256);
          }
        } finally {
          pulled.ended = true;
        }
      }
      return {
        stream: { contentType: 'application/octet-stream', body: body() },
        headers: { 'Content-Disposition': 'attachment; filename="x.bin"' },
      };
    },
  });
  const app = createHttpApp(server.services, { closing: false, inFlight: 0 }, [route]);
  const listener = createServer(app);
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => listener.close(() => resolve())));
  const url = `http://127.0.0.1:${(listener.address() as AddressInfo).port}/test/stream`;

  const head = await fetch(url, { method: 'HEAD' });
  t.is(head.status, 200);
  t.is(head.headers.get('content-disposition'), 'attachment; filename="x.bin"');
  t.is(head.headers.get('content-type'), 'application/octet-stream');
  t.is((await head.arrayBuffer()).byteLength, 0);
  t.is(pulled.count, 1, 'HEAD: only the first chunk was made');
  t.true(pulled.ended, 'and the source was stopped, freeing what it held');

  const get = await fetch(url);
  t.is((await get.arrayBuffer()).byteLength, CHUNKS * 1024);
  t.is(pulled.count, CHUNKS, 'GET: all of it');
});
