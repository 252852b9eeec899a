/**
 * Previews over HTTP (docs/PREVIEWS.md, "A preview, from request to chain"): a buyer asks for a preview
 * of a listed item and gets its id at once (the run is recorded as started, then runs in the sandbox
 * pool); the same buyer reads its outcome, output and log. Another actor sees no such preview (404).
 */
import { z } from 'zod';
import { startPreviewInputSchema } from '../../../../commands/previews/previewCommands.ts';
import { COMMAND_ROLES, READ_ROLES } from '../../../../domain/authorization.ts';
import { PREVIEW_STATUSES, findPreview } from '../../../../projections/previews/previewQueries.ts';
import { commandResponseSchema, runCommand } from '../commandRoute.ts';
import { parseIdempotencyKey } from '../idempotency.ts';
import { COMMAND_ERRORS, defineRoute, QUERY_ERRORS, type RouteSpec } from '../route.ts';
import { idParameter, notFound } from './queryCommon.ts';

const limitsSchema = z.object({
  cpuTimeSeconds: z.number().int(),
  memoryBytes: z.number().int(),
  processCount: z.number().int(),
  openFileCount: z.number().int(),
  outputBytes: z.number().int(),
  wallClockMs: z.number().int(),
});

const previewSchema = z.object({
  previewId: z.string(),
  listingId: z.string(),
  manifestId: z.string(),
  artifactSha256: z.string(),
  status: z.enum(PREVIEW_STATUSES),
  limits: limitsSchema,
  runner: z.string(),
  startedSeq: z.number().int(),
  startedAt: z.string(),
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  durationMs: z.number().int().nullable(),
  outputSha256: z.string().nullable().describe('SHA-256 of the output as kept: two runs compare by it'),
  outputSizeBytes: z.number().int().nullable(),
  truncated: z.boolean().nullable().describe('the output reached its bound and the run was cut there'),
  killed: z.boolean().nullable(),
  memoryExceeded: z.boolean().nullable().describe('killed by its memory cgroup at memoryBytes of resident memory'),
  finishedSeq: z.number().int().nullable(),
  finishedAt: z.string().nullable(),
  output: z
    .string()
    .nullable()
    .describe('standard output as kept, base64; null while running or once past the retention'),
  log: z.string().nullable().describe('standard error as kept, base64'),
});

export const previewCommandRoutes: readonly RouteSpec[] = [
  defineRoute({
    method: 'post',
    path: '/listings/:listingId/previews',
    operationId: 'startPreview',
    summary:
      'A buyer runs the preview the listed manifest declares, in the sandbox: recorded as preview.started, then run; 429 PREVIEW_POOL_FULL or 503 PREVIEW_POOL_DRAINED with Retry-After when the pool cannot take it, 429 PREVIEW_BUYER_LIMIT when the buyer has maxPerBuyer previews going on',
    tag: 'marketplace',
    routeClass: 'command',
    roles: COMMAND_ROLES.StartPreview,
    params: z.object({ listingId: idParameter }),
    body: startPreviewInputSchema.omit({ listingId: true }).optional(),
    headers: [
      {
        name: 'Idempotency-Key',
        required: false,
        schema: { type: 'string', maxLength: 200 },
        description: 'A retry with the same key answers the first preview id and runs nothing again.',
      },
    ],
    response: commandResponseSchema.extend({ previewId: z.string(), status: z.literal('running') }),
    errors: [...COMMAND_ERRORS],
    async handle(request, services) {
      return runCommand(services, {
        operationId: 'startPreview',
        handler: (deps, input, context) => services.app.previews.start(deps, input, context),
        actor: request.actor!,
        input: { ...request.body, listingId: request.params.listingId },
        idempotencyKey: parseIdempotencyKey(request.header('idempotency-key')),
        request,
      });
    },
  }),
];

export const previewRoutes: readonly RouteSpec[] = [
  defineRoute({
    method: 'get',
    path: '/previews/:previewId',
    operationId: 'getPreview',
    summary: 'A preview run: its limits, outcome, output and log (the buyer that asked for it only; others get 404)',
    tag: 'marketplace',
    routeClass: 'query',
    roles: READ_ROLES.previews,
    params: z.object({ previewId: idParameter }),
    response: previewSchema,
    errors: [...QUERY_ERRORS, 404],
    async handle({ params, actor }, services) {
      const preview = await findPreview(services.db, params.previewId);
      if (preview === undefined || preview.buyerId !== actor!.id) throw notFound('PREVIEW_NOT_FOUND', 'preview');
      const finished = preview.status !== 'running';
      const [output, log] = finished
        ? await Promise.all([
            services.app.previews.read(preview.previewId, 'output'),
            services.app.previews.read(preview.previewId, 'log'),
          ])
        : [undefined, undefined];
      const { buyerId: _buyer, ...shown } = preview;
      return {
        body: {
          ...shown,
          output: output?.toString('base64') ?? null,
          log: log?.toString('base64') ?? null,
        },
      };
    },
  }),
];
