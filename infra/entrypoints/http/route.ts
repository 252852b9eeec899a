/**
 * A route is data: method, path, roles, zod schemas of its parameters, query,
 * body and response, the error statuses it documents, and a handler. The
 * server mounts routes from this table and the OpenAPI document is generated
 * from the same table, so what validates a request is what the document says.
 */
import type { z } from 'zod';
import type { SignerRegistry } from '../../../chain/registry.ts';
import type { CommandDeps } from '../../../commands/command.ts';
import type { Actor, Role } from '../../../domain/actor.ts';
import type { App } from '../../wiring/app.ts';
import type { Config } from '../../wiring/config.ts';
import type { SqlDatabase } from '../../adapters/sql/sql.ts';
import type { RequestAuthenticator } from './auth/clientCertificate.ts';
import type { HttpConfig } from '../../wiring/httpConfig.ts';
import type { Logger } from './logger.ts';
import type { RateLimits, RouteClass } from './rateLimits.ts';
import type { Readiness } from './readiness.ts';

/** Everything a route handler may use. */
export interface HttpServices {
  app: App;
  /** The command deps the API uses: the store timed for audit_append_latency_seconds, the signer failing closed. */
  deps: CommandDeps;
  db: SqlDatabase;
  config: Config;
  http: HttpConfig;
  registry: SignerRegistry;
  rateLimits: RateLimits;
  /** Bearer tokens, and client certificates under mTLS (auth/clientCertificate.ts). */
  authenticate: RequestAuthenticator;
  readiness: () => Promise<Readiness>;
  logger: Logger;
  /** The OpenAPI document of the mounted routes. */
  openApi: () => unknown;
  /** The same document as YAML: the file baked into the image (OPENAPI_PATH) when `serve` found it current. */
  openApiYaml: () => string;
  /** The current time, RFC 3339 with milliseconds (tests may fix it). */
  now: () => string;
  /** Long-lived answers (GET /chain/stream) end when it aborts: at shutdown, before in-flight requests are waited for. */
  streams: { signal: AbortSignal; stop(): void };
}

export interface RouteRequest<Params, Query, Body> {
  /** Undefined on public routes. */
  actor: Actor | undefined;
  params: Params;
  query: Query;
  body: Body;
  /** The raw bytes of the body (webhooks verify signatures over them). */
  rawBody: Buffer | undefined;
  /** The body as it arrives, on routes that stream it (`streamedBody`): never buffered whole, the handler bounds what it reads. */
  stream: AsyncIterable<Uint8Array> | undefined;
  header(name: string): string | undefined;
  requestId: string;
  traceId: string;
  /** Aborted when the answer is over, the client gone included: a streamed answer's producer stops waiting then. */
  closed: AbortSignal;
}

export interface RouteResult {
  status?: number;
  /** JSON body. */
  body?: unknown;
  /** Or a text body of this content type (metrics). */
  text?: { contentType: string; content: string };
  /**
   * Or bytes streamed as they are produced (a delivery, an audit bundle):
   * never held whole. An error after the first byte aborts the connection,
   * so a client never mistakes a cut body for a whole one.
   */
  stream?: { contentType: string; contentLength?: number; body: AsyncIterable<Uint8Array> };
  headers?: Record<string, string>;
}

export interface HeaderParameter {
  name: string;
  description: string;
  required: boolean;
  schema: Record<string, unknown>;
}

/** How a webhook is signed: the header (`t=…,v1=…`) and the secret, from the configuration variable named. */
export interface WebhookSigning {
  header: string;
  /** The variable that holds the secret, named when it is not set. */
  variable: string;
  secret(services: HttpServices): string | undefined;
}

export interface RouteDefinition<Params extends z.ZodType, Query extends z.ZodType, Body extends z.ZodType> {
  method: 'get' | 'post';
  /** Express syntax (`/orders/:orderId`); the document writes `{orderId}`. */
  path: string;
  operationId: string;
  summary: string;
  tag: string;
  /** Rate-limit class; operations routes (health, metrics, the document) are not limited. */
  routeClass: RouteClass | 'operations';
  /** Who may call it; 'public' needs no token; 'webhook' is authenticated by its signature. */
  roles: readonly Role[] | 'public' | 'webhook';
  /**
   * A public route whose 200 answer a shared cache may keep for
   * CATALOG_CACHE_SECONDS (`Cache-Control: public, max-age=N`); every other
   * answer is `no-store`.
   */
  publicCache?: true;
  /** A webhook's signature; the payment provider's (routes/webhooks.ts) when not given. */
  signing?: WebhookSigning;
  params?: Params;
  query?: Query;
  body?: Body;
  /**
   * A body streamed to the handler unparsed instead of JSON (an artifact
   * upload, a provider report), of one of these media types; not limited by
   * HTTP_MAX_BODY_BYTES: the handler reads `stream` and bounds it itself.
   */
  streamedBody?: { contentTypes: readonly string[]; description: string };
  headers?: readonly HeaderParameter[];
  /** A 200 body that is not JSON: its media type (the handler answers `text`). */
  responseContentType?: string;
  /** The 200 response body. */
  response: z.ZodType;
  responseDescription?: string;
  /** Error statuses this route can answer, for the document. */
  errors: readonly number[];
  handle(
    request: RouteRequest<z.infer<Params>, z.infer<Query>, z.infer<Body>>,
    services: HttpServices,
  ): Promise<RouteResult>;
}

export type RouteSpec = RouteDefinition<z.ZodType, z.ZodType, z.ZodType>;

/** Typed definition, stored untyped in the route table. */
export function defineRoute<
  Params extends z.ZodType = z.ZodType<Record<string, never>>,
  Query extends z.ZodType = z.ZodType<Record<string, never>>,
  Body extends z.ZodType = z.ZodType<undefined>,
>(definition: RouteDefinition<Params, Query, Body>): RouteSpec {
  return definition as unknown as RouteSpec;
}

/** `/orders/:orderId` → `/orders/{orderId}`; a wildcard (`/tile/*path`, the rest of the path) → `{path}`. */
export function openApiPath(path: string): string {
  return path.replace(/[:*]([A-Za-z0-9_]+)/g, '{$1}');
}

/** Errors every authenticated route can answer. */
export const AUTH_ERRORS = [401, 403, 429] as const;
export const QUERY_ERRORS = [400, ...AUTH_ERRORS] as const;
export const COMMAND_ERRORS = [400, ...AUTH_ERRORS, 404, 409, 413, 415, 422, 503] as const;
