/** fast-check arbitraries for what the chain records. */
import fc from 'fast-check';
import type { JsonObject, JsonValue } from '../domain/json.ts';
import type { AppendEventInput } from '../chain/input.ts';

const text = fc.string({ unit: 'grapheme', maxLength: 12 });

export const jsonValue: fc.Arbitrary<JsonValue> = fc.letrec<{ value: JsonValue; object: JsonObject }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.maxSafeInteger(),
    text,
    fc.array(tie('value'), { maxLength: 4 }),
    tie('object'),
  ),
  object: fc.dictionary(text, tie('value'), { maxKeys: 5 }),
})).value;

export const jsonObject: fc.Arbitrary<JsonObject> = fc.dictionary(text, jsonValue, { maxKeys: 6 });

export const streamName = fc
  .tuple(fc.constantFrom('order', 'listing', 'ledger', 'manifest'), fc.stringMatching(/^[a-z0-9]{1,6}$/))
  .map(([category, id]) => `${category}-${id}`);

export const appendEvent: fc.Arbitrary<AppendEventInput> = fc.record({
  stream: streamName,
  type: fc.constantFrom('order.created', 'order.paid', 'ledger.posted', 'listing.published'),
  data: jsonObject,
  actor: fc.record({ id: fc.stringMatching(/^[a-z]{1,8}$/), role: fc.constantFrom('Buyer', 'Operator', 'Service') }),
});
