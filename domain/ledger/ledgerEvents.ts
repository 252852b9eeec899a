/**
 * Events of the double-entry ledger. A posted transaction is its own stream,
 * `ledger-<transactionId>`, so that the store's expected version 0 makes a
 * transaction id unique and a retried post idempotent. A proof is recorded in
 * `proof-<proofId>`.
 */
import { z } from 'zod';
import { amountSchema, currencySchema, idSchema, sha256Schema, textSchema, timestampSchema } from '../schemas.ts';
import { ACCOUNT_PATTERN } from './accounts.ts';

/** Entries in one ledger transaction. */
export const MAX_LEDGER_ENTRIES = 100;
/** Ledger rows (transactions) one proof covers. */
export const MAX_PROOF_ROWS = 1_000_000;

export const ledgerEntrySchema = z.strictObject({
  account: z.string().regex(ACCOUNT_PATTERN),
  direction: z.enum(['debit', 'credit']),
  amountMinor: amountSchema,
  currency: currencySchema,
});
export type LedgerEntry = z.infer<typeof ledgerEntrySchema>;

export const ledgerPostedSchema = z.strictObject({
  transactionId: idSchema,
  entries: z.array(ledgerEntrySchema).min(2).max(MAX_LEDGER_ENTRIES),
  reason: textSchema,
  /** The order a marketplace posting belongs to, when it does. */
  orderId: idSchema.optional(),
});
export type LedgerTransaction = z.infer<typeof ledgerPostedSchema>;

export const proofIssuedSchema = z.strictObject({
  proofId: idSchema,
  kind: z.literal('ledger-range'),
  chain: z.string().min(1).max(63),
  fromSeq: z.number().int().positive(),
  toSeq: z.number().int().positive(),
  fromTs: timestampSchema,
  toTs: timestampSchema,
  rangeHash: sha256Schema,
  headHash: sha256Schema,
  ledgerRowCount: z.number().int().nonnegative().max(MAX_PROOF_ROWS),
  signerKid: z.string().min(1).max(128),
  alg: z.string().min(1).max(32),
  /** Base64 signature over the proof's canonical_payload (docs/FORMAT.md section 9). */
  signature: z.string().min(1).max(2048),
  /** SHA-256 of canonical_payload, to find the proof document again. */
  payloadSha256: sha256Schema,
  /**
   * The proof document's `ts` (when it was signed), so that a verifier can
   * rebuild canonical_payload from the chain and check the signature
   * (docs/FORMAT.md section 5, check 5b). Absent from records written before it.
   */
  proofTs: timestampSchema.optional(),
});
export type ProofIssued = z.infer<typeof proofIssuedSchema>;

export type LedgerEvent =
  { type: 'ledger.posted'; data: LedgerTransaction } | { type: 'ledger.proof_issued'; data: ProofIssued };

export const ledgerEventSchemas = {
  'ledger.posted': ledgerPostedSchema,
  'ledger.proof_issued': proofIssuedSchema,
} as const;
