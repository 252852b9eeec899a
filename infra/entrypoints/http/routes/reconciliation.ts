/**
 * Reconciliation with the payment provider over HTTP (docs/DOMAIN.md,
 * "Reconciliation"): POST /reconcile takes the provider's report as the raw
 * body (text/csv or application/x-ndjson, docs/FORMAT.md section 12),
 * streamed and bounded by the report's own limits; GET
 * /reconcile/{id}/report answers the run and its discrepancies as JSON, and
 * /reconcile/{id}/report.csv the discrepancies as CSV for finance people.
 */
import { z } from 'zod';
import { reconcile, reconcileInputSchema } from '../../../../commands/reconciliation/reconcile.ts';
import { COMMAND_ROLES, READ_ROLES } from '../../../../domain/authorization.ts';
import { LINE_CLASSES } from '../../../../domain/reconciliation/reconciliationEvents.ts';
import {
  reconciliationReport,
  type ReconciliationReport,
} from '../../../../projections/reconciliation/reconciliationQueries.ts';
import { reportCsv } from '../../../../projections/reconciliation/reportCsv.ts';
import { reconciliationDiscrepanciesTotal } from '../../../adapters/metrics.ts';
import { commandResponseSchema, runCommand } from '../commandRoute.ts';
import { HttpError } from '../errors.ts';
import { parseIdempotencyKey } from '../idempotency.ts';
import { COMMAND_ERRORS, defineRoute, QUERY_ERRORS, type RouteSpec } from '../route.ts';
import { idParameter, notFound } from './queryCommon.ts';

const FORMAT_OF_MEDIA_TYPE: Record<string, 'csv' | 'jsonl'> = {
  'text/csv': 'csv',
  'application/x-ndjson': 'jsonl',
  'application/jsonl': 'jsonl',
};

const countsSchema = z.object(Object.fromEntries(LINE_CLASSES.map((name) => [name, z.number().int()])));

const discrepancySchema = z.object({
  discrepancyId: z.string(),
  kind: z.string(),
  line: z.number().int().nullable().describe('the report line (a CSV header is line 1); null when the report lacks it'),
  providerTransactionId: z.string().nullable(),
  type: z.string(),
  reference: z.string().nullable(),
  ledgerAmountMinor: z.number().int().nullable(),
  ledgerCurrency: z.string().nullable(),
  reportedAmountMinor: z.number().int().nullable(),
  reportedCurrency: z.string().nullable(),
  reportedFeeMinor: z.number().int().nullable(),
  orderIds: z.array(z.string()),
  partyIds: z.array(z.string()),
  status: z.enum(['open', 'resolved']),
  resolvedReason: z.string().nullable(),
  resolvedBy: z.string().nullable(),
});

const reportSchema = z.object({
  reconciliationId: z.string(),
  reportSha256: z.string(),
  format: z.string(),
  reportBytes: z.number().int(),
  lineCount: z.number().int(),
  fromTs: z.string(),
  toTs: z.string(),
  counts: countsSchema,
  discrepancyCount: z.number().int(),
  recordedBy: z.string(),
  recordedSeq: z.number().int(),
  recordedAt: z.string(),
  discrepancies: z.array(discrepancySchema),
});

async function found(db: Parameters<typeof reconciliationReport>[0], id: string): Promise<ReconciliationReport> {
  const report = await reconciliationReport(db, id);
  if (!report) throw notFound('RECONCILIATION_NOT_FOUND', 'reconciliation');
  return report;
}

export const reconcileRoute: RouteSpec = defineRoute({
  method: 'post',
  path: '/reconcile',
  operationId: 'reconcile',
  summary: 'Reconcile the ledger with a payment provider report of a period (text/csv or application/x-ndjson body)',
  tag: 'finance',
  routeClass: 'command',
  roles: COMMAND_ROLES.Reconcile,
  query: reconcileInputSchema.omit({ format: true, sizeBytes: true }),
  streamedBody: {
    contentTypes: Object.keys(FORMAT_OF_MEDIA_TYPE),
    description: 'The provider report (docs/FORMAT.md, the provider report), CSV or JSON Lines, streamed and bounded',
  },
  headers: [
    {
      name: 'Idempotency-Key',
      required: false,
      schema: { type: 'string', maxLength: 200 },
      description: 'A retry with the same key and report returns the first response and records nothing.',
    },
  ],
  response: commandResponseSchema.extend({
    reconciliationId: z.string(),
    reportSha256: z.string(),
    counts: countsSchema,
    discrepancyCount: z.number().int(),
  }),
  errors: [...COMMAND_ERRORS],
  async handle(request, services) {
    const mediaType = (request.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    const format = FORMAT_OF_MEDIA_TYPE[mediaType];
    if (format === undefined)
      throw new HttpError('UNSUPPORTED_MEDIA_TYPE', 'send the report as text/csv or application/x-ndjson', {
        contentType: mediaType,
      });
    const declared = request.header('content-length');
    const input = {
      ...request.query,
      format,
      ...(declared !== undefined && /^\d{1,15}$/.test(declared) ? { sizeBytes: Number(declared) } : {}),
    };
    const response = await runCommand(services, {
      operationId: 'reconcile',
      handler: (deps, given, context) => reconcile(deps, given, request.stream!, context),
      actor: request.actor!,
      input,
      idempotencyKey: parseIdempotencyKey(request.header('idempotency-key')),
      request,
    });
    const body = response.body as { counts?: Record<string, number> };
    if (response.headers?.['Idempotent-Replayed'] === undefined)
      for (const [kind, count] of Object.entries(body.counts ?? {}))
        if (kind !== 'matched' && count > 0) reconciliationDiscrepanciesTotal.inc({ kind }, count);
    return response;
  },
});

export const reconciliationRoutes: readonly RouteSpec[] = [
  defineRoute({
    method: 'get',
    path: '/reconcile/:reconciliationId/report',
    operationId: 'getReconciliationReport',
    summary: 'A reconciliation run: the report hash, counts per class and every discrepancy with its status',
    tag: 'finance',
    routeClass: 'query',
    roles: READ_ROLES.reconciliation,
    params: z.object({ reconciliationId: idParameter }),
    response: reportSchema,
    errors: [...QUERY_ERRORS, 404],
    handle: async ({ params }, { db }) => ({ body: await found(db, params.reconciliationId) }),
  }),
  defineRoute({
    method: 'get',
    path: '/reconcile/:reconciliationId/report.csv',
    operationId: 'getReconciliationReportCsv',
    summary: 'The discrepancies of a reconciliation run as CSV',
    tag: 'finance',
    routeClass: 'query',
    roles: READ_ROLES.reconciliation,
    params: z.object({ reconciliationId: idParameter }),
    response: z.string(),
    responseContentType: 'text/csv',
    errors: [...QUERY_ERRORS, 404],
    handle: async ({ params }, { db }) => {
      const report = await found(db, params.reconciliationId);
      return {
        text: { contentType: 'text/csv; charset=utf-8', content: reportCsv(report) },
        headers: { 'Content-Disposition': `attachment; filename="reconciliation-${report.reconciliationId}.csv"` },
      };
    },
  }),
];
