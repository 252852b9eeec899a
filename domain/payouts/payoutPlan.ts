/**
 * Who a payout run pays, from the ledger's balances: per party and currency,
 * what its payables hold less what it owes the platform, when that reaches
 * the run's minimum. Never more than the payables hold.
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

export function planPayouts(
  balances: readonly PayeeBalance[],
  { minimumMinor, heldParties = new Set<string>() }: { minimumMinor: number; heldParties?: ReadonlySet<string> },
): PlannedPayout[] {
  const planned: PlannedPayout[] = [];
  for (const payee of balances) {
    if (heldParties.has(payee.partyId)) continue;
    const sources = payee.payables
      .filter((payable) => payable.balanceMinor > 0)
      .map((payable) => ({ account: payable.account, amountMinor: payable.balanceMinor }));
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
