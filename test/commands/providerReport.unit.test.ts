import test from 'ava';
import { createHash } from 'node:crypto';
import { reportLines, type ReportDigest } from '../../commands/reconciliation/providerReport.ts';
import { CodedError } from '../../domain/errors.ts';
import { classifier, expectationKey, type LedgerExpectation } from '../../domain/reconciliation/lineClassifier.ts';

async function* chunks(text: string, size: number): AsyncGenerator<Uint8Array> {
  const bytes = Buffer.from(text);
  for (let start = 0; start < bytes.length; start += size) yield bytes.subarray(start, start + size);
}

async function read(text: string, format: 'csv' | 'jsonl' = 'csv', size = 5) {
  const digest: Partial<ReportDigest> = {};
  const lines = [];
  for await (const line of reportLines(chunks(text, size), format, digest)) lines.push(line);
  return { lines, digest };
}

const HEADER = 'id,type,amount,fee,currency,created,reference';

test('CSV: columns in any order, quoted fields, a BOM, CRLF, blank lines, lower-case currencies; the hash is of the bytes received', async (t) => {
  const text = `\uFEFFreference,created,currency,amount,type,id\r\n"o-1",2025-11-01T10:00:00Z,eur,1999,charge,"txn_1"\r\n\r\no-2,2025-11-02T10:00:00.123Z,JPY,500,refund,txn_2\r\n`;
  const { lines, digest } = await read(text);
  t.deepEqual(
    lines.map((l) => [l.line, l.transactionId, l.type, l.amountMinor, l.currency, l.reference, l.feeMinor]),
    [
      [2, 'txn_1', 'charge', 1999, 'EUR', 'o-1', 0],
      [4, 'txn_2', 'refund', 500, 'JPY', 'o-2', 0],
    ],
  );
  t.is(digest.sha256, createHash('sha256').update(text).digest('hex'));
  t.is(digest.lines, 2);
});

test('JSON Lines: one object per line, the same fields', async (t) => {
  const text = `{"id":"txn_1","type":"payout","amount":1440,"currency":"EUR","created":"2025-11-01T10:00:00Z","reference":"po-1"}\n{"id":"txn_2","type":"fee","amount":30,"fee":0,"currency":"EUR","created":"2025-11-01T10:00:00Z"}`;
  const { lines } = await read(text, 'jsonl', 13);
  t.deepEqual(
    lines.map((l) => [l.line, l.type, l.reference]),
    [
      [1, 'payout', 'po-1'],
      [2, 'fee', null],
    ],
  );
});

test('a bad line is refused with its line number and why', async (t) => {
  const cases: [string, RegExp][] = [
    [`${HEADER}\ntxn_1,charge,1.5,0,EUR,2025-11-01T10:00:00Z,o-1\n`, /^report line 2: amount must be a whole number/],
    [`${HEADER}\ntxn_1,charge,0,0,EUR,2025-11-01T10:00:00Z,o-1\n`, /^report line 2: amount must be positive/],
    [`${HEADER}\ntxn_1,charge,5,-1,EUR,2025-11-01T10:00:00Z,o-1\n`, /^report line 2: fee must be/],
    [`${HEADER}\ntxn_1,charge,5,0,BTC,2025-11-01T10:00:00Z,o-1\n`, /^report line 2: currency "BTC"/],
    [`${HEADER}\ntxn 1,charge,5,0,EUR,2025-11-01T10:00:00Z,o-1\n`, /^report line 2: id must match/],
    [`${HEADER}\ntxn_1,charge,5,0,EUR,2025-11-01,o-1\n`, /^report line 2: created must be/],
    [`${HEADER}\n"txn_1,charge,5,0,EUR,2025-11-01T10:00:00Z,o-1\n`, /^report line 2: a quoted field is not closed/],
    [`${HEADER},extra\n`, /^report line 1: unknown column\(s\) extra/],
    [
      `${HEADER}\ntxn_1,charge,5,0,EUR,2025-11-01T10:00:00Z,o-1\n\ntxn_1,charge,5,0,EUR,2025-11-01T10:00:00Z,o-2\n`,
      /^report line 4: transaction id txn_1 repeats the one of line 2/,
    ],
    [
      `${HEADER}\ntxn_1,charge,5,0,EUR,2025-11-01T10:00:00Z,${'o'.repeat(5000)}\n`,
      /^report line 2: longer than 4096 bytes/,
    ],
    ['', /^report line 1: the report is empty/],
  ];
  for (const [text, why] of cases) {
    const error = await t.throwsAsync(read(text), { instanceOf: CodedError });
    t.is(error?.code, 'REPORT_INVALID', text.slice(0, 60));
    t.regex(error?.message ?? '', why);
  }
  const notUtf8 = Buffer.concat([
    Buffer.from(`${HEADER}\ntxn_1,charge,5,0,EUR,2025-11-01T10:00:00Z,o-`),
    Buffer.from([0xff, 0xfe]),
    Buffer.from('\n'),
  ]);
  async function* once(): AsyncGenerator<Uint8Array> {
    yield notUtf8;
  }
  const error = await t.throwsAsync(async () => {
    for await (const _ of reportLines(once(), 'csv', {})) void _;
  });
  t.regex(error?.message ?? '', /not UTF-8/);
});

test('a 200,000-line report streams through the same path: every line matched, a duplicate id at the end found with both lines', async (t) => {
  const size = 200_000;
  const expectations = new Map<string, LedgerExpectation>();
  const body: string[] = [HEADER];
  for (let index = 1; index <= size; index++) {
    body.push(`txn_${index},charge,${100 + (index % 97)},0,EUR,2025-11-01T10:00:00Z,order-${index}`);
    expectations.set(expectationKey('charge', `order-${index}`), {
      type: 'charge',
      reference: `order-${index}`,
      amountMinor: 100 + (index % 97),
      currency: 'EUR',
      orderIds: [],
      partyIds: [],
      inPeriod: true,
    });
  }
  const text = `${body.join('\n')}\n`;
  const lines = classifier(expectations);
  const digest: Partial<ReportDigest> = {};
  for await (const line of reportLines(chunks(text, 64 * 1024), 'csv', digest)) t.is(lines.add(line), undefined);
  t.deepEqual(lines.finish(), []);
  t.like(lines.counts, { matched: size });
  t.is(digest.lines, size);
  const error = await t.throwsAsync(read(`${text}txn_77,charge,1,0,EUR,2025-11-01T10:00:00Z,x\n`, 'csv', 64 * 1024));
  t.regex(
    error?.message ?? '',
    new RegExp(`^report line ${size + 2}: transaction id txn_77 repeats the one of line 78`),
  );
});
