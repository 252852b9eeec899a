/**
 * The whole delivery path of one artifact, as a buyer meets it over HTTP: the
 * app as `chainbook serve` opens it (loadServeConfig, openApp: the embedded
 * PGlite and folder stores in a throwaway data dir, no mocks) on an ephemeral
 * loopback port, in this process. A publisher uploads the artifact streamed
 * (made in 1 MiB blocks, never whole in memory), the kernel approves, the
 * product is listed, a buyer checks out with an X25519 key, the payment
 * webhook arrives, settlement finalizes; then the three timed steps:
 *
 *   1. POST /orders/{id}/delivery (requestDelivery: kernel signature check,
 *      encryption, the delivery store's write and fsync, the records, a link);
 *   2. GET of the link (the download route), hashed and written to a file as
 *      `curl -o` would, the hash checked against the recorded one;
 *   3. the file decrypted with the buyer's private key and the plaintext
 *      hashed, checked against the artifact's.
 *
 * Peak RSS is read two ways. process.resourceUsage().maxRSS only grows, and
 * opening the embedded PGlite alone takes it to about 900 MiB, above
 * anything the delivery steps hold; so the RSS is also sampled every
 * RSS_SAMPLE_INTERVAL_MS during each step, and the step's own peak is the
 * figure that shows whether memory follows the artifact's size. The client
 * and the server share the process: the figures are an upper bound on the
 * server's. bench/delivery.ts runs it in a child process per size.
 */
import { createCipheriv, createHash, generateKeyPairSync } from 'node:crypto';
import { createReadStream, createWriteStream, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { decryptEnvelope } from '../commands/delivery/deliveryEnvelope.ts';
import { openApp } from '../infra/wiring/app.ts';
import { loadServeConfig } from '../infra/wiring/httpConfig.ts';
import { newToken, tokenDigest } from '../infra/entrypoints/http/auth/tokens.ts';
import { createLogger } from '../infra/entrypoints/http/logger.ts';
import { webhookSignature } from '../infra/entrypoints/http/routes/webhooks.ts';
import { ROUTES, startHttpServer } from '../infra/entrypoints/http/server.ts';
import { createServices } from '../infra/entrypoints/http/services.ts';
import { benchDir } from './lib.ts';

const MIB = 1024 * 1024;
const WEBHOOK_SECRET = 'whsec_bench_0123456789abcdef';
const PRICE_MINOR = 1999;
const CURRENCY = 'EUR';
/** How often the RSS is sampled during a step: a 1 MiB chunk in flight lasts longer than this. */
const RSS_SAMPLE_INTERVAL_MS = 5;

const ACTORS = {
  publisher: { id: 'publisher-1', role: 'Publisher' },
  operator: { id: 'operator-1', role: 'Operator' },
  buyer: { id: 'buyer-1', role: 'Buyer' },
  service: { id: 'settlement', role: 'Service' },
} as const;
type ActorName = keyof typeof ACTORS;

export interface PathFigures {
  sizeBytes: number;
  /** Upload over HTTP (streamed, hashed and stored by the server), for context: not a delivery step. */
  uploadMs: number;
  requestDeliveryMs: number;
  downloadMs: number;
  decryptMs: number;
  ciphertextBytes: number;
  /** RSS in MiB once the app is open, before the first step. */
  openedRssMiB: number;
  /** process.resourceUsage().maxRSS once the app is open, in MiB: what opening PGlite (initdb, migrations) reached. */
  openedMaxRssMiB: number;
  /** The highest RSS sampled during each step, in MiB. */
  stepPeakRssMiB: { upload: number; requestDelivery: number; download: number; decrypt: number };
  /** process.resourceUsage().maxRSS at the end, in MiB: the process's peak, PGlite's opening included. */
  maxRssMiB: number;
}

const rssMiB = (): number => process.memoryUsage.rss() / MIB;

/** Runs `step`, sampling the RSS meanwhile; its result, milliseconds and the highest RSS seen, in MiB. */
async function sampled<T>(step: () => Promise<T>): Promise<{ result: T; ms: number; peakRssMiB: number }> {
  let peak = rssMiB();
  const timer = setInterval(() => {
    peak = Math.max(peak, rssMiB());
  }, RSS_SAMPLE_INTERVAL_MS);
  const started = performance.now();
  try {
    const result = await step();
    const ms = performance.now() - started;
    return { result, ms, peakRssMiB: Math.max(peak, rssMiB()) };
  } finally {
    clearInterval(timer);
  }
}

/**
 * The artifact in blocks of 1 MiB: AES-256-CTR keystream under a fixed key,
 * so it is incompressible and the same on every pass (the manifest names its
 * SHA-256 before the upload, so it is made twice rather than kept).
 */
async function* artifactBlocks(sizeBytes: number): AsyncIterable<Uint8Array> {
  const keystream = createCipheriv('aes-256-ctr', Buffer.alloc(32, 7), Buffer.alloc(16));
  const zeros = Buffer.alloc(MIB);
  for (let offset = 0; offset < sizeBytes; offset += MIB)
    yield keystream.update(zeros.subarray(0, Math.min(MIB, sizeBytes - offset)));
}

async function sha256Of(chunks: AsyncIterable<Uint8Array>): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of chunks) hash.update(chunk);
  return hash.digest('hex');
}

/** The app as `chainbook serve` opens it, on an ephemeral loopback port, with a token per actor. */
async function startServer(dataDir: string) {
  const tokens = Object.fromEntries(Object.keys(ACTORS).map((name) => [name, newToken()])) as Record<ActorName, string>;
  const serve = loadServeConfig({
    CHAINBOOK_DATA_DIR: dataDir,
    API_TOKENS: Object.entries(ACTORS)
      .map(([name, actor]) => `${actor.id}:${actor.role}:${tokenDigest(tokens[name as ActorName])}`)
      .join(','),
    PAYMENT_PROVIDER_WEBHOOK_SECRET: WEBHOOK_SECRET,
  });
  const app = await openApp(serve.config);
  const services = createServices(app, serve, ROUTES, { logger: createLogger('warn', process.stderr) });
  const running = await startHttpServer(services, { port: 0, host: '127.0.0.1' });
  async function call(
    as: ActorName | undefined,
    path: string,
    init: { json?: unknown; raw?: string; headers?: Record<string, string> } = {},
  ): Promise<Record<string, unknown>> {
    const headers: Record<string, string> = { ...init.headers };
    if (as !== undefined) headers['authorization'] = `Bearer ${tokens[as]}`;
    let body = init.raw;
    if (init.json !== undefined) {
      body = JSON.stringify(init.json);
      headers['content-type'] = 'application/json';
    }
    const response = await fetch(`${running.url}${path}`, {
      method: 'POST',
      headers,
      ...(body === undefined ? {} : { body }),
    });
    const text = await response.text();
    if (response.status !== 200) throw new Error(`POST ${path}: ${response.status} ${text}`);
    return JSON.parse(text) as Record<string, unknown>;
  }
  /**
   * A streamed upload through node:http, whose pipeline waits for the socket
   * to drain. Not fetch: Node 20's fetch with a ReadableStream body held the
   * whole 1 GiB upload in memory in this bench (arrayBuffers grew with the
   * bytes sent, forced GCs freed nothing), while curl and node:http stay flat.
   */
  async function upload(as: ActorName, path: string, blocks: AsyncIterable<Uint8Array>): Promise<void> {
    const url = new URL(path, running.url);
    const request = httpRequest(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens[as]}`, 'content-type': 'application/octet-stream' },
    });
    const answered = new Promise<{ status: number; text: string }>((resolve, reject) => {
      request.once('error', reject);
      request.once('response', (response) => {
        const pieces: Buffer[] = [];
        response.on('data', (piece: Buffer) => pieces.push(piece));
        response.once('error', reject);
        response.once('end', () =>
          resolve({ status: response.statusCode ?? 0, text: Buffer.concat(pieces).toString('utf8') }),
        );
      });
    });
    await pipeline(Readable.from(blocks), request);
    const { status, text } = await answered;
    if (status !== 200) throw new Error(`POST ${path}: ${status} ${text}`);
  }
  async function close(): Promise<void> {
    await running.close();
    await app.close();
  }
  return { call, upload, close };
}
type Server = Awaited<ReturnType<typeof startServer>>;

/** Submit, upload (streamed, timed), approve, list; checkout with an X25519 key, pay, finalize. */
async function finalizedOrder(server: Server, sizeBytes: number, artifactSha256: string, buyerPublicKey: string) {
  const { call } = server;
  const product = {
    name: 'Delivery bench artifact',
    version: '1.0.0',
    priceMinor: PRICE_MINOR,
    currency: CURRENCY,
    artifactSha256,
    sizeBytes,
    royaltySplits: [
      { partyId: ACTORS.publisher.id, basisPoints: 8000 },
      { partyId: 'artist-7', basisPoints: 2000 },
    ],
  };
  const manifestId = (await call('publisher', '/manifests', { json: product }))['manifestId'] as string;
  const upload = await sampled(() =>
    server.upload('publisher', `/manifests/${manifestId}/artifact`, artifactBlocks(sizeBytes)),
  );
  await call('operator', `/manifests/${manifestId}/approve`);
  const listingId = (await call('publisher', '/listings', { json: { manifestId } }))['listingId'] as string;
  const orderId = (await call('buyer', '/orders', { json: { listingId, deliveryPublicKey: buyerPublicKey } }))[
    'orderId'
  ] as string;
  const raw = JSON.stringify({
    eventId: `evt-${orderId}`,
    orderId,
    providerPaymentId: `pay-${orderId}`,
    amountMinor: PRICE_MINOR,
    currency: CURRENCY,
    outcome: 'succeeded',
  });
  const seconds = Math.floor(Date.now() / 1000);
  await call(undefined, '/webhooks/payments', {
    raw,
    headers: {
      'content-type': 'application/json',
      'payment-signature': `t=${seconds},v1=${webhookSignature(WEBHOOK_SECRET, seconds, raw)}`,
    },
  });
  await call('service', `/orders/${orderId}/finalize`);
  return { orderId, upload };
}

/** Step 2: the link fetched, hashed and written to `path`; its byte count and SHA-256. */
async function download(url: string, path: string): Promise<{ bytes: number; sha256: string }> {
  const response = await fetch(url);
  if (response.status !== 200 || !response.body) throw new Error(`GET ${url}: ${response.status}`);
  const hash = createHash('sha256');
  let bytes = 0;
  await pipeline(
    Readable.fromWeb(response.body as WebReadableStream<Uint8Array>),
    async function* (source: AsyncIterable<Uint8Array>) {
      for await (const chunk of source) {
        bytes += chunk.byteLength;
        hash.update(chunk);
        yield chunk;
      }
    },
    createWriteStream(path),
  );
  return { bytes, sha256: hash.digest('hex') };
}

export async function deliveryPath(sizeBytes: number): Promise<PathFigures> {
  const directory = benchDir('delivery-path');
  const server = await startServer(join(directory, 'data'));
  try {
    const openedRssMiB = rssMiB();
    const openedMaxRssMiB = process.resourceUsage().maxRSS / 1024;
    const artifactSha256 = await sha256Of(artifactBlocks(sizeBytes));
    const pair = generateKeyPairSync('x25519');
    const buyerPublicKey = pair.publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const { orderId, upload } = await finalizedOrder(server, sizeBytes, artifactSha256, buyerPublicKey);
    const requested = await sampled(() => server.call('buyer', `/orders/${orderId}/delivery`));
    const answer = requested.result;
    const envelopePath = join(directory, 'downloaded.delivery');
    const downloaded = await sampled(() => download((answer['link'] as { url: string }).url, envelopePath));
    if (
      downloaded.result.sha256 !== answer['ciphertextSha256'] ||
      downloaded.result.bytes !== answer['ciphertextBytes']
    )
      throw new Error('the downloaded ciphertext is not the one recorded');
    const decrypted = await sampled(() => sha256Of(decryptEnvelope(createReadStream(envelopePath), pair.privateKey)));
    if (decrypted.result !== artifactSha256) throw new Error('the decrypted artifact differs');
    return {
      sizeBytes,
      uploadMs: upload.ms,
      requestDeliveryMs: requested.ms,
      downloadMs: downloaded.ms,
      decryptMs: decrypted.ms,
      ciphertextBytes: downloaded.result.bytes,
      openedRssMiB,
      openedMaxRssMiB,
      stepPeakRssMiB: {
        upload: upload.peakRssMiB,
        requestDelivery: requested.peakRssMiB,
        download: downloaded.peakRssMiB,
        decrypt: decrypted.peakRssMiB,
      },
      maxRssMiB: process.resourceUsage().maxRSS / 1024,
    };
  } finally {
    await server.close();
    rmSync(directory, { recursive: true, force: true });
  }
}
