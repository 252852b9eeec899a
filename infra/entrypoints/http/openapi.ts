/**
 * The OpenAPI 3.1 document, generated from the route table: the zod schemas
 * that validate each request (zod's JSON Schema 2020-12, which OpenAPI 3.1
 * uses as is) and describe each response. Served at /openapi.json;
 * test/infra/entrypoints/http/httpContract.e2e.test.ts checks the server against it.
 */
import { z } from 'zod';
import { VERSION } from '../../wiring/version.ts';
import { HTTP_STATUS_BY_CODE } from './errors.ts';
import { openApiPath, type RouteSpec } from './route.ts';

type JsonSchema = Record<string, unknown>;

const STATUS_DESCRIPTIONS: Readonly<Record<number, string>> = {
  400: 'Invalid request: details.problems names each field and why',
  401: 'No or unknown bearer token (or a bad webhook signature)',
  403: "The caller's role may not do this",
  404: 'Not found',
  409: 'Conflicts with the current state (STREAM_VERSION_CONFLICT: read again and retry)',
  413: 'Body larger than the documented limit',
  415: 'Body is not application/json',
  422: 'Breaks a business rule, or IDEMPOTENCY_KEY_REUSED',
  429: 'Rate limited: retry after Retry-After seconds',
  503: 'Unavailable: SIGNING_UNAVAILABLE (fail closed; read-only mode), overloaded, shutting down; Retry-After',
};

/** JSON Schema of a zod schema, without its own `$schema` (the document declares the dialect). */
export function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
  return rest;
}

function errorSchema(): JsonSchema {
  const codes = Object.keys(HTTP_STATUS_BY_CODE).sort();
  return {
    type: 'object',
    required: ['error'],
    additionalProperties: false,
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message', 'details'],
        additionalProperties: false,
        properties: { code: { type: 'string', enum: codes }, message: { type: 'string' }, details: { type: 'object' } },
      },
    },
  };
}

function parameters(route: RouteSpec): JsonSchema[] {
  const result: JsonSchema[] = [];
  for (const [where, schema] of [
    ['path', route.params],
    ['query', route.query],
  ] as const) {
    if (!schema) continue;
    const object = jsonSchema(schema, 'input') as { properties?: Record<string, JsonSchema>; required?: string[] };
    for (const [name, property] of Object.entries(object.properties ?? {})) {
      const { description, ...propertySchema } = property;
      result.push({
        name,
        in: where,
        required: where === 'path' || (object.required ?? []).includes(name),
        schema: propertySchema,
        ...(description === undefined ? {} : { description }),
      });
    }
  }
  for (const header of route.headers ?? [])
    result.push({
      name: header.name,
      in: 'header',
      required: header.required,
      description: header.description,
      schema: header.schema,
    });
  return result;
}

function responses(route: RouteSpec): JsonSchema {
  const success =
    route.operationId === 'getMetrics'
      ? { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } }
      : route.responseContentType !== undefined
        ? {
            description: route.responseDescription ?? 'OK',
            content: { [route.responseContentType]: { schema: { type: 'string' } } },
          }
        : {
            description: route.responseDescription ?? 'OK',
            content: { 'application/json': { schema: jsonSchema(route.response, 'output') } },
          };
  const result: JsonSchema = { 200: success };
  for (const status of [...new Set(route.errors)].sort()) {
    result[String(status)] = {
      description: STATUS_DESCRIPTIONS[status] ?? 'Error',
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
    };
  }
  return result;
}

function operation(route: RouteSpec): JsonSchema {
  const roles = Array.isArray(route.roles) ? route.roles : [];
  // Either scheme alone: a bearer token, or a client certificate with a role in MTLS_ROLE_MAP (README, "TLS and mTLS").
  const security = route.roles === 'public' || route.roles === 'webhook' ? [] : [{ bearer: [] }, { mtls: [] }];
  const rolesText =
    route.roles === 'public'
      ? 'No token.'
      : route.roles === 'webhook'
        ? 'Authenticated by its HMAC signature.'
        : `Roles: ${roles.join(', ')}.`;
  const body = route.body ? jsonSchema(route.body, 'input') : undefined;
  return {
    operationId: route.operationId,
    summary: route.summary,
    description: rolesText,
    tags: [route.tag],
    security,
    'x-roles': route.roles,
    parameters: parameters(route),
    ...(body
      ? { requestBody: { required: route.routeClass === 'webhook', content: { 'application/json': { schema: body } } } }
      : {}),
    ...(route.streamedBody
      ? {
          requestBody: {
            required: true,
            description: route.streamedBody.description,
            content: Object.fromEntries(
              route.streamedBody.contentTypes.map((type) => [type, { schema: { type: 'string', format: 'binary' } }]),
            ),
          },
        }
      : {}),
    responses: responses(route),
  };
}

export function openApiDocument(routes: readonly RouteSpec[]): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of routes) (paths[openApiPath(route.path)] ??= {})[route.method] = operation(route);
  return {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: 'Chainbook',
      version: VERSION,
      description:
        'Commands (POST) append signed, hash-chained records; queries (GET) read the projections. Errors are {"error": {"code", "message", "details"}}. On any path: another method than those listed answers 405 METHOD_NOT_ALLOWED with Allow; request headers over 16 KiB answer 431 HEADERS_TOO_LARGE; a request that is not HTTP/1.1 answers 400 INVALID_HEADER. Bodies are parsed strictly: invalid UTF-8, a repeated key, an integral number written with a fraction or exponent, U+0000 or a lone surrogate is 400 INVALID_JSON.',
    },
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'A static token (chainbook tokens add) or an OIDC JWT' },
        mtls: {
          type: 'mutualTLS',
          description:
            'A client certificate of TLS_CLIENT_CA_FILE whose SAN URI or CN has a role in MTLS_ROLE_MAP; the actor is mtls:<CN>. When the server requires mTLS, a bearer token also needs a verified certificate on the connection',
        },
      },
      schemas: { Error: errorSchema() },
    },
    paths,
  };
}
