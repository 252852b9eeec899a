/**
 * The verifier under hostile input (docs/FORMAT.md section 5): whatever the
 * bytes of a line, audit-verify gives a pass or a finding at a seq of a
 * chain, never an exception. Every string of a record must be well-formed
 * Unicode (section 1): a lone surrogate anywhere is a malformed record.
 */
import test from 'ava';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { preimageOf, sha256 } from '../../chain/hash.ts';
import { payloadOf, type ChainRecord } from '../../chain/record.ts';
import { parseRegistryText, type SignerRegistry } from '../../chain/registry.ts';
import { inProcessChecker } from '../../verifier/inProcessChecker.ts';
import { checkLine } from '../../verifier/line.ts';
import { verify, type VerifyReport } from '../../verifier/verify.ts';
import { linesReader, readLinesBytes, readLinesText } from '../../infra/adapters/files/fileReader.ts';
import { signHash } from '../vectors/build.ts';
import { KEY_V1 } from '../vectors/chains.ts';
import { VECTORS_DIRECTORY } from '../vectors/generate.ts';

const HAPPY = join(VECTORS_DIRECTORY, 'cases', 'happy');
const happyLines = readLinesText(readFileSync(join(HAPPY, 'records.jsonl'), 'utf8'));
const registry: SignerRegistry = parseRegistryText(readFileSync(join(HAPPY, 'signers.json'), 'utf8'));
/** Main's records are after finance's in the file; main's record 5 is signed by v1. */
const MAIN_FIRST_LINE = happyLines.findIndex((line) => line.includes('"chain":"main"'));

async function verifyLines(lines: readonly string[]): Promise<VerifyReport> {
  return verify(linesReader('test lines', lines), inProcessChecker(registry));
}

/**
 * JCS as far as JSON.stringify goes (members sorted), without refusing lone
 * surrogates as the canonicalize package does: the text a tamperer writes.
 */
function looseJcs(value: unknown): string {
  if (typeof value !== 'object' || value === null) return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(looseJcs).join(',')}]`;
  const members = Object.keys(value).sort();
  return `{${members.map((key) => `${JSON.stringify(key)}:${looseJcs((value as Record<string, unknown>)[key])}`).join(',')}}`;
}

function looseRecordText(record: ChainRecord): string {
  return looseJcs(record);
}

/** Main's record `seq` changed by `change`, hashed and signed again with the real key, so only the change is wrong. */
function resignedMain(seq: number, change: (record: ChainRecord) => ChainRecord): string[] {
  const lines = [...happyLines];
  const at = MAIN_FIRST_LINE + seq - 1;
  const record = change(JSON.parse(lines[at]!) as ChainRecord);
  const payloadText = looseJcs(payloadOf(record));
  const hash = sha256(preimageOf(payloadText, record.prevHash)).toString('hex');
  const signed = { ...record, hash, sig: signHash(KEY_V1, hash) as ChainRecord['sig'] };
  lines[at] = looseRecordText(signed);
  // The next record links to the old hash: the finding at `seq` must come first.
  return lines;
}

test('the happy vector passes (the baseline of the cases below)', async (t) => {
  t.true((await verifyLines(happyLines)).ok);
});

for (const [where, change] of [
  ['meta value', (r: ChainRecord) => ({ ...r, meta: { ...r.meta, traceId: '\ud800' } })],
  ['meta key', (r: ChainRecord) => ({ ...r, meta: { '\udc00': 'x' } as ChainRecord['meta'] })],
  ['actor.id', (r: ChainRecord) => ({ ...r, actor: { ...r.actor, id: 'buyer-\ud800' } })],
  ['actor.role', (r: ChainRecord) => ({ ...r, actor: { ...r.actor, role: '\udfffBuyer' } })],
] as const) {
  test(`a lone surrogate in ${where} of a hashed and signed record is a malformed record at its seq, not an exception`, async (t) => {
    const report = await verifyLines(resignedMain(5, change));
    t.like(report.finding, { chain: 'main', seq: 5, reason: 'malformed-record' });
    t.regex(report.finding!.message, /lone surrogate/);
  });
}

test('a lone surrogate in sig.kid is a malformed record', async (t) => {
  const lines = [...happyLines];
  const at = MAIN_FIRST_LINE + 4;
  lines[at] = lines[at]!.replace('"kid":"vectors-ed25519-v1"', '"kid":"vectors-\\ud800"');
  t.like((await verifyLines(lines)).finding, { chain: 'main', seq: 5, reason: 'malformed-record' });
});

/** Whether a report is a verdict: a pass, or a finding that names a chain and a seq. */
function isVerdict(report: VerifyReport): boolean {
  if (report.ok) return report.finding === undefined;
  return typeof report.finding?.chain === 'string' && Number.isSafeInteger(report.finding.seq);
}

test('any bytes at all, read as a file of lines, give a pass or a finding at a seq, never an exception', async (t) => {
  const line = fc.oneof(
    fc.uint8Array({ maxLength: 200 }),
    fc.string({ unit: 'binary', maxLength: 200 }).map((text) => Buffer.from(text)),
    fc.constantFrom(...happyLines).map((text) => Buffer.from(text)),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(line, { maxLength: 8 }), async (lines) => {
      const bytes = Buffer.concat(lines.flatMap((bytes, index) => (index > 0 ? [Buffer.from('\n'), bytes] : [bytes])));
      const texts = readLinesBytes(bytes);
      t.true(isVerdict(await verifyLines(texts)));
    }),
    { numRuns: 300 },
  );
});

/** Strings a tamperer would try: lone surrogates, controls, escapes, quotes, huge and non-ASCII. */
const hostileString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom('\ud800', '\udfff', 'a\udbff', '\u0000', '"', '\\', '\u2028', 'é', '😀', '1e400', '-0', '__proto__'),
);

/** One edit of a line's text: a slice replaced by a hostile string, raw or JSON-escaped. */
const textMutation = fc.record({
  at: fc.nat(),
  length: fc.nat({ max: 8 }),
  insert: fc.oneof(
    hostileString,
    hostileString.map((value) => JSON.stringify(value).slice(1, -1)),
  ),
});

test('any edit of a valid record is a finding at that record (main seq 10), never an exception', async (t) => {
  await fc.assert(
    fc.asyncProperty(textMutation, async ({ at, length, insert }) => {
      const lines = [...happyLines];
      const index = MAIN_FIRST_LINE + 9;
      const original = lines[index]!;
      const start = at % original.length;
      lines[index] = original.slice(0, start) + insert + original.slice(start + length);
      const report = await verifyLines(lines);
      if (lines[index] === original) t.true(report.ok);
      else t.like(report.finding, { chain: 'main', seq: 10 });
    }),
    { numRuns: 500 },
  );
});

test('any string put in any member of a valid record is a pass or a finding at that record, never an exception', async (t) => {
  const paths = [
    ['actor', 'id'],
    ['actor', 'role'],
    ['meta', 'traceId'],
    ['data', 'listing'],
    ['sig', 'kid'],
    ['sig', 'alg'],
    ['stream'],
    ['type'],
    ['ts'],
  ];
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...paths), hostileString, async (path, value) => {
      const lines = [...happyLines];
      const index = MAIN_FIRST_LINE + 9;
      const record = JSON.parse(lines[index]!) as Record<string, Record<string, unknown>>;
      if (path.length === 1) (record as Record<string, unknown>)[path[0]!] = value;
      else record[path[0]!] = { ...record[path[0]!], [path[1]!]: value };
      lines[index] = looseRecordText(record as unknown as ChainRecord);
      const report = await verifyLines(lines);
      t.like(report.finding, { chain: 'main', seq: 10 });
    }),
    { numRuns: 300 },
  );
});

const NOT_JCS = 'record text is not in canonical (JCS) form';

/** Main's record 5 (signed by v1) with `data`, hashed and signed again, as `write` puts it in text. */
function mainRecordWithData(data: Record<string, unknown>, write: (record: ChainRecord) => string): string {
  const record = { ...(JSON.parse(happyLines[MAIN_FIRST_LINE + 4]!) as ChainRecord), data } as ChainRecord;
  const hash = sha256(preimageOf(looseJcs(payloadOf(record)), record.prevHash)).toString('hex');
  return write({ ...record, hash, sig: signHash(KEY_V1, hash) as ChainRecord['sig'] });
}

test('JCS form: integer-like members in code-unit order pass, in JSON.parse order (or any other) they are not canonical', (t) => {
  // JSON.parse enumerates "9" before "10"; JCS sorts "10" before "9".
  const data = { '10': 'ten', '9': 'nine', listing: 'x' };
  const canonical = mainRecordWithData(data, looseRecordText);
  t.true(canonical.includes('"data":{"10":"ten","9":"nine","listing":"x"}'));
  t.like(checkLine(canonical, registry), { ok: true, hashOk: true, signature: { ok: true } });
  const parseOrder = mainRecordWithData(data, (record) =>
    looseRecordText(record).replace('"10":"ten","9":"nine"', '"9":"nine","10":"ten"'),
  );
  t.deepEqual(checkLine(parseOrder, registry), { ok: false, malformed: NOT_JCS });
  const negativeZero = mainRecordWithData({ listing: 0 }, (record) =>
    looseRecordText(record).replace('"listing":0', '"listing":-0'),
  );
  t.deepEqual(checkLine(negativeZero, registry), { ok: false, malformed: NOT_JCS });
  const duplicate = mainRecordWithData({ listing: 'x' }, (record) =>
    looseRecordText(record).replace('"listing":"x"', '"listing":"y","listing":"x"'),
  );
  t.deepEqual(checkLine(duplicate, registry), { ok: false, malformed: NOT_JCS });
});

test('JCS form: data that looks like the members after it is cut out of the text whole (the hash recomputes)', (t) => {
  const id = (JSON.parse(happyLines[MAIN_FIRST_LINE + 4]!) as ChainRecord).id;
  const data = { a: { hash: '0'.repeat(64), id, meta: {} }, data: { data: 1 }, z: ',"hash":"' };
  const text = mainRecordWithData(data, looseRecordText);
  t.like(checkLine(text, registry), { ok: true, hashOk: true, signature: { ok: true } });
});

test('JCS form: a record is refused as not canonical exactly when its text differs from JCS of its parse', (t) => {
  const member = fc.oneof(
    fc.constantFrom('10', '9', '0', 'a', 'B', '\u00e9', '\ud83d\ude00', '__proto__'),
    fc.string({ maxLength: 4 }),
  );
  const value = fc.oneof(
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.string({ maxLength: 6 }),
    fc.boolean(),
    fc.constant(null),
  );
  const data = fc.dictionary(
    member,
    fc.oneof(value, fc.dictionary(member, value, { maxKeys: 3 }), fc.array(value, { maxLength: 3 })),
    { maxKeys: 6 },
  );
  fc.assert(
    fc.property(data, fc.boolean(), (object, shuffled) => {
      // Written in JCS, or as JSON.stringify writes the object as built (insertion order, integer-like members first).
      const text = mainRecordWithData(object, (record) =>
        shuffled ? JSON.stringify(record) : looseRecordText(record),
      );
      const checked = checkLine(text, registry);
      const canonical = text === looseJcs(JSON.parse(text));
      if (checked.ok) t.true(canonical);
      else if (checked.malformed === NOT_JCS) t.false(canonical);
      else t.pass();
      if (checked.ok) t.true(checked.hashOk && checked.signature.ok);
    }),
    { numRuns: 300 },
  );
});

test('a line whose bytes are not UTF-8 is malformed at its seq, even where replacement characters would give a record', async (t) => {
  const bytes = Buffer.from(happyLines.join('\n'));
  const line = MAIN_FIRST_LINE + 6;
  const offset = Buffer.from(happyLines.slice(0, line).join('\n')).length + 1 + 2;
  bytes[offset] = 0xff;
  const report = await verifyLines(readLinesBytes(bytes));
  t.like(report.finding, { chain: 'main', seq: 7, reason: 'malformed-record' });
  t.regex(report.finding!.message, /not valid UTF-8/);
  t.deepEqual(readLinesBytes(Buffer.from(happyLines.join('\n') + '\n')), happyLines, 'valid lines read as they are');
});
