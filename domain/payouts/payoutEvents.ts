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

/** The payout provider accepted the payout (in its run, or resubmitted by finance); its answer comes later. */
export const payoutSubmittedSchema = z.strictObject({
  payoutId: idSchema,
  /** The provider's name (`PayoutProvider.name`). */
  provider: idSchema,
});
export const payoutSettledSchema = z.strictObject({
  payoutId: idSchema,
  providerEventId: idSchema,
  ledgerTransactionId: idSchema,
});
export const payoutFailedSchema = z.strictObject({
  payoutId: idSchema,
  providerEventId: idSchema,
  reason: textSchema,
  ledgerTransactionId: idSchema,
});

export type PayoutEvent =
  | { type: 'payout.initiated'; data: PayoutInitiated }
  | { type: 'payout.submitted'; data: z.infer<typeof payoutSubmittedSchema> }
  | { type: 'payout.settled'; data: z.infer<typeof payoutSettledSchema> }
  | { type: 'payout.failed'; data: z.infer<typeof payoutFailedSchema> };

export const payoutEventSchemas = {
  'payout.initiated': payoutInitiatedSchema,
  'payout.submitted': payoutSubmittedSchema,
  'payout.settled': payoutSettledSchema,
  'payout.failed': payoutFailedSchema,
} as const;
