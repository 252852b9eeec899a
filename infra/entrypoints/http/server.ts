/**
 * The HTTP API (express 5): routes mounted from the route table, each behind
 * the same steps: authenticate, check the role, rate-limit, refuse commands
 * in read-only mode, check the media type and size of the body, validate
 * with zod, run. One error handler turns everything into the error body.
 * Graceful shutdown: stop accepting, let in-flight requests finish, close.
 */
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { constants as cryptoConstants } from 'node:crypto';
import { statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { Readable, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import helmet from 'helmet';
import { v7 as uuidv7 } from 'uuid';
import type { z } from 'zod';
import { ChainError } from '../../../chain/errors.ts';
import { parseStrictJsonBytes, StrictJsonError, stringProblem } from '../../../chain/strictJson.ts';
import { CodedError } from '../../../domain/errors.ts';
import { httpRequestDurationSeconds } from '../../adapters/metrics.ts';
import { context as traceContext } from '@opentelemetry/api';
import { reportError } from '../errorReporting.ts';
import { errorResponse, HttpError } from './errors.ts';
import { clientCertificateOf } from './auth/clientCertificate.ts';
import { loadTls, type TlsConfig } from '../../wiring/tlsConfig.ts';
import { endRequestSpan, startRequestSpan, type RequestSpan } from './requestSpan.ts';
import type { HttpServices, RouteRequest, RouteResult, RouteSpec } from './route.ts';
import { commandRoutes } from './routes/commands.ts';
import { chainRoutes } from './routes/chain.ts';
import { chainStreamRoutes } from './routes/chainStream.ts';
import { transparencyRoutes } from './routes/transparency.ts';
import { financeRoutes } from './routes/finance.ts';
import { governanceRoutes } from './routes/governance.ts';
import { deliveryRoutes } from './routes/delivery.ts';
import { previewRoutes } from './routes/previews.ts';
import { contentRoutes } from './routes/content.ts';
import { marketplaceRoutes } from './routes/marketplace.ts';
import { operationsRoutes } from './routes/operations.ts';
import { payoutRoutes } from './routes/payouts.ts';
import { reconciliationRoutes } from './routes/reconciliation.ts';
import { archiveRoutes } from './routes/archive.ts';
import { auditBundleRoutes } from './routes/auditBundle.ts';
import { auditorRoutes } from './routes/auditor.ts';
import { PAYMENT_WEBHOOK_SIGNING, verifyWebhookSignature, webhookRoutes } from './routes/webhooks.ts';

export const ROUTES: readonly RouteSpec[] = [
  ...operationsRoutes,
  ...commandRoutes,
  ...webhookRoutes,
  ...marketplaceRoutes,
  ...deliveryRoutes,
  ...previewRoutes,
  ...contentRoutes,
  ...financeRoutes,
  ...payoutRoutes,
  ...reconciliationRoutes,
  ...archiveRoutes,
  ...auditBundleRoutes,
  ...auditorRoutes,
  ...governanceRoutes,
  ...chainRoutes,
  ...chainStreamRoutes,
  ...transparencyRoutes,
];

/** Problems listed in one INVALID_INPUT. */
const MAX_PROBLEMS = 20;
const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;
const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;

interface Locals {
  requestId: string;
  traceId: string;
  route?: string;
  /** The request's span, when tracing is on (infra/entrypoints/http/requestSpan.ts). */
  span?: RequestSpan;
  actorId?: string;
  role?: string;
  errorCode?: string;
}

function locals(response: Response): Locals {
  return response.locals as Locals;
}

/** Counts requests in flight; refuses new ones once shutdown began. */
export interface ShutdownGate {
  closing: boolean;
  inFlight: number;
}

function requestContext(services: HttpServices, gate: ShutdownGate): RequestHandler {
  return (request, response, next) => {
    const started = performance.now();
    const given = request.get('x-request-id');
    const traceparent = TRACEPARENT.exec(request.get('traceparent') ?? '');
    const state = locals(response);
    state.requestId = given !== undefined && REQUEST_ID.test(given) ? given : uuidv7();
    state.traceId =
      traceparent?.[1] ??
      (REQUEST_ID.test(request.get('x-trace-id') ?? '')
        ? request.get('x-trace-id')!
        : state.requestId.replaceAll('-', ''));
    const span = startRequestSpan(request.method, request.headers);
    if (span) {
      // The span continues a valid traceparent's trace; otherwise its own trace id is the one records carry.
      state.span = span;
      state.traceId = span.traceId;
    }
    response.set('X-Request-Id', state.requestId);
    let done = false;
    gate.inFlight += 1;
    response.on('close', () => {
      if (done) return;
      done = true;
      gate.inFlight -= 1;
      const seconds = (performance.now() - started) / 1000;
      if (state.span) endRequestSpan(state.span, request.method, state.route ?? 'unmatched', response.statusCode);
      httpRequestDurationSeconds.observe(
        { method: request.method, route: state.route ?? 'unmatched', status: String(response.statusCode) },
        seconds,
      );
      services.logger.info(
        {
          requestId: state.requestId,
          traceId: state.traceId,
          method: request.method,
          route: state.route ?? 'unmatched',
          status: response.statusCode,
          durationMs: Math.round(seconds * 10_000) / 10,
          actorId: state.actorId,
          role: state.role,
          code: state.errorCode,
          aborted: !response.writableFinished || undefined,
        },
        'request',
      );
    });
    if (gate.closing) {
      response.set('Connection', 'close');
      next(new HttpError('SHUTTING_DOWN', 'the server is shutting down; retry on another instance'));
      return;
    }
    next();
  };
}

/**
 * TLS connections whose client certificate was verified under a client CA
 * that has since been replaced (reloadTls): they get no further
 * authenticated answer, so taking a CA out of TLS_CLIENT_CA_FILE cuts off
 * a caller that keeps its connection alive, not only its next connection.
 */
const connectionsOfReplacedCa = new WeakSet<object>();

/** How long a connection of a replaced client CA busy with a request (a long download, a stream) may go on. */
export const REPLACED_CA_GRACE_MS = 10_000;

function authenticate(spec: RouteSpec, services: HttpServices): RequestHandler {
  const roles = spec.roles as readonly string[];
  return async (request, response, next) => {
    if (connectionsOfReplacedCa.has(request.socket)) {
      response.set('Connection', 'close');
      throw new HttpError(
        'CLIENT_CERTIFICATE_REJECTED',
        'the client CA changed since this connection was verified; connect again',
        { reason: 'CLIENT_CA_CHANGED' },
      );
    }
    const actor = await services.authenticate(request.get('authorization'), clientCertificateOf(request.socket));
    const state = locals(response);
    state.actorId = actor.id;
    state.role = actor.role;
    response.locals['actor'] = actor;
    if (!roles.includes(actor.role)) {
      throw new CodedError(
        'FORBIDDEN_ROLE',
        `${spec.operationId} needs one of the roles ${roles.join(', ')}; ${actor.id} is ${actor.role}`,
        { allowed: [...roles], role: actor.role },
      );
    }
    next();
  };
}

function rateLimit(spec: RouteSpec, services: HttpServices): RequestHandler {
  return async (request, response, next) => {
    if (spec.routeClass === 'operations') return next();
    const actorId = locals(response).actorId;
    // Webhooks and public routes have no actor: their caller's address is counted.
    const key =
      spec.routeClass === 'webhook' || actorId === undefined ? `ip:${request.ip ?? 'unknown'}` : `actor:${actorId}`;
    await services.rateLimits.consume(spec.routeClass, key);
    const role = locals(response).role;
    const actor = actorId === undefined || role === undefined ? undefined : { id: actorId, role };
    await services.rateLimits.consumeTier(spec.routeClass, spec.operationId, actor, key);
    next();
  };
}

/** Before authentication: a flood of requests with bad or no tokens is refused per client address. */
function addressLimit(spec: RouteSpec, services: HttpServices): RequestHandler {
  return async (request, _response, next) => {
    if (spec.routeClass === 'operations') return next();
    await services.rateLimits.consume('address', `ip:${request.ip ?? 'unknown'}`);
    next();
  };
}

/** Read-only mode on purpose: commands are refused before anything is read or signed. */
function readOnlyGate(services: HttpServices): RequestHandler {
  return (_request, _response, next) => {
    const reason = services.config.signingDisabledReason;
    if (reason !== undefined)
      throw new ChainError('SIGNING_UNAVAILABLE', `read-only mode: ${reason}`, { reason, readOnly: true });
    next();
  };
}

const CHARSET = /;\s*charset\s*=\s*"?([^";\s]*)/i;

function mediaType(types: readonly string[] = ['application/json']): RequestHandler {
  return (request, _response, next) => {
    // An empty body needs no type (a command whose input is all in the path); any other must be of the route's type.
    const empty = request.get('content-length') === '0' && request.get('transfer-encoding') === undefined;
    const contentType = request.get('content-type');
    const charset = CHARSET.exec(contentType ?? '')?.[1]?.toLowerCase();
    const json = types.length === 1 && types[0] === 'application/json';
    if (!empty && (request.is([...types]) === false || (json && charset !== undefined && charset !== 'utf-8')))
      throw new HttpError(
        'UNSUPPORTED_MEDIA_TYPE',
        json ? 'send the body as application/json in UTF-8' : `send the body as ${types.join(' or ')}`,
        {
          contentType: contentType ?? null,
        },
      );
    next();
  };
}

/** Raw bodies of webhook requests, for handlers that need the exact bytes. */
const rawBodies = new WeakMap<Request, Buffer>();

function webhookSignature(spec: RouteSpec, services: HttpServices): RequestHandler {
  const signing = spec.signing ?? PAYMENT_WEBHOOK_SIGNING;
  return (request, _response, next) => {
    const secret = signing.secret(services);
    if (secret === undefined)
      throw new HttpError('WEBHOOK_NOT_CONFIGURED', `${signing.variable} is not set on this server`);
    const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    verifyWebhookSignature(
      request.get(signing.header),
      raw,
      secret,
      services.http.webhookToleranceSeconds,
      Date.now(),
      signing.header,
    );
    request.body = raw.length === 0 ? undefined : strictBody(raw);
    rawBodies.set(request, raw);
    next();
  };
}

/**
 * The body as sent or a refusal: invalid UTF-8, a repeated key, an integral
 * number written with a fraction or exponent, NUL or a lone surrogate would
 * otherwise be changed silently before being signed (chain/strictJson.ts).
 */
function strictBody(raw: Buffer): unknown {
  try {
    return parseStrictJsonBytes(raw);
  } catch (error) {
    if (!(error instanceof StrictJsonError)) throw error;
    throw new HttpError('INVALID_JSON', `the body is not accepted: ${error.message}`, { position: error.position });
  }
}

function jsonBody(): RequestHandler {
  return (request, _response, next) => {
    const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    // An empty body is an empty object, as express.json made it: commands whose input is all in the path.
    request.body = raw.length === 0 ? {} : strictBody(raw);
    next();
  };
}

/**
 * Path and query strings pass the same check as the strings of a body: no
 * NUL (PostgreSQL refuses it in text) and no lone surrogate, on both engines.
 */
function checkStrings(values: Record<string, unknown>, where: string): void {
  const problems: string[] = [];
  for (const [key, value] of Object.entries(values)) {
    for (const text of Array.isArray(value) ? value : [value]) {
      if (typeof text !== 'string') continue;
      const problem = stringProblem(key) ?? stringProblem(text);
      if (problem !== undefined) problems.push(`${where}.${stringProblem(key) === undefined ? key : '?'}: ${problem}`);
    }
  }
  if (problems.length > 0)
    throw new CodedError('INVALID_INPUT', `invalid input: ${problems.slice(0, MAX_PROBLEMS).join('; ')}`, {
      problems: problems.slice(0, MAX_PROBLEMS),
    });
}

function parsed(schema: z.ZodType | undefined, value: unknown, where: string): unknown {
  if (!schema) return value;
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues
    .slice(0, MAX_PROBLEMS)
    .map((issue) => `${[where, ...issue.path].join('.')}: ${issue.message}`);
  throw new CodedError('INVALID_INPUT', `invalid input: ${problems.join('; ')}`, { problems });
}

function execute(spec: RouteSpec, services: HttpServices): RequestHandler {
  return async (request, response) => {
    const state = locals(response);
    checkStrings(request.params, 'path');
    checkStrings(request.query as Record<string, unknown>, 'query');
    const closed = new AbortController();
    // The client went away before the whole answer: after a complete one there is nothing left to stop (and an abort builds an error).
    response.once('close', () => {
      if (!response.writableFinished) closed.abort();
    });
    const routeRequest: RouteRequest<unknown, unknown, unknown> = {
      actor: response.locals['actor'] as RouteRequest<unknown, unknown, unknown>['actor'],
      params: parsed(spec.params, { ...request.params }, 'path'),
      query: parsed(spec.query, { ...(request.query as Record<string, unknown>) }, 'query'),
      body: parsed(spec.body, request.body, 'body'),
      rawBody: rawBodies.get(request),
      stream: spec.streamedBody ? request : undefined,
      header: (name) => request.get(name),
      requestId: state.requestId,
      traceId: state.traceId,
      closed: closed.signal,
    };
    // Run in the request's span: body parsing and other steps before this one may have left its context.
    const result = await (state.span
      ? traceContext.with(state.span.context, () => spec.handle(routeRequest, services))
      : spec.handle(routeRequest, services));
    response.status(result.status ?? 200);
    // Private unless the route is public and says a shared cache may keep it (GET /catalog); a route's own header wins.
    response.set(
      'Cache-Control',
      spec.publicCache === true && spec.roles === 'public' && (result.status ?? 200) === 200
        ? `public, max-age=${services.http.catalogCacheSeconds}`
        : 'no-store',
    );
    // A stream's headers (an attachment's name) go with its first byte: a failure before it is an error answer without them.
    if (result.headers && !result.stream) response.set(result.headers);
    if (result.text) {
      response.type(result.text.contentType).send(result.text.content);
      return;
    }
    if (result.stream) {
      await sendStream(response, result.stream, result.headers, request.method === 'HEAD');
      return;
    }
    response.json(result.body);
  };
}

/**
 * Streams a body. Its first chunk is awaited before anything is sent, so a
 * failure to open it (a missing object) is an ordinary error response; after
 * that an error can only cut the connection. A HEAD request gets the status
 * and headers a GET would, and the source is stopped there: the rest (a
 * whole audit bundle) is never made.
 */
async function sendStream(
  response: Response,
  stream: NonNullable<RouteResult['stream']>,
  headers: RouteResult['headers'],
  headOnly: boolean,
): Promise<void> {
  const iterator = stream.body[Symbol.asyncIterator]();
  const first = await iterator.next();
  // Streams are not stored unless the route says how long they hold (a Merkle tile never changes).
  response.set('Cache-Control', 'no-store');
  if (headers) response.set(headers);
  response.type(stream.contentType);
  if (stream.contentLength !== undefined) response.set('Content-Length', String(stream.contentLength));
  if (headOnly) {
    await iterator.return?.();
    response.end();
    return;
  }
  async function* whole(): AsyncIterable<Uint8Array> {
    try {
      if (first.done) return;
      yield first.value;
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
    } finally {
      // A client that went away ends the source too, so its producer stops instead of waiting to be read.
      await iterator.return?.();
    }
  }
  // A client that stops reading holds the producer (and, for a bundle, one of its few slots): cut it when idle.
  response.setTimeout(STREAM_IDLE_TIMEOUT_MS, () => response.destroy(new Error('the client stopped reading')));
  try {
    await pipeline(Readable.from(whole(), { objectMode: false }), response);
  } catch (error) {
    response.destroy(error as Error);
  }
}

/** How long a streamed answer may make no progress (the client reads nothing) before its connection is cut. */
export const STREAM_IDLE_TIMEOUT_MS = 60_000;

function mount(router: express.Express, spec: RouteSpec, services: HttpServices): void {
  const steps: RequestHandler[] = [
    (_request, response, next) => {
      locals(response).route = spec.path;
      next();
    },
  ];
  steps.push(addressLimit(spec, services));
  if (Array.isArray(spec.roles)) steps.push(authenticate(spec, services));
  steps.push(rateLimit(spec, services));
  if (spec.routeClass === 'command' || spec.routeClass === 'webhook') steps.push(readOnlyGate(services));
  if (spec.method === 'post') steps.push(mediaType(spec.streamedBody?.contentTypes));
  if (spec.streamedBody) {
    // Streamed to the handler as it arrives: no parser, no buffering (the handler bounds what it reads).
  } else if (spec.roles === 'webhook')
    steps.push(express.raw({ limit: services.http.maxBodyBytes, type: () => true }), webhookSignature(spec, services));
  else if (spec.method === 'post')
    steps.push(express.raw({ limit: services.http.maxBodyBytes, type: () => true }), jsonBody());
  steps.push(execute(spec, services));
  router[spec.method](spec.path, ...steps);
}

function methodsByPath(routes: readonly RouteSpec[]): Map<string, string[]> {
  const methods = new Map<string, string[]>();
  for (const spec of routes) {
    const verbs = spec.method === 'get' ? ['GET', 'HEAD'] : ['POST'];
    methods.set(spec.path, [...(methods.get(spec.path) ?? []), ...verbs]);
  }
  return methods;
}

/** A known path asked with a method it does not have: 405 with Allow (RFC 9110 section 15.5.6). */
function methodNotAllowed(methods: readonly string[]): RequestHandler {
  const allow = methods.join(', ');
  return (request, _response, next) => {
    next(
      new HttpError(
        'METHOD_NOT_ALLOWED',
        `${request.method} is not allowed here; use ${allow}`,
        { allowed: [...methods] },
        { Allow: allow },
      ),
    );
  };
}

function errorHandler(
  services: HttpServices,
): (error: unknown, request: Request, response: Response, next: NextFunction) => void {
  return (error, request, response, _next) => {
    const state = locals(response);
    const answer = errorResponse(error, state.requestId ?? 'unknown');
    state.errorCode = answer.body.error.code;
    if (answer.internal) {
      services.logger.error(
        { requestId: state.requestId, traceId: state.traceId, err: error, route: state.route, method: request.method },
        'internal error',
      );
      reportError(error, {
        requestId: state.requestId,
        traceId: state.traceId,
        route: state.route ?? 'unmatched',
        method: request.method,
      });
    }
    if (response.headersSent) return;
    response.status(answer.status).set(answer.headers).set('Cache-Control', 'no-store').json(answer.body);
  };
}

/** A year: the HSTS max-age browsers' preload lists ask for. */
const HSTS_MAX_AGE_SECONDS = 31_536_000;

/**
 * The edge headers of every answer (helmet): HSTS, nosniff, no framing, no
 * referrer, and a CSP that lets a JSON API load nothing. A route that
 * serves a page sets its own CSP (GET /auditor: infra/adapters/files/auditorPage.ts),
 * which replaces this one.
 */
function securityHeaders(): RequestHandler {
  return helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'none'"],
        frameAncestors: ["'none'"],
      },
    },
    strictTransportSecurity: { maxAge: HSTS_MAX_AGE_SECONDS, includeSubDomains: true },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    // Catalog answers may be read by a shop front on another origin: same-site, not same-origin.
    crossOriginResourcePolicy: { policy: 'same-site' },
  }) as RequestHandler;
}

export function createHttpApp(
  services: HttpServices,
  gate: ShutdownGate,
  routes: readonly RouteSpec[] = ROUTES,
): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', 'simple');
  app.use(requestContext(services, gate));
  app.use(securityHeaders());
  for (const spec of routes) mount(app, spec, services);
  for (const [path, methods] of methodsByPath(routes)) app.route(path).all(methodNotAllowed(methods));
  app.use(() => {
    throw new HttpError('NOT_FOUND', 'no such route; GET /openapi.json lists them');
  });
  app.use(errorHandler(services));
  return app;
}

/**
 * Requests node refuses before express sees them (headers over its limit,
 * a malformed request line) get the error format too; with a listener, node
 * leaves the answer to us (docs/DESIGN.md, "Interfaces and configuration").
 */
function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, reason, code, message] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [
          431,
          'Request Header Fields Too Large',
          'HEADERS_TOO_LARGE',
          'the request headers are larger than the server accepts',
        ]
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'REQUEST_TIMEOUT', 'the request did not arrive in time']
        : [400, 'Bad Request', 'INVALID_HEADER', 'the request could not be parsed as HTTP/1.1'];
  const body = JSON.stringify({ error: { code, message, details: {} } });
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nCache-Control: no-store\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

export interface RunningServer {
  url: string;
  server: Server;
  /** Graceful: stop accepting, wait for in-flight requests (at most shutdownTimeoutMs), then close the rate limiter's Redis. */
  close(): Promise<void>;
}

/**
 * HTTPS when TLS is configured. With a client CA every client is asked for
 * a certificate, and a handshake without one (or with one that does not
 * verify) still completes: public routes (health, readiness, the catalog,
 * the auditor page) answer anyone, kubelet probes included, and the
 * authentication step refuses the rest (auth/clientCertificate.ts).
 */
function createListener(app: express.Express, tls: TlsConfig | undefined): Server {
  if (tls === undefined) return createServer(app);
  return createHttpsServer(
    {
      ...secureContextOf(tls),
      minVersion: 'TLSv1.2',
      ...(tls.clientCa === undefined ? {} : { requestCert: true, rejectUnauthorized: false }),
    },
    app,
  );
}

/**
 * No renegotiation: node lets a TLS 1.2 client renegotiate, and a second
 * handshake with another certificate (another CA's, self-signed) leaves
 * `socket.authorized` true from the first while `getPeerCertificate()`
 * returns the new one, whose CN would then be given a role. Set on every
 * context, the reloaded ones included.
 */
const SECURE_OPTIONS = cryptoConstants.SSL_OP_NO_RENEGOTIATION;

function secureContextOf(tls: TlsConfig): { cert: Buffer; key: Buffer; ca?: Buffer; secureOptions: number } {
  return {
    cert: tls.cert,
    key: tls.key,
    ...(tls.clientCa === undefined ? {} : { ca: tls.clientCa }),
    secureOptions: SECURE_OPTIONS,
  };
}

/** Size and modification time of each TLS file: what changes when cert-manager or an operator renews them. */
function tlsFilesStamp(tls: TlsConfig): string {
  return [tls.files.certFile, tls.files.keyFile, tls.files.clientCaFile]
    .map((path) => {
      if (path === undefined) return '-';
      try {
        const stat = statSync(path, { throwIfNoEntry: false });
        return stat === undefined ? 'missing' : `${stat.size}:${stat.mtimeMs}`;
      } catch (error) {
        // Unreadable (EACCES while a secret is remounted): a change the next load reports, never a crash.
        return `unreadable:${(error as NodeJS.ErrnoException).code ?? 'error'}`;
      }
    })
    .join('|');
}

/**
 * The connections open when the client CA was replaced: the idle ones
 * closed now, an authenticated request on the others refused (above), and
 * those still busy after REPLACED_CA_GRACE_MS (a stream) cut.
 */
function endConnectionsOfReplacedCa(server: HttpsServer, open: ReadonlySet<TLSSocket>, services: HttpServices): void {
  const replaced = [...open];
  for (const socket of replaced) connectionsOfReplacedCa.add(socket);
  server.closeIdleConnections();
  setTimeout(() => {
    for (const socket of replaced) if (!socket.destroyed) socket.destroy();
  }, REPLACED_CA_GRACE_MS).unref();
  services.logger.info({ connections: replaced.length }, 'client CA replaced: connections it verified are ended');
}

/**
 * Reads the certificate, key and client CA again when their files change
 * (every TLS_RELOAD_SECONDS) and swaps the secure context: new connections
 * get the renewed certificate, open ones keep theirs. Files that do not load
 * together (a key written before its certificate) leave the previous ones in
 * use until they do.
 */
function reloadTls(server: HttpsServer, tls: TlsConfig, intervalMs: number, services: HttpServices): () => void {
  let stamp = tlsFilesStamp(tls);
  let clientCa = tls.clientCa;
  // The open TLS connections, so that a replaced client CA can end those it verified.
  const open = new Set<TLSSocket>();
  server.on('secureConnection', (socket: TLSSocket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
  const timer = setInterval(() => {
    const now = tlsFilesStamp(tls);
    if (now === stamp) return;
    const problems: string[] = [];
    const fresh = loadTls(tls.files, problems);
    if (fresh === undefined) {
      services.logger.error({ problems }, 'TLS files changed but do not load; the previous certificate stays in use');
      return;
    }
    stamp = now;
    server.setSecureContext(secureContextOf(fresh));
    services.logger.info({ certFile: tls.files.certFile }, 'TLS certificate reloaded');
    const caReplaced = clientCa !== undefined && fresh.clientCa !== undefined && !clientCa.equals(fresh.clientCa);
    clientCa = fresh.clientCa;
    if (caReplaced) endConnectionsOfReplacedCa(server, open, services);
  }, intervalMs).unref();
  return () => clearInterval(timer);
}

export async function startHttpServer(
  services: HttpServices,
  options: { port: number; host: string },
): Promise<RunningServer> {
  const gate: ShutdownGate = { closing: false, inFlight: 0 };
  await services.rateLimits.started();
  const server = createListener(createHttpApp(services, gate), services.http.tls);
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => answerClientError(error, socket));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const tls = services.http.tls;
  const stopReloading =
    tls === undefined
      ? () => undefined
      : reloadTls(server as HttpsServer, tls, services.http.tlsReloadSeconds * 1000, services);
  let closed: Promise<void> | undefined;
  return {
    url: `${tls ? 'https' : 'http'}://${host}:${address.port}`,
    server,
    close: () => {
      stopReloading();
      return (closed ??= shutdown(server, gate, services));
    },
  };
}

async function shutdown(server: Server, gate: ShutdownGate, services: HttpServices): Promise<void> {
  gate.closing = true;
  services.streams.stop();
  const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const deadline = Date.now() + services.http.shutdownTimeoutMs;
  while (gate.inFlight > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  server.closeAllConnections();
  await stopped;
  await services.rateLimits.close();
}
