/** For operators and probes, without a token: /health, /ready, /metrics, /openapi.json, /openapi.yaml. */
import { z } from 'zod';
import { metricsRegistry } from '../../../adapters/metrics.ts';
import { defineRoute, type RouteSpec } from '../route.ts';

const check = z.object({ ok: z.boolean(), message: z.string().optional() });
const readinessSchema = z.object({
  status: z.enum(['ready', 'read-only', 'not-ready']),
  checks: z.object({
    database: check,
    migrations: check,
    projections: check,
    signing: check.extend({ readOnly: z.boolean().optional(), kid: z.string() }),
    authentication: check.optional().describe('with OIDC: the issuer key set could be fetched'),
    kafka: check
      .optional()
      .describe(
        'with KAFKA_BROKERS: the broker answers with the topic and the relay runs; reported only, never not-ready (the relay catches up)',
      ),
    inspection: check.describe('the content inspector classifies a probe text CLEAR, every plugin answering'),
    quarantine: check
      .optional()
      .describe('with QUARANTINE_ENABLED=true: the quarantine store takes, gives back and deletes a probe object'),
    redis: check
      .extend({ required: z.literal(false) })
      .optional()
      .describe('with REDIS_URL: Redis answers a ping (reported; without it each process counts alone)'),
    rateLimits: check
      .optional()
      .describe(
        'the rate-limit tiers were read from the database at least once (until then the tiered routes answer 503)',
      ),
  }),
});

export const operationsRoutes: readonly RouteSpec[] = [
  defineRoute({
    method: 'get',
    path: '/health',
    operationId: 'getHealth',
    summary: 'The process is up (liveness)',
    tag: 'operations',
    routeClass: 'operations',
    roles: 'public',
    response: z.object({ status: z.literal('ok') }),
    errors: [],
    handle: async () => ({ body: { status: 'ok' } }),
  }),
  defineRoute({
    method: 'get',
    path: '/ready',
    operationId: 'getReadiness',
    summary:
      'Database reachable, migrations current, projections at the head, signer can sign, content inspector and quarantine store working; 503 names the failed check',
    tag: 'operations',
    routeClass: 'operations',
    roles: 'public',
    response: readinessSchema,
    responseDescription: 'ready, or read-only on purpose (SIGNING_DISABLED_REASON)',
    errors: [503],
    async handle(_request, { readiness }) {
      const report = await readiness();
      return { status: report.status === 'not-ready' ? 503 : 200, body: report };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/metrics',
    operationId: 'getMetrics',
    summary: 'Prometheus metrics (text exposition format)',
    tag: 'operations',
    routeClass: 'operations',
    roles: 'public',
    response: z.string(),
    errors: [],
    handle: async () => ({
      text: { contentType: metricsRegistry.contentType, content: await metricsRegistry.metrics() },
    }),
  }),
  defineRoute({
    method: 'get',
    path: '/openapi.json',
    operationId: 'getOpenApi',
    summary: 'This document',
    tag: 'operations',
    routeClass: 'operations',
    roles: 'public',
    response: z.record(z.string(), z.unknown()),
    errors: [],
    handle: async (_request, { openApi }) => ({ body: openApi() }),
  }),
  defineRoute({
    method: 'get',
    path: '/openapi.yaml',
    operationId: 'getOpenApiYaml',
    summary: 'This document as YAML: the file written at build time (OPENAPI_PATH) as is',
    tag: 'operations',
    routeClass: 'operations',
    roles: 'public',
    responseContentType: 'application/yaml; charset=utf-8',
    response: z.string(),
    errors: [],
    handle: async (_request, { openApiYaml }) => ({
      text: { contentType: 'application/yaml; charset=utf-8', content: openApiYaml() },
    }),
  }),
];
