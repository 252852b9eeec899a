/**
 * The chart of accounts. An account id is `<kind>:<name>` or
 * `<kind>:<name>:<party>`; its kind is part of its id, so it never changes and
 * needs no lookup. Balances are kept per account and currency.
 */
import { CodedError } from '../errors.ts';

export const ACCOUNT_KINDS = ['asset', 'liability', 'revenue', 'expense', 'equity'] as const;
export type AccountKind = (typeof ACCOUNT_KINDS)[number];

export const ACCOUNT_PATTERN =
  /^(asset|liability|revenue|expense|equity):([a-z0-9][a-z0-9-]{0,39})(?::([A-Za-z0-9][A-Za-z0-9._:-]{0,99}))?$/;

/** The platform's accounts and the per-party families the marketplace posts to. */
export const ACCOUNTS = {
  /** Money the payment provider collected for us and holds until settlement. */
  paymentProvider: 'asset:payment-provider',
  /** What buyers paid for orders not yet finalized or refunded. */
  buyerClearing: 'liability:buyer-clearing',
  platformFees: 'revenue:platform-fees',
  sellerPayable: (publisherId: string) => `liability:seller-payable:${publisherId}`,
  royaltyPayable: (partyId: string) => `liability:royalty-payable:${partyId}`,
  /** Paid out to the party, not yet confirmed by the payout provider. */
  payoutsInTransit: (partyId: string) => `liability:payouts-in-transit:${partyId}`,
  /** What the party owes the platform: a refund of a sale whose share was already paid out. The next payout nets it. */
  partyReceivable: (partyId: string) => `asset:party-receivable:${partyId}`,
} as const;

/**
 * Accounts (by `<kind>:<name>`, any party) whose normal balance must never go
 * below zero: we cannot pay out more than we hold or owe. Checked against the
 * current balance in the same transaction as the post (projections/ledger).
 * Changing this set changes what old chains replay to: add, never remove.
 */
const MUST_NOT_GO_NEGATIVE = new Set([
  'asset:payment-provider',
  'liability:buyer-clearing',
  'liability:seller-payable',
  'liability:royalty-payable',
  'liability:payouts-in-transit',
  'asset:party-receivable',
]);

export interface ParsedAccount {
  kind: AccountKind;
  name: string;
  party: string | undefined;
}

export function parseAccount(account: string): ParsedAccount | undefined {
  const match = ACCOUNT_PATTERN.exec(account);
  if (!match) return undefined;
  return { kind: match[1] as AccountKind, name: match[2]!, party: match[3] };
}

export function requireAccount(account: string): ParsedAccount {
  const parsed = parseAccount(account);
  if (!parsed) {
    throw new CodedError(
      'LEDGER_INVALID_ACCOUNT',
      `account ${JSON.stringify(account)} is not <kind>:<name>[:<party>] with kind one of ${ACCOUNT_KINDS.join(', ')}`,
      {
        account,
      },
    );
  }
  return parsed;
}

export function accountKind(account: string): AccountKind {
  return requireAccount(account).kind;
}

export function mustNotGoNegative(account: string): boolean {
  const parsed = requireAccount(account);
  return MUST_NOT_GO_NEGATIVE.has(`${parsed.kind}:${parsed.name}`);
}

/**
 * The balance on the account's normal side from `debits − credits`: assets and
 * expenses grow with debits, liabilities, revenue and equity with credits.
 */
export function normalBalance(kind: AccountKind, debitMinusCreditMinor: number): number {
  return kind === 'asset' || kind === 'expense' ? debitMinusCreditMinor : -debitMinusCreditMinor;
}
