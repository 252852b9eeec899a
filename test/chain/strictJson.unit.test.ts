import test from 'ava';
import fc from 'fast-check';
import { MAX_JSON_DEPTH, parseStrictJson, parseStrictJsonBytes, StrictJsonError } from '../../chain/strictJson.ts';

/** JSON values the strict parser must read exactly as JSON.parse does: well-formed strings without NUL, safe integers, non-integral doubles. */
const acceptable = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
    fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => !Number.isInteger(x)),
    fc.string({ unit: 'grapheme' }).filter((text) => !text.includes('\u0000')),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(
      fc.string().filter((key) => !key.includes('\u0000')),
      tie('value'),
      { maxKeys: 5 },
    ),
  ),
})).value;

test('on acceptable JSON, the strict parser gives what JSON.parse gives, with any whitespace', (t) => {
  fc.assert(
    fc.property(acceptable, fc.boolean(), (value, pretty) => {
      const text = JSON.stringify(value, null, pretty ? 2 : undefined);
      t.deepEqual(parseStrictJson(text), JSON.parse(text));
    }),
    { numRuns: 300 },
  );
});

test('__proto__ is an own key, as with JSON.parse, never the prototype', (t) => {
  const parsed = parseStrictJson('{"__proto__":{"admin":true}}') as Record<string, unknown>;
  t.is(Object.getPrototypeOf(parsed), Object.prototype);
  t.deepEqual(Object.keys(parsed), ['__proto__']);
});

const REFUSED: [string, string, RegExp][] = [
  ['a repeated key', '{"amount":1,"amount":1000}', /appears twice/],
  ['a repeated key written with an escape', '{"a":1,"\\u0061":2}', /appears twice/],
  ['a fraction rounding to an integer', '{"amountMinor":1999.0000000000001}', /fraction or exponent/],
  ['an exponent giving an integer', '[1e3]', /fraction or exponent/],
  ['a zero fraction', '[2.0]', /fraction or exponent/],
  ['an integer past 2^53 - 1', '[9007199254740993]', /outside/],
  ['an overflowing number', '[1e400]', /out of range/],
  ['an escaped NUL', '{"reason":"a\\u0000b"}', /NUL/],
  ['an escaped lone surrogate', '{"name":"\\ud800"}', /lone surrogate/],
  ['a lone surrogate in a key', '{"\\udc00":1}', /lone surrogate/],
  ['a raw control character', '["a\nb"]', /control character/],
  ['trailing text', '{} {}', /after the JSON value/],
  ['a trailing comma', '[1,]', /unexpected/],
  ['a leading zero', '[01]', /expected/],
  ['an unknown escape', '["\\x41"]', /unknown escape/],
  ['a short unicode escape', '["\\u12"]', /four hex digits/],
  ['an unterminated string', '["abc', /unterminated/],
  ['nothing', '', /end of the JSON text/],
  ['too deep', '['.repeat(MAX_JSON_DEPTH + 1) + ']'.repeat(MAX_JSON_DEPTH + 1), /nested deeper/],
];

for (const [what, text, message] of REFUSED) {
  test(`the strict parser refuses ${what}`, (t) => {
    const error = t.throws(() => parseStrictJson(text), { instanceOf: StrictJsonError });
    t.regex(error.message, message);
  });
}

test('non-integral numbers and nesting up to the limit are accepted', (t) => {
  t.deepEqual(parseStrictJson('[1.5, -0.25, 1e-3, 12]'), [1.5, -0.25, 0.001, 12]);
  const deep = '['.repeat(MAX_JSON_DEPTH) + ']'.repeat(MAX_JSON_DEPTH);
  t.notThrows(() => parseStrictJson(deep));
});

test('bytes that are not UTF-8, and a byte order mark, are refused rather than replaced by U+FFFD', (t) => {
  t.throws(() => parseStrictJsonBytes(Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d])), {
    message: /not valid UTF-8/,
  });
  t.throws(() => parseStrictJsonBytes(Buffer.from('\ufeff{}', 'utf8')), { message: /byte order mark/ });
  t.deepEqual(parseStrictJsonBytes(Buffer.from('{"name":"Ωé😀"}', 'utf8')), { name: 'Ωé😀' });
});

test('arbitrary bytes either parse to what JSON.parse gives or are refused with a StrictJsonError', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      try {
        const value = parseStrictJsonBytes(bytes);
        t.deepEqual(value, JSON.parse(Buffer.from(bytes).toString('utf8')));
      } catch (error) {
        t.true(error instanceof StrictJsonError);
      }
    }),
    { numRuns: 2000 },
  );
});
