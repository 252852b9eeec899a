/** The HTTP API on an ephemeral port over a real test database, with a token per role, torn down after the test. */
import { rmSync } from 'node:fs';
import { Writable } from 'node:stream';
import type { ExecutionContext } from 'ava';
import type { JWTVerifyGetKey } from 'jose';
import type { Signer } from '../../chain/signer.ts';
import type { PayoutProvider } from '../../commands/payouts/payoutProvider.ts';
import { openApp, type App } from '../../infra/wiring/app.ts';
import { newToken, tokenDigest } from '../../infra/entrypoints/http/auth/tokens.ts';
import { loadServeConfig } from '../../infra/wiring/httpConfig.ts';
import { createLogger } from '../../infra/entrypoints/http/logger.ts';
import type { HttpServices } from '../../infra/entrypoints/http/route.ts';
import { ROUTES, startHttpServer, type RunningServer } from '../../infra/entrypoints/http/server.ts';
import { createServices } from '../../infra/entrypoints/http/services.ts';
import { openLocalSigner } from '../../infra/adapters/signers/local.ts';
import { projectionDigests } from '../../projections/projections.ts';
import { openTestDatabase, type EngineName, type TestDatabase } from './databases.ts';
import { tempDir } from './runtime.ts';
import { productFor } from './fixtures.ts';
import { demoArtifact } from '../../commands/demo/marketplaceFlow.ts';

/** One token per test actor, named by what the actor is. */
export const ACTORS = {
  admin: { id: 'admin-1', role: 'SuperAdmin' },
  lead: { id: 'lead-1', role: 'DivisionLead' },
  operator: { id: 'operator-1', role: 'Operator' },
  auditor: { id: 'auditor-1', role: 'Auditor' },
  publisher: { id: 'publisher-1', role: 'Publisher' },
  otherPublisher: { id: 'publisher-2', role: 'Publisher' },
  buyer: { id: 'buyer-1', role: 'Buyer' },
  otherBuyer: { id: 'buyer-2', role: 'Buyer' },
  thirdBuyer: { id: 'buyer-3', role: 'Buyer' },
  service: { id: 'settlement', role: 'Service' },
} as const;
export type ActorName = keyof typeof ACTORS;

export const WEBHOOK_SECRET = 'whsec_test_0123456789abcdef';

export interface HttpResponse {
  status: number;
  headers: Headers;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read what they assert
  body: any;
  text: string;
}

export interface RequestOptions {
  as?: ActorName | undefined;
  /** A JSON body (serialised), or raw text sent as is. */
  body?: unknown;
  raw?: string | Buffer;
  /** Or a body sent in chunks as they come (chunked transfer encoding, no Content-Length). */
  stream?: AsyncIterable<Uint8Array>;
  headers?: Record<string, string>;
}

export interface TestServer {
  url: string;
  app: App;
  test: TestDatabase;
  services: HttpServices;
  running: RunningServer;
  tokens: Record<ActorName, string>;
  /** Log lines written so far, parsed. */
  logs: Record<string, unknown>[];
  logText(): string;
  request(method: string, path: string, options?: RequestOptions): Promise<HttpResponse>;
  snapshot(): Promise<{ head: { seq: number; hash: string }; digests: Record<string, string> }>;
}

export interface TestServerOptions {
  engine?: EngineName;
  env?: Record<string, string>;
  signer?: Signer;
  /** Wraps the local development signer (a signer that fails, or is slow, on demand). */
  wrapSigner?: (signer: Signer) => Signer;
  jwksKeys?: JWTVerifyGetKey;
  /** An existing database (a second server on the same one). */
  test?: TestDatabase;
  /** Instead of the configured payout provider (one that fails on demand). */
  payoutProvider?: PayoutProvider;
}

async function firstChunk(response: Response): Promise<string> {
  const reader = response.body!.getReader();
  const { value } = await reader.read();
  await reader.cancel();
  return new TextDecoder().decode(value ?? new Uint8Array());
}

export async function send(
  url: string,
  method: string,
  path: string,
  options: RequestOptions & { token?: string } = {},
): Promise<HttpResponse> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers['authorization'] = `Bearer ${options.token}`;
  let body: string | Buffer | ReadableStream<Uint8Array> | undefined;
  if (options.stream !== undefined) body = ReadableStream.from(options.stream);
  else if (options.raw !== undefined) body = options.raw;
  else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const response = await fetch(`${url}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body, duplex: 'half' }),
  } as RequestInit);
  // A live stream (GET /chain/stream) never ends by itself: its first chunk, then the client goes.
  const live = /^(text\/event-stream|application\/x-ndjson)/.test(response.headers.get('content-type') ?? '');
  const text = live ? await firstChunk(response) : await response.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: response.status, headers: response.headers, body: parsed, text };
}

export async function testServer(t: ExecutionContext, options: TestServerOptions = {}): Promise<TestServer> {
  const test = options.test ?? (await openTestDatabase(options.engine ?? 'postgres'));
  const dataDir = tempDir('http');
  const tokens = Object.fromEntries(Object.keys(ACTORS).map((name) => [name, newToken()])) as Record<ActorName, string>;
  const apiTokens = Object.entries(ACTORS)
    .map(([name, actor]) => `${actor.id}:${actor.role}:${tokenDigest(tokens[name as ActorName])}`)
    .join(',');
  const serve = loadServeConfig({
    CHAINBOOK_DATA_DIR: dataDir,
    API_TOKENS: apiTokens,
    PAYMENT_PROVIDER_WEBHOOK_SECRET: WEBHOOK_SECRET,
    ...options.env,
  });
  const signer = options.wrapSigner
    ? options.wrapSigner(openLocalSigner({ dataDir, registryPath: serve.config.signersPath, production: false }).signer)
    : options.signer;
  const app = await openApp(serve.config, {
    db: test.db,
    ...(signer ? { signer } : {}),
    ...(options.payoutProvider ? { payoutProvider: options.payoutProvider } : {}),
  });
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString('utf8'));
      callback();
    },
  });
  const services = createServices(app, serve, ROUTES, {
    logger: createLogger('info', sink),
    ...(options.jwksKeys ? { jwksKeys: options.jwksKeys } : {}),
  });
  const running = await startHttpServer(services, { port: 0, host: '127.0.0.1' });
  t.teardown(async () => {
    await running.close();
    await app.close();
    if (!options.test) await test.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return {
    url: running.url,
    app,
    test,
    services,
    running,
    tokens,
    get logs() {
      return lines
        .join('')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    },
    logText: () => lines.join(''),
    request: (method, path, requestOptions = {}) =>
      send(running.url, method, path, {
        ...requestOptions,
        ...(requestOptions.as === undefined ? {} : { token: tokens[requestOptions.as] }),
      }),
    async snapshot() {
      const head = await app.runtime.store.head(app.deps.chain);
      return { head: { seq: head.seq, hash: head.hash }, digests: await projectionDigests(test.db) };
    },
  };
}

export const PRODUCT: Record<string, unknown> = { ...productFor(ACTORS.publisher) };

/** Uploads the artifact of a submitted manifest as its publisher. */
export async function uploadArtifactOver(
  server: TestServer,
  manifestId: string,
  bytes: Uint8Array,
  as: ActorName = 'publisher',
): Promise<HttpResponse> {
  return server.request('POST', `/manifests/${manifestId}/artifact`, {
    as,
    raw: Buffer.from(bytes),
    headers: { 'content-type': 'application/octet-stream' },
  });
}

/** Submit, upload the artifact (the demo artifact of the product's size unless given), approve, list over HTTP; returns the ids. */
export async function listedProduct(
  server: TestServer,
  product: Record<string, unknown> = PRODUCT,
  artifact: Uint8Array = demoArtifact(product['sizeBytes'] as number),
): Promise<{ manifestId: string; listingId: string }> {
  const submitted = await server.request('POST', '/manifests', { as: 'publisher', body: product });
  if (submitted.status !== 200) throw new Error(`submit: ${submitted.text}`);
  const manifestId = submitted.body.manifestId as string;
  const uploaded = await uploadArtifactOver(server, manifestId, artifact);
  if (uploaded.status !== 200) throw new Error(`upload: ${uploaded.text}`);
  const approved = await server.request('POST', `/manifests/${manifestId}/approve`, { as: 'operator' });
  if (approved.status !== 200) throw new Error(`approve: ${approved.text}`);
  const listed = await server.request('POST', '/listings', { as: 'publisher', body: { manifestId } });
  if (listed.status !== 200) throw new Error(`list: ${listed.text}`);
  return { manifestId, listingId: listed.body.listingId as string };
}
