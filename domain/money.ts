/**
 * Money is an integer count of minor units plus an ISO 4217 currency code,
 * never a float (docs/FORMAT.md section 1).
 */
import { CodedError } from './errors.ts';

export const CURRENCY_PATTERN = /^[A-Z]{3}$/;
/**
 * The largest amount of one price or one ledger entry, in minor units
 * (a billion in a two-decimal currency). Far below 2^53 so that sums of many
 * entries and `amount × basis points` stay exact.
 */
export const MAX_AMOUNT_MINOR = 100_000_000_000;
/** Basis points in a whole: royalty splits sum to it, fees are a part of it. */
export const BASIS_POINTS_TOTAL = 10_000;

export function isAmountMinor(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) > 0 && (value as number) <= MAX_AMOUNT_MINOR;
}

export function requireAmount(value: number, code: string, what: string): void {
  if (!isAmountMinor(value)) {
    throw new CodedError(
      code,
      `${what} must be a positive integer count of minor units of at most ${MAX_AMOUNT_MINOR} (got ${value})`,
      {
        amountMinor: value,
      },
    );
  }
}

export function requireCurrency(value: string, code: string): void {
  if (!CURRENCY_PATTERN.test(value))
    throw new CodedError(code, `currency must be an ISO 4217 code like EUR (got ${JSON.stringify(value)})`, {
      currency: value,
    });
}

/** `amountMinor × basisPoints / 10,000`, rounded down, exactly. */
export function shareOf(amountMinor: number, basisPoints: number): number {
  return Number((BigInt(amountMinor) * BigInt(basisPoints)) / BigInt(BASIS_POINTS_TOTAL));
}
