import test from 'ava';
import fc from 'fast-check';
import canonicalize from 'canonicalize';
import { jcs, payloadJcs, recordJcs } from '../../chain/canonical.ts';
import { FORMAT_VERSION, payloadOf, type ChainRecord } from '../../chain/record.ts';
import { jsonObject } from '../arbitraries.ts';

const label = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 10 });
const record: fc.Arbitrary<ChainRecord> = fc.record({
  v: fc.constant(FORMAT_VERSION),
  chain: fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,10}$/),
  seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  id: fc.uuid(),
  type: fc.constantFrom('order.created', 'ledger.posted'),
  stream: label,
  version: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  ts: fc
    .date({ min: new Date(0), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true })
    .map((d) => d.toISOString()),
  actor: fc.record({ id: label, role: label }),
  data: jsonObject,
  meta: fc.record({ idempotencyKey: label, traceId: label }, { requiredKeys: [] }),
  prevHash: fc.stringMatching(/^[0-9a-f]{64}$/),
  hash: fc.stringMatching(/^[0-9a-f]{64}$/),
  sig: fc.record({ kid: label, alg: label, value: fc.base64String() }),
});

test('payloadJcs is canonicalize of the payload for any record', (t) => {
  fc.assert(
    fc.property(record, (r) => {
      t.is(payloadJcs(payloadOf(r)), canonicalize(payloadOf(r))!);
    }),
    { numRuns: 500 },
  );
});

test('recordJcs is canonicalize of the whole record for any record', (t) => {
  fc.assert(
    fc.property(record, (r) => {
      t.is(recordJcs(r), canonicalize(r)!);
    }),
    { numRuns: 500 },
  );
});

test('jcs sorts members by UTF-16 code units and writes integers plainly (RFC 8785)', (t) => {
  t.is(
    jcs({ b: 1, a: [true, null, 'x'], '\u00e9': 0, A: -9007199254740991 }),
    '{"A":-9007199254740991,"a":[true,null,"x"],"b":1,"é":0}',
  );
});
