import test from 'ava';
import fc from 'fast-check';
import { CodedError } from '../../domain/errors.ts';
import { formatMinor, isKnownCurrency, minorUnitExponent, requireCurrency } from '../../domain/money.ts';

test('current ISO 4217 codes are accepted; made-up, crypto, historic and non-money codes are refused', (t) => {
  for (const code of ['EUR', 'USD', 'JPY', 'KWD', 'CHF', 'XAF', 'XOF', 'XPF', 'XCD'])
    t.true(isKnownCurrency(code), code);
  for (const code of ['ZZZ', 'BTC', 'XXX', 'XTS', 'XAU', 'XDR', 'XSU', 'DEM', 'ESP', 'eur', 'EURO', '']) {
    t.false(isKnownCurrency(code), code);
    const error = t.throws(() => requireCurrency(code, 'INVALID_CURRENCY'), { instanceOf: CodedError });
    t.is(error?.code, 'INVALID_CURRENCY');
  }
});

test('each currency has its ISO 4217 minor-unit exponent', (t) => {
  t.is(minorUnitExponent('EUR'), 2);
  t.is(minorUnitExponent('JPY'), 0);
  t.is(minorUnitExponent('KRW'), 0);
  t.is(minorUnitExponent('KWD'), 3);
  t.is(minorUnitExponent('BHD'), 3);
  // The runtime's locale data shows these without decimals; ISO 4217 gives them two.
  t.is(minorUnitExponent('HUF'), 2);
  t.is(minorUnitExponent('IDR'), 2);
});

test('amounts are shown with the exponent of their currency, exactly', (t) => {
  t.is(formatMinor(1234, 'EUR'), '12.34');
  t.is(formatMinor(5, 'EUR'), '0.05');
  t.is(formatMinor(-5, 'KWD'), '-0.005');
  t.is(formatMinor(500, 'JPY'), '500');
  t.is(formatMinor(0, 'USD'), '0.00');
  t.is(formatMinor(100_000_000_000, 'EUR'), '1000000000.00');
});

test('a shown amount reads back as the same count of minor units', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: -100_000_000_000, max: 100_000_000_000 }),
      fc.constantFrom('EUR', 'JPY', 'KWD'),
      (amountMinor, currency) => {
        const shown = formatMinor(amountMinor, currency);
        t.is(Number(shown.replace('.', '')), amountMinor);
      },
    ),
  );
});
