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

/**
 * Codes in ISO 4217 that are not money anyone pays with: no currency (XXX),
 * the testing code (XTS), precious metals, the SDR and other units of
 * account, bond-market units and fund codes.
 */
const NOT_TRADED_CURRENCIES: ReadonlySet<string> = new Set([
  'XXX',
  'XTS',
  'XAU',
  'XAG',
  'XPD',
  'XPT',
  'XDR',
  'XSU',
  'XUA',
  'XBA',
  'XBB',
  'XBC',
  'XBD',
  'BOV',
  'CHE',
  'CHW',
  'CLF',
  'COU',
  'MXV',
  'USN',
  'UYI',
  'UYW',
]);

/**
 * The ISO 4217 minor-unit exponent of every currency whose exponent is not 2
 * (ISO 4217 list one, the "minor unit" column). The runtime's locale data
 * rounds some of these for cash (HUF, IDR show 0 decimals there), so the
 * exponent is taken from the standard, not from the formatter.
 */
const MINOR_UNIT_EXPONENTS: Readonly<Record<string, number>> = {
  BIF: 0,
  CLP: 0,
  DJF: 0,
  GNF: 0,
  ISK: 0,
  JPY: 0,
  KMF: 0,
  KRW: 0,
  PYG: 0,
  RWF: 0,
  UGX: 0,
  VND: 0,
  VUV: 0,
  XAF: 0,
  XOF: 0,
  XPF: 0,
  BHD: 3,
  IQD: 3,
  JOD: 3,
  KWD: 3,
  LYD: 3,
  OMR: 3,
  TND: 3,
};

/**
 * The currencies we accept: the runtime's list of current ISO 4217 codes
 * (`Intl.supportedValuesOf('currency')`, maintained with the ICU data that
 * ships with Node), less the codes that are not traded money. Historic codes
 * (DEM, ESP) and made-up ones (ZZZ, BTC) are not in it.
 */
const ACCEPTED_CURRENCIES: ReadonlySet<string> = new Set(
  Intl.supportedValuesOf('currency').filter((code) => !NOT_TRADED_CURRENCIES.has(code)),
);

export function isKnownCurrency(value: string): boolean {
  return CURRENCY_PATTERN.test(value) && ACCEPTED_CURRENCIES.has(value);
}

/** Digits after the decimal point of the currency's major unit: 2 for EUR, 0 for JPY, 3 for KWD. */
export function minorUnitExponent(currency: string): number {
  return MINOR_UNIT_EXPONENTS[currency] ?? 2;
}

/** `1234` EUR → `"12.34"`, `-5` KWD → `"-0.005"`, `500` JPY → `"500"`: exact, no float. */
export function formatMinor(amountMinor: number, currency: string): string {
  const exponent = minorUnitExponent(currency);
  const digits = Math.abs(amountMinor)
    .toString()
    .padStart(exponent + 1, '0');
  const sign = amountMinor < 0 ? '-' : '';
  if (exponent === 0) return `${sign}${digits}`;
  return `${sign}${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
}

/**
 * Refuses anything but a current, traded ISO 4217 code. Commands check this
 * when they decide; projections and replay check only CURRENCY_PATTERN, so a
 * chain recorded before this check still replays.
 */
export function requireCurrency(value: string, code: string): void {
  if (!isKnownCurrency(value))
    throw new CodedError(
      code,
      `currency must be a current ISO 4217 code of traded money like EUR or JPY (got ${JSON.stringify(value)})`,
      { currency: value },
    );
}

/** `amountMinor × basisPoints / 10,000`, rounded down, exactly. */
export function shareOf(amountMinor: number, basisPoints: number): number {
  return Number((BigInt(amountMinor) * BigInt(basisPoints)) / BigInt(BASIS_POINTS_TOTAL));
}
