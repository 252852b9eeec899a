/**
 * Who a payout run pays, from the ledger's balances: per party and currency,
 * what its payables hold less what it owes the platform, when that reaches
 * the run's minimum. Never more than the payables hold. A party an open
 * discrepancy holds is skipped whole; what held orders put in a payable
 * (domain/holds) stays in it.
 */
import type { PayoutSource } from './payoutEvents.ts';

/** A party's balances in one currency, on each account's normal side. */
export interface PayeeBalance {
  partyId: string;
  currency: string;
  /** Its seller and royalty payables (zero or positive: they must not go negative). */
  payables: { account: string; balanceMinor: number }[];
  /** What it owes the platform (`asset:party-receivable:<party>`), zero or positive. */
  receivableMinor: number;
}

export interface PlannedPayout {
  partyId: string;
  currency: string;
  amountMinor: number;
  sources: PayoutSource[];
  nettedMinor: number;
}

/** The key of heldPayables: a payable account in one currency. */
export function payableKey(account: string, currency: string): string {
  return `${account} ${currency}`;
}

export interface PlanOptions {
  minimumMinor: number;
  heldParties?: ReadonlySet<string>;
  /** By payableKey: what held orders put in the payable (their postings to it, net), left in it. */
  heldPayables?: ReadonlyMap<string, number>;
}

export function planPayouts(
  balances: readonly PayeeBalance[],
  { minimumMinor, heldParties = new Set<string>(), heldPayables = new Map<string, number>() }: PlanOptions,
): PlannedPayout[] {
  const planned: PlannedPayout[] = [];
  for (const payee of balances) {
    if (heldParties.has(payee.partyId)) continue;
    const sources = payee.payables
      .map((payable) => ({
        account: payable.account,
        amountMinor:
          payable.balanceMinor - Math.max(0, heldPayables.get(payableKey(payable.account, payee.currency)) ?? 0),
      }))
      .filter((source) => source.amountMinor > 0);
    const drainedMinor = sources.reduce((sum, source) => sum + source.amountMinor, 0);
    const amountMinor = drainedMinor - payee.receivableMinor;
    if (amountMinor <= 0 || amountMinor < minimumMinor) continue;
    planned.push({
      partyId: payee.partyId,
      currency: payee.currency,
      amountMinor,
      sources,
      nettedMinor: payee.receivableMinor,
    });
  }
  return planned;
}
