/**
 * The signing proxy (`chainbook signing-proxy`): a small HTTP server in front
 * of a signer (HSM or KMS), for operators who put signing behind an audited
 * service. API-key auth per caller, one log line per request (timestamp,
 * caller, what was signed by hash, outcome), `GET /health` that answers
 * whether the signer can sign now, TLS when given a certificate.
 *
 *   POST /sign {hash_hex, preimage_b64?, kid} → {signature_b64, signer_id}
 *   POST /sign {message_b64, kid}             → {signature_b64, signer_id} (documents)
 *   GET /health → {status, signer_id, algorithm, public_key_pem}
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { CodedError } from '../../../domain/errors.ts';
import { sha256 } from '../../../chain/hash.ts';
import { HASH_PATTERN } from '../../../chain/record.ts';
import type { BackendSigner } from '../../adapters/signers/backend.ts';
import { spkiPem } from '../../adapters/signers/der.ts';
import { probeSigner } from '../../adapters/signers/probe.ts';

/** Largest request body: a preimage holds at most 64 KiB of data plus the envelope, base64-encoded. */
export const PROXY_MAX_BODY_BYTES = 256 * 1024;
/** Requests signed at once; more get 503 at once rather than queue without bound. */
export const PROXY_MAX_IN_FLIGHT = 512;
/** How long a health verdict (a probe signature) is reused. */
export const PROXY_HEALTH_CACHE_MS = 2000;

export interface ProxyClient {
  /** Who calls, for the log. */
  name: string;
  apiKey: string;
}

export interface ProxyLogLine {
  ts: string;
  caller: string;
  remote: string | undefined;
  method: string;
  path: string;
  status: number;
  kid?: string;
  hash_hex?: string;
  message_sha256?: string;
  durationMs: number;
  error?: string;
}

export interface SigningProxyOptions {
  signer: BackendSigner;
  clients: readonly ProxyClient[];
  host?: string;
  port?: number;
  /** HTTPS; with `clientCa`, only clients presenting a certificate of that CA complete the handshake (mTLS). */
  tls?: { cert: string | Buffer; key: string | Buffer; clientCa?: string | Buffer };
  log?: (line: ProxyLogLine) => void;
}

export interface RunningProxy {
  url: string;
  server: Server;
  close(): Promise<void>;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** The caller whose key this is; keys are compared in constant time. */
function authenticate(
  header: string | undefined,
  clients: readonly { name: string; keyDigest: Buffer }[],
): string | undefined {
  const match = /^Bearer (.+)$/.exec(header ?? '');
  if (!match) return undefined;
  const presented = digest(match[1]!);
  return clients.find((client) => timingSafeEqual(client.keyDigest, presented))?.name;
}

function errorBody(
  code: string,
  message: string,
): { error: { code: string; message: string; details: Record<string, never> } } {
  return { error: { code, message, details: {} } };
}

interface SignBody {
  kid: string;
  hash?: Buffer;
  preimage?: Buffer;
  message?: Buffer;
}

function parseSignBody(body: unknown, kid: string): SignBody | string {
  if (typeof body !== 'object' || body === null) return 'body must be a JSON object';
  const {
    hash_hex: hashHex,
    preimage_b64: preimageB64,
    message_b64: messageB64,
    kid: requestedKid,
  } = body as Record<string, unknown>;
  if (requestedKid !== kid) return `this proxy signs as ${kid}, not ${JSON.stringify(requestedKid)}`;
  if (typeof messageB64 === 'string' && hashHex === undefined)
    return { kid, message: Buffer.from(messageB64, 'base64') };
  if (typeof hashHex !== 'string' || !HASH_PATTERN.test(hashHex))
    return 'hash_hex must be 64 lowercase hex digits (or message_b64 for a document)';
  const hash = Buffer.from(hashHex, 'hex');
  if (preimageB64 === undefined) return { kid, hash };
  if (typeof preimageB64 !== 'string') return 'preimage_b64 must be base64';
  const preimage = Buffer.from(preimageB64, 'base64');
  if (!sha256(preimage).equals(hash)) return 'SHA-256 of preimage_b64 is not hash_hex';
  return { kid, hash, preimage };
}

/** Health: a probe signed and verified, the verdict reused for PROXY_HEALTH_CACHE_MS. */
function healthProbe(signer: BackendSigner): () => Promise<string | undefined> {
  let last: { atMs: number; problem: string | undefined } | undefined;
  return async () => {
    if (last && Date.now() - last.atMs < PROXY_HEALTH_CACHE_MS) return last.problem;
    const problem = await probeSigner(signer, signer.publicKey);
    last = { atMs: Date.now(), problem };
    return problem;
  };
}

/** One log line per request, written when the response is finished. */
function requestLogger(log: (line: ProxyLogLine) => void): RequestHandler {
  return (request, response, next) => {
    const started = performance.now();
    response.on('finish', () => {
      const locals = response.locals as Partial<ProxyLogLine>;
      log({
        ts: new Date().toISOString(),
        caller: locals.caller ?? 'anonymous',
        remote: request.socket.remoteAddress,
        method: request.method,
        path: request.path,
        status: response.statusCode,
        ...(locals.kid === undefined ? {} : { kid: locals.kid }),
        ...(locals.hash_hex === undefined ? {} : { hash_hex: locals.hash_hex }),
        ...(locals.message_sha256 === undefined ? {} : { message_sha256: locals.message_sha256 }),
        durationMs: Math.round((performance.now() - started) * 10) / 10,
        ...(locals.error === undefined ? {} : { error: locals.error }),
      });
    });
    next();
  };
}

function authenticator(clients: readonly ProxyClient[]): RequestHandler {
  const digests = clients.map((client) => ({ name: client.name, keyDigest: digest(client.apiKey) }));
  return (request, response, next) => {
    const caller = authenticate(request.get('authorization'), digests);
    if (caller === undefined) {
      response.locals['error'] = 'missing or unknown API key';
      response.status(401).json(errorBody('UNAUTHORIZED', 'missing or unknown API key (Authorization: Bearer <key>)'));
      return;
    }
    response.locals['caller'] = caller;
    next();
  };
}

function healthHandler(signer: BackendSigner): RequestHandler {
  const publicKeyPem = signer.publicKey ? spkiPem(signer.publicKey) : '';
  const health = healthProbe(signer);
  return async (_request, response) => {
    const problem = await health();
    response.status(problem === undefined ? 200 : 503).json({
      status: problem === undefined ? 'ok' : 'unavailable',
      signer_id: signer.kid,
      algorithm: signer.algorithm,
      public_key_pem: publicKeyPem,
      ...(problem === undefined ? {} : { reason: problem }),
    });
  };
}

function signHandler(signer: BackendSigner): RequestHandler {
  let inFlight = 0;
  return async (request, response) => {
    const parsed = parseSignBody(request.body, signer.kid);
    if (typeof parsed === 'string') {
      response.locals['error'] = parsed;
      response.status(400).json(errorBody('INVALID_SIGN_REQUEST', parsed));
      return;
    }
    response.locals['kid'] = parsed.kid;
    if (parsed.hash) response.locals['hash_hex'] = parsed.hash.toString('hex');
    if (parsed.message) response.locals['message_sha256'] = sha256(parsed.message).toString('hex');
    if (inFlight >= PROXY_MAX_IN_FLIGHT) {
      response
        .status(503)
        .json(errorBody('SIGNING_UNAVAILABLE', `more than ${PROXY_MAX_IN_FLIGHT} signatures in flight`));
      return;
    }
    inFlight += 1;
    try {
      const signature = parsed.message
        ? await signer.signMessage(parsed.message)
        : await signer.sign(parsed.hash!, parsed.preimage ?? Buffer.alloc(0));
      response.json({ signature_b64: signature.value, signer_id: signer.kid });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      response.locals['error'] = message;
      const tooLarge = error instanceof CodedError && error.code === 'KMS_MESSAGE_TOO_LARGE';
      response
        .status(tooLarge ? 413 : 503)
        .json(errorBody(tooLarge ? 'MESSAGE_TOO_LARGE' : 'SIGNING_UNAVAILABLE', message));
    } finally {
      inFlight -= 1;
    }
  };
}

/** Express 5 passes body-parser failures (bad JSON, too large) here. */
function errorHandler(
  error: { status?: number; message?: string },
  _request: Request,
  response: Response,
  _next: NextFunction,
): void {
  const status = error.status !== undefined && error.status >= 400 && error.status < 500 ? error.status : 500;
  response.locals['error'] = error.message;
  response
    .status(status)
    .json(errorBody(status === 500 ? 'INTERNAL' : 'INVALID_SIGN_REQUEST', error.message ?? 'error'));
}

export function signingProxyApp(options: SigningProxyOptions): express.Express {
  if (options.clients.length === 0)
    throw new CodedError(
      'INVALID_CONFIGURATION',
      'the signing proxy needs at least one client API key (SIGNING_PROXY_CLIENTS)',
    );
  const app = express();
  app.disable('x-powered-by');
  app.use(requestLogger(options.log ?? ((line: ProxyLogLine) => process.stdout.write(`${JSON.stringify(line)}\n`))));
  app.get('/health', healthHandler(options.signer));
  app.post(
    '/sign',
    authenticator(options.clients),
    express.json({ limit: PROXY_MAX_BODY_BYTES }),
    signHandler(options.signer),
  );
  app.use(errorHandler);
  return app;
}

/** Starts the proxy; resolves once it listens. `close` stops it and drops open connections. */
export async function startSigningProxy(options: SigningProxyOptions): Promise<RunningProxy> {
  const app = signingProxyApp(options);
  const server = options.tls
    ? createHttpsServer(
        {
          cert: options.tls.cert,
          key: options.tls.key,
          // The proxy has no public route: a caller without a verified certificate is refused at the handshake.
          ...(options.tls.clientCa === undefined
            ? {}
            : { ca: options.tls.clientCa, requestCert: true, rejectUnauthorized: true }),
        },
        app,
      )
    : createHttpServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `${options.tls ? 'https' : 'http'}://${host}:${address.port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
