/**
 * Events of a reconciliation run (stream `reconciliation-<reconciliationId>`):
 * what a payment provider's report was compared with, how each of its lines
 * was classified, every discrepancy found (with the orders and parties it
 * holds), and each discrepancy resolved.
 */
import { z } from 'zod';
import { currencySchema, idSchema, sha256Schema, textSchema, timestampSchema } from '../schemas.ts';

/** Discrepancies one run may record; a report further from the ledger than this is refused whole. */
export const MAX_DISCREPANCIES = 2000;
/** Discrepancies per `reconciliation.discrepancies_found` event (each event stays well under the event size bound). */
export const DISCREPANCIES_PER_EVENT = 50;
/** Orders or parties one discrepancy holds. */
export const MAX_HELD_PER_DISCREPANCY = 25;

export const REPORT_LINE_TYPES = ['charge', 'refund', 'payout', 'fee', 'adjustment'] as const;
export type ReportLineType = (typeof REPORT_LINE_TYPES)[number];

export const LINE_CLASSES = [
  'matched',
  'missing_in_ledger',
  'missing_at_provider',
  'amount_mismatch',
  'currency_mismatch',
  'duplicate',
  'fee_difference',
] as const;
export type LineClass = (typeof LINE_CLASSES)[number];
export type DiscrepancyKind = Exclude<LineClass, 'matched'>;

const countSchema = z.number().int().nonnegative();

export const discrepancySchema = z.strictObject({
  /** `d<n>`, numbered from 1 in the order found. */
  discrepancyId: z.string().regex(/^d[1-9][0-9]{0,5}$/),
  kind: z.enum(LINE_CLASSES).exclude(['matched']),
  /** The report line (1 is the first line after a CSV header); null for what the report lacks. */
  line: z.number().int().positive().nullable(),
  /** The provider's transaction id; null for what the report lacks. */
  providerTransactionId: idSchema.nullable(),
  type: z.enum(REPORT_LINE_TYPES),
  /** The order id (charge, refund, fee) or payout id (payout) the line refers to. */
  reference: idSchema.nullable(),
  /** What the ledger holds; null when it holds nothing. */
  ledgerAmountMinor: z.number().int().nonnegative().nullable(),
  ledgerCurrency: currencySchema.nullable(),
  /** What the report says; null for what it lacks. */
  reportedAmountMinor: z.number().int().nonnegative().nullable(),
  reportedCurrency: currencySchema.nullable(),
  reportedFeeMinor: z.number().int().nonnegative().nullable(),
  /** Payouts of these parties, and of the parties of these orders, pause until it is resolved. */
  orderIds: z.array(idSchema).max(MAX_HELD_PER_DISCREPANCY),
  partyIds: z.array(idSchema).max(MAX_HELD_PER_DISCREPANCY),
});
export type Discrepancy = z.infer<typeof discrepancySchema>;

export const lineCountsSchema = z.strictObject(
  Object.fromEntries(LINE_CLASSES.map((name) => [name, countSchema])) as Record<LineClass, typeof countSchema>,
);
export type LineCounts = z.infer<typeof lineCountsSchema>;

export const reconciliationRecordedSchema = z.strictObject({
  reconciliationId: idSchema,
  /** SHA-256 of the report's bytes as received. */
  reportSha256: sha256Schema,
  format: z.enum(['csv', 'jsonl']),
  reportBytes: countSchema,
  lineCount: countSchema,
  /** The period compared: ledger records in it that the report lacks are missing at the provider. */
  fromTs: timestampSchema,
  toTs: timestampSchema,
  counts: lineCountsSchema,
  discrepancyCount: z.number().int().nonnegative().max(MAX_DISCREPANCIES),
});
export type ReconciliationRecorded = z.infer<typeof reconciliationRecordedSchema>;

export const discrepanciesFoundSchema = z.strictObject({
  reconciliationId: idSchema,
  discrepancies: z.array(discrepancySchema).min(1).max(DISCREPANCIES_PER_EVENT),
});

export const discrepancyResolvedSchema = z.strictObject({
  reconciliationId: idSchema,
  discrepancyId: z.string().regex(/^d[1-9][0-9]{0,5}$/),
  reason: textSchema,
  resolvedBy: idSchema,
});

export type ReconciliationEvent =
  | { type: 'reconciliation.recorded'; data: ReconciliationRecorded }
  | { type: 'reconciliation.discrepancies_found'; data: z.infer<typeof discrepanciesFoundSchema> }
  | { type: 'reconciliation.discrepancy_resolved'; data: z.infer<typeof discrepancyResolvedSchema> };

export const reconciliationEventSchemas = {
  'reconciliation.recorded': reconciliationRecordedSchema,
  'reconciliation.discrepancies_found': discrepanciesFoundSchema,
  'reconciliation.discrepancy_resolved': discrepancyResolvedSchema,
} as const;
