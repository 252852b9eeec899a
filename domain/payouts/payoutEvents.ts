/**
 * Events of a payout (stream `payout-<payoutId>`): money the platform owes a
 * party (a seller or a royalty holder) leaves its payables for the payout
 * provider, the provider accepts it, then says whether it arrived.
 */
import { z } from 'zod';
import { ACCOUNT_PATTERN } from '../ledger/accounts.ts';
import { amountSchema, currencySchema, idSchema, textSchema } from '../schemas.ts';

/** Payable accounts one payout drains: the party's seller and royalty payables. */
export const MAX_PAYOUT_SOURCES = 2;

export const payoutSourceSchema = z.strictObject({
  /** A `liability:seller-payable:<party>` or `liability:royalty-payable:<party>` account. */
  account: z.string().regex(ACCOUNT_PATTERN),
  amountMinor: amountSchema,
});
export type PayoutSource = z.infer<typeof payoutSourceSchema>;

export const payoutInitiatedSchema = z.strictObject({
  payoutId: idSchema,
  runId: idSchema,
  partyId: idSchema,
  currency: currencySchema,
  /** What is sent to the party: the payables drained, less what the party owed the platform. */
  amountMinor: amountSchema,
  sources: z.array(payoutSourceSchema).min(1).max(MAX_PAYOUT_SOURCES),
  /** What the party owed the platform (a refund after it was paid), netted here; 0 when nothing. */
  nettedMinor: z.number().int().nonnegative(),
  ledgerTransactionId: idSchema,
});
export type PayoutInitiated = z.infer<typeof payoutInitiatedSchema>;

/**
 * The provider's own id of what it made for a payout (Stripe: the transfer's
 * `tr_…`). Stripe's ids have underscores, ours none, so it is not an idSchema.
 */
export const providerReferenceSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/);

/** The payout provider accepted the payout (in its run, or resubmitted by finance); its answer comes later. */
export const payoutSubmittedSchema = z.strictObject({
  payoutId: idSchema,
  /** The provider's name (`PayoutProvider.name`). */
  provider: idSchema,
  /** What the provider made for it, when it said (Stripe: the transfer id); absent in records before it was kept. */
  providerReference: providerReferenceSchema.optional(),
});
export const payoutSettledSchema = z.strictObject({
  payoutId: idSchema,
  providerEventId: idSchema,
  /** The provider's id of what settled it (Stripe: the transfer id), when its answer named one. */
  providerReference: providerReferenceSchema.optional(),
  ledgerTransactionId: idSchema,
});
export const payoutFailedSchema = z.strictObject({
  payoutId: idSchema,
  providerEventId: idSchema,
  providerReference: providerReferenceSchema.optional(),
  reason: textSchema,
  ledgerTransactionId: idSchema,
});
/**
 * The provider took back a payout it had settled (Stripe: the transfer fully
 * reversed after its creation): the money is back on the provider balance and
 * owed to the party again. A discrepancy opened with it holds the party's
 * payouts until finance has looked.
 */
export const payoutReversedSchema = z.strictObject({
  payoutId: idSchema,
  providerEventId: idSchema,
  providerReference: providerReferenceSchema.optional(),
  reason: textSchema,
  ledgerTransactionId: idSchema,
});

/** Discrepancies one payout may have: each is a provider answer that did not fit. */
export const MAX_PAYOUT_DISCREPANCIES = 100;
export const PAYOUT_DISCREPANCY_KINDS = [
  /** A transfer other than the one recorded for this payout: the party may be paid twice. */
  'second_transfer',
  /** The provider's transfer is not this payout's: another amount, currency, party or destination account. */
  'transfer_mismatch',
  /** A settled payout taken back (payout.reversed). */
  'reversed_after_settlement',
  /** Part of the payout's transfer taken back: nothing posted, finance decides. */
  'partial_reversal',
  /** A transfer made for a payout recorded failed or reversed (its money owed again): the party may be paid twice. */
  'settled_after_failure',
] as const;
export type PayoutDiscrepancyKind = (typeof PAYOUT_DISCREPANCY_KINDS)[number];
export const payoutDiscrepancyIdSchema = z.string().regex(/^d[1-9][0-9]{0,2}$/, 'd1, d2, …');

/**
 * A provider answer about a payout that did not fit what the chain holds.
 * It holds the payout's party (and the party the provider named, when
 * another) out of payout runs until finance resolves it.
 */
export const payoutDiscrepancyOpenedSchema = z.strictObject({
  payoutId: idSchema,
  discrepancyId: payoutDiscrepancyIdSchema,
  kind: z.enum(PAYOUT_DISCREPANCY_KINDS),
  providerEventId: idSchema,
  providerReference: providerReferenceSchema.optional(),
  /** What the provider said, in our words: amounts, accounts and ids only. */
  detail: textSchema,
  partyIds: z.array(idSchema).min(1).max(2),
});
export const payoutDiscrepancyResolvedSchema = z.strictObject({
  payoutId: idSchema,
  discrepancyId: payoutDiscrepancyIdSchema,
  reason: textSchema,
  resolvedBy: idSchema,
});
export type PayoutDiscrepancyOpened = z.infer<typeof payoutDiscrepancyOpenedSchema>;

export type PayoutEvent =
  | { type: 'payout.initiated'; data: PayoutInitiated }
  | { type: 'payout.submitted'; data: z.infer<typeof payoutSubmittedSchema> }
  | { type: 'payout.settled'; data: z.infer<typeof payoutSettledSchema> }
  | { type: 'payout.failed'; data: z.infer<typeof payoutFailedSchema> }
  | { type: 'payout.reversed'; data: z.infer<typeof payoutReversedSchema> }
  | { type: 'payout.discrepancy_opened'; data: PayoutDiscrepancyOpened }
  | { type: 'payout.discrepancy_resolved'; data: z.infer<typeof payoutDiscrepancyResolvedSchema> };

export const payoutEventSchemas = {
  'payout.initiated': payoutInitiatedSchema,
  'payout.submitted': payoutSubmittedSchema,
  'payout.settled': payoutSettledSchema,
  'payout.failed': payoutFailedSchema,
  'payout.reversed': payoutReversedSchema,
  'payout.discrepancy_opened': payoutDiscrepancyOpenedSchema,
  'payout.discrepancy_resolved': payoutDiscrepancyResolvedSchema,
} as const;
