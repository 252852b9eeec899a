/**
 * Reconcile: compares a payment provider's report of a period with the
 * ledger (docs/DOMAIN.md, "Reconciliation"), classifies every line, and
 * records the run in the chain (`reconciliation-<id>`): the report's SHA-256,
 * the counts per class and every discrepancy, each holding the payouts of
 * the orders and parties it touches until it is resolved. A bad report, a
 * refused role or too many differences record nothing.
 */
import { traced } from '../../chain/tracing.ts';
import { z } from 'zod';
import { requireRole } from '../../domain/actor.ts';
import { COMMAND_ROLES } from '../../domain/authorization.ts';
import { CodedError } from '../../domain/errors.ts';
import { classifier, type Finding } from '../../domain/reconciliation/lineClassifier.ts';
import { reconciliationDecider } from '../../domain/reconciliation/reconciliationDecider.ts';
import {
  MAX_DISCREPANCIES,
  reconciliationEventSchemas,
  type Discrepancy,
  type LineCounts,
} from '../../domain/reconciliation/reconciliationEvents.ts';
import { streams } from '../../domain/streams.ts';
import {
  entityId,
  execute,
  parseInput,
  type CommandContext,
  type CommandDeps,
  type CommandResult,
} from '../command.ts';
import { decideStream, entityIdSchema, typesOf } from '../decideStream.ts';
import { MAX_REPORT_BYTES, REPORT_FORMATS, reportLines, type ReportDigest } from './providerReport.ts';

export const RECONCILIATION_EVENT_TYPES = typesOf(reconciliationEventSchemas);
/** Ledger records this far outside the period still match a line (commit time and provider time differ a little). */
export const PERIOD_MARGIN_MS = 24 * 3600 * 1000;

/** `2025-11-01` (the whole day, UTC) or an RFC 3339 UTC time. */
const DAY = /^\d{4}-\d{2}-\d{2}$/;
const periodEdge = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?Z)?$/, 'a date (2025-11-01) or an RFC 3339 UTC time')
  .refine((value) => !Number.isNaN(Date.parse(value)), 'not a real date');

export const reconcileInputSchema = z.strictObject({
  reconciliationId: entityIdSchema.optional(),
  format: z.enum(REPORT_FORMATS),
  /** First day or instant of the report's period. */
  from: periodEdge,
  /** Last day (inclusive) or instant of the period. */
  to: periodEdge,
  /** The report's size when known before reading it (Content-Length, the file's size): a report over the bound is refused unread. */
  sizeBytes: z.number().int().nonnegative().optional(),
});

export type ReconcileResult = CommandResult & {
  reconciliationId: string;
  reportSha256: string;
  counts: LineCounts;
  discrepancyCount: number;
};

/** A period's edges as instants: a date-only `from` is its first millisecond, a date-only `to` its last. */
export function periodOf(from: string, to: string): { fromTs: string; toTs: string } {
  const fromTs = new Date(DAY.test(from) ? `${from}T00:00:00.000Z` : from).toISOString();
  const toTs = new Date(DAY.test(to) ? `${to}T23:59:59.999Z` : to).toISOString();
  if (fromTs > toTs)
    throw new CodedError('INVALID_INPUT', `the period ends (${to}) before it starts (${from})`, {
      problems: ['to: before from'],
    });
  return { fromTs, toTs };
}

function numbered(findings: readonly Finding[]): Discrepancy[] {
  return findings.map((finding, index) => ({ discrepancyId: `d${index + 1}`, ...finding }));
}

function tooMany(): CodedError {
  return new CodedError(
    'RECONCILIATION_TOO_MANY_DISCREPANCIES',
    `the report differs from the ledger in more than ${MAX_DISCREPANCIES} places: check that it is the right report and period`,
    { maxDiscrepancies: MAX_DISCREPANCIES },
  );
}

/** A reconciliation run against a provider report, traced as `reconciliation.run`. */
export function reconcile(
  deps: CommandDeps,
  input: unknown,
  report: AsyncIterable<Uint8Array | string>,
  context: CommandContext,
): Promise<ReconcileResult> {
  return traced('reconciliation.run', {}, () => reconcileRun(deps, input, report, context));
}

async function reconcileRun(
  deps: CommandDeps,
  input: unknown,
  report: AsyncIterable<Uint8Array | string>,
  context: CommandContext,
): Promise<ReconcileResult> {
  const parsed = parseInput(reconcileInputSchema, input);
  // Before reading a byte of the report: a caller who may not reconcile does not get it parsed.
  requireRole(context.actor, COMMAND_ROLES.Reconcile, 'reconciling with the payment provider');
  const { fromTs, toTs } = periodOf(parsed.from, parsed.to);
  if (parsed.sizeBytes !== undefined && parsed.sizeBytes > MAX_REPORT_BYTES)
    throw new CodedError(
      'REPORT_TOO_LARGE',
      `the report is ${parsed.sizeBytes} bytes; a report has at most ${MAX_REPORT_BYTES}: split it by period`,
      { sizeBytes: parsed.sizeBytes, maxBytes: MAX_REPORT_BYTES },
    );
  const lines = classifier(await deps.ledger.providerExpectations({ fromTs, toTs, marginMs: PERIOD_MARGIN_MS }));
  const findings: Finding[] = [];
  const digest: Partial<ReportDigest> = {};
  for await (const line of reportLines(report, parsed.format, digest)) {
    const finding = lines.add(line);
    if (finding === undefined) continue;
    if (findings.length >= MAX_DISCREPANCIES) throw tooMany();
    findings.push(finding);
  }
  findings.push(...lines.finish());
  if (findings.length > MAX_DISCREPANCIES) throw tooMany();
  const reportSha256 = digest.sha256!;
  const reconciliationId = entityId(context, parsed.reconciliationId, 'reconciliation');
  const discrepancies = numbered(findings);
  const recorded = {
    reconciliationId,
    reportSha256,
    format: parsed.format,
    reportBytes: digest.bytes!,
    lineCount: digest.lines!,
    fromTs,
    toTs,
    counts: { ...lines.counts },
    discrepancyCount: discrepancies.length,
  };
  const result = await execute(
    deps,
    context,
    { operation: 'reconcile', input: { ...parsed, sizeBytes: undefined, reportSha256 } },
    async () => [
      await decideStream(
        deps.store,
        streams.reconciliation(reconciliationId),
        reconciliationDecider,
        RECONCILIATION_EVENT_TYPES,
        { type: 'RecordReconciliation', actor: context.actor, recorded, discrepancies },
      ),
    ],
  );
  return { ...result, reconciliationId, reportSha256, counts: recorded.counts, discrepancyCount: discrepancies.length };
}
