import test, { type ExecutionContext } from 'ava';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { VerifyReport } from '../../../../verifier/verify.ts';
import { runCli, type CliResult } from '../../../helpers/cli.ts';
import { openTestDatabase, type TestDatabase } from '../../../helpers/databases.ts';
import { tempDir } from '../../../helpers/runtime.ts';

interface Setup {
  test: TestDatabase;
  dataDir: string;
  /** DATABASE_URL of the test database and a data folder for the local signer and its registry. */
  env: Record<string, string>;
}

/** A migrated PostgreSQL test database and a fresh data folder, removed after the test. */
async function setup(t: ExecutionContext): Promise<Setup> {
  const database = await openTestDatabase('postgres');
  const dataDir = tempDir('cli');
  t.teardown(async () => {
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return { test: database, dataDir, env: { DATABASE_URL: database.location, CHAINBOOK_DATA_DIR: dataDir } };
}

function eventLine(stream: string, priceMinor: number): string {
  return JSON.stringify({
    stream,
    type: 'quote.recorded',
    data: { priceMinor, currency: 'EUR' },
    actor: { id: 'buyer-1', role: 'Buyer' },
  });
}

/** Appends `count` events through the CLI (streams quote-1, quote-2, …; priceMinor 1001, 1002, …). */
async function appendEvents(t: ExecutionContext, s: Setup, count: number): Promise<void> {
  const input = Array.from({ length: count }, (_, index) => `${eventLine(`quote-${index + 1}`, 1001 + index)}\n`).join(
    '',
  );
  const result = await runCli(['append'], { env: s.env, input });
  t.is(result.code, 0, result.stderr);
}

async function storedTexts(s: Setup): Promise<string[]> {
  const { rows } = await s.test.db.query<{ record: string }>('SELECT record FROM events ORDER BY chain, seq');
  return rows.map((row) => row.record);
}

function reportOf(result: CliResult): VerifyReport {
  return JSON.parse(result.stdout) as VerifyReport;
}

function findingOf(result: CliResult): { seq: number; reason: string } | undefined {
  const finding = reportOf(result).finding;
  return finding && { seq: finding.seq, reason: finding.reason };
}

test('--help works for every command', async (t) => {
  for (const command of [[], ['audit-verify'], ['dump'], ['append'], ['signers'], ['signers', 'export'], ['demo']]) {
    const result = await runCli([...command, '--help']);
    t.is(result.code, 0, `${command.join(' ')}: ${result.stderr}`);
    t.regex(result.stdout, new RegExp(`^Usage: chainbook ${command.join(' ')}`), command.join(' '));
  }
});

test('append reads JSON Lines from stdin and prints seq and hash per event', async (t) => {
  const s = await setup(t);
  const result = await runCli(['append'], {
    env: s.env,
    input: `${eventLine('quote-1', 1001)}\n\n${eventLine('quote-2', 1002)}\n`,
  });
  t.is(result.code, 0, result.stderr);
  const printed = result.stdout
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as { seq: number; hash: string });
  t.deepEqual(
    printed.map((event) => event.seq),
    [1, 2],
  );
  const stored = (await storedTexts(s)).map((text) => JSON.parse(text) as { hash: string });
  t.deepEqual(
    printed.map((event) => event.hash),
    stored.map((record) => record.hash),
  );
});

test('append stops at a rejected line with exit 1, naming it, and appends nothing for it or after it', async (t) => {
  const s = await setup(t);
  const input = [eventLine('quote-1', 1001), eventLine('quote-2', 19.99), eventLine('quote-3', 1003)].join('\n');
  const result = await runCli(['append'], { env: s.env, input });
  t.is(result.code, 1);
  t.regex(result.stderr, /line 2 rejected, nothing appended for it: INVALID_EVENT: .*19\.99/);
  t.is(result.stdout.trimEnd().split('\n').length, 1);
  t.is((await storedTexts(s)).length, 1);
});

test('append keeps the projections: a domain event whose data does not fit its schema is rejected and nothing is appended', async (t) => {
  const s = await setup(t);
  const line = JSON.stringify({
    stream: 'order-1',
    type: 'order.created',
    data: { priceMinor: 1001 },
    actor: { id: 'buyer-1', role: 'Buyer' },
  });
  const result = await runCli(['append'], { env: s.env, input: `${eventLine('quote-1', 1001)}\n${line}\n` });
  t.is(result.code, 1);
  t.regex(
    result.stderr,
    /line 2 rejected, nothing appended for it: INVALID_DOMAIN_EVENT: order\.created data does not fit its schema/,
  );
  t.is((await storedTexts(s)).length, 1);
});

test('append refuses a line that JSON.parse would change (a repeated key, an integral number with a fraction, invalid UTF-8, NUL): exit 1, nothing appended for it', async (t) => {
  const s = await setup(t);
  const good = eventLine('quote-1', 1001);
  const cases: [string, string | Buffer, RegExp][] = [
    ['a repeated key', good.replace('"priceMinor":1001', '"priceMinor":1,"priceMinor":1001'), /appears twice/],
    ['an integral number with a fraction', good.replace('1001', '1001.00000000000001'), /fraction or exponent/],
    [
      'invalid UTF-8',
      Buffer.concat([
        Buffer.from(good.split('EUR')[0]!),
        Buffer.from([0x45, 0xff, 0x52]),
        Buffer.from(good.split('EUR')[1]!),
      ]),
      /not valid UTF-8/,
    ],
    ['NUL', good.replace('EUR', 'E\\u0000R'), /NUL/],
  ];
  for (const [what, line, message] of cases) {
    const result = await runCli(['append'], { env: s.env, input: line });
    t.is(result.code, 1, `${what}: ${result.stderr}`);
    t.regex(result.stderr, message, what);
  }
  t.is((await storedTexts(s)).length, 0);
});

test('append treats a line that is not JSON as a rejected line', async (t) => {
  const s = await setup(t);
  const result = await runCli(['append'], {
    env: s.env,
    input: `${eventLine('quote-1', 1001)}\n{"stream":\n${eventLine('quote-3', 1003)}\n`,
  });
  t.is(result.code, 1);
  t.regex(result.stderr, /line 2 rejected, nothing appended for it: USAGE: line 2 is not JSON/);
  t.is((await storedTexts(s)).length, 1);
});

test('dump prints exactly the stored text, and its output piped into audit-verify --input - verifies', async (t) => {
  const s = await setup(t);
  await appendEvents(t, s, 5);
  const dump = await runCli(['dump'], { env: s.env });
  t.is(dump.code, 0, dump.stderr);
  t.is(dump.stdout, (await storedTexts(s)).map((text) => `${text}\n`).join(''));
  const verified = await runCli(['audit-verify', '--input', '-', '-s', join(s.dataDir, 'signers.json'), '--json'], {
    input: dump.stdout,
  });
  t.is(verified.code, 0, verified.stdout);
  t.like(reportOf(verified), { ok: true, records: 5, source: 'standard input' });
});

test('dump --from --to prints that range only', async (t) => {
  const s = await setup(t);
  await appendEvents(t, s, 5);
  const dump = await runCli(['dump', '--from', '2', '--to', '3'], { env: s.env });
  t.is(dump.code, 0, dump.stderr);
  t.is(
    dump.stdout,
    (await storedTexts(s))
      .slice(1, 3)
      .map((text) => `${text}\n`)
      .join(''),
  );
});

test('signers export prints the registry in use with public keys only', async (t) => {
  const s = await setup(t);
  await appendEvents(t, s, 1);
  const result = await runCli(['signers', 'export'], { env: s.env });
  t.is(result.code, 0, result.stderr);
  t.notRegex(result.stdout, /PRIVATE/);
  const registry = JSON.parse(result.stdout) as {
    signers: { signer_kid: string; algorithm: string; public_key_pem: string }[];
  };
  t.is(registry.signers.length, 1);
  t.like(registry.signers[0], { algorithm: 'ed25519' });
  t.regex(registry.signers[0]!.public_key_pem, /^-----BEGIN PUBLIC KEY-----\n/);
  const [stored] = (await storedTexts(s)).map((text) => JSON.parse(text) as { sig: { kid: string } });
  t.is(registry.signers[0]!.signer_kid, stored!.sig.kid);
});

test('audit-verify exits 2 when it cannot run: unreadable or invalid registry, bad arguments, unknown chain, unreachable database', async (t) => {
  const s = await setup(t);
  await appendEvents(t, s, 2);
  const invalidRegistry = join(s.dataDir, 'invalid-signers.json');
  writeFileSync(invalidRegistry, '{"signers": [{"signer_kid": "k"}]}');
  const cases: [string[], RegExp][] = [
    [['-s', join(s.dataDir, 'missing.json')], /SIGNER_REGISTRY_UNREADABLE/],
    [['-s', invalidRegistry], /INVALID_SIGNER_REGISTRY/],
    [['--limit', 'many'], /--limit must be an integer/],
    [['--prev-hash', 'abc'], /--prev-hash must be 64 lowercase hex digits/],
    [['--no-such-option'], /unknown option/],
    [['--chain', 'nope'], /UNKNOWN_CHAIN/],
    [['-d', 'postgres://postgres@127.0.0.1:1/chainbook'], /cannot read the event log/],
    [['--input', join(s.dataDir, 'missing.jsonl')], /SOURCE_UNREADABLE/],
  ];
  for (const [args, message] of cases) {
    const result = await runCli(['audit-verify', ...args], { env: s.env });
    t.is(result.code, 2, args.join(' '));
    t.regex(result.stderr, message, args.join(' '));
  }
});

test('audit-verify exits 1 naming the seq of a record a superuser changed by one byte', async (t) => {
  const s = await setup(t);
  await appendEvents(t, s, 5);
  await s.test.superuser(
    `UPDATE events SET record = replace(record, '"priceMinor":1003', '"priceMinor":1004') WHERE seq = 3`,
  );
  const json = await runCli(['audit-verify', '--json'], { env: s.env });
  t.is(json.code, 1);
  t.deepEqual(findingOf(json), { seq: 3, reason: 'hash-mismatch' });
  const text = await runCli(['audit-verify'], { env: s.env });
  t.is(text.code, 1);
  t.regex(text.stdout, /^audit-verify: FAILED at chain main seq 3: hash-mismatch/);
});

test('audit-verify reports a deleted middle record at the gap', async (t) => {
  const s = await setup(t);
  await appendEvents(t, s, 5);
  await s.test.superuser('DELETE FROM events WHERE seq = 3');
  const result = await runCli(['audit-verify', '--json'], { env: s.env });
  t.is(result.code, 1);
  t.deepEqual(findingOf(result), { seq: 3, reason: 'seq-gap' });
});

test('audit-verify reports records deleted at the tail against the head row', async (t) => {
  const s = await setup(t);
  await appendEvents(t, s, 5);
  await s.test.superuser('DELETE FROM events WHERE seq >= 4');
  const result = await runCli(['audit-verify', '--json'], { env: s.env });
  t.is(result.code, 1);
  t.deepEqual(findingOf(result), { seq: 4, reason: 'head-mismatch' });
});

test('audit-verify --limit N checks only the last N records, anchored on the one before', async (t) => {
  const s = await setup(t);
  await appendEvents(t, s, 5);
  await s.test.superuser(
    `UPDATE events SET record = replace(record, '"priceMinor":1002', '"priceMinor":1012') WHERE seq = 2`,
  );
  const tail = await runCli(['audit-verify', '--limit', '3', '--json'], { env: s.env });
  t.is(tail.code, 0, tail.stdout);
  t.like(reportOf(tail).chains[0], { chain: 'main', fromSeq: 3, toSeq: 5, records: 3 });
  const longer = await runCli(['audit-verify', '--limit', '4', '--json'], { env: s.env });
  t.is(longer.code, 1);
  t.deepEqual(findingOf(longer), { seq: 2, reason: 'hash-mismatch' });
});

test('the embedded database: append, dump and audit-verify with only a data folder', async (t) => {
  const dataDir = tempDir('cli-embedded');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const env = { CHAINBOOK_DATA_DIR: dataDir };
  const appended = await runCli(['append'], {
    env,
    input: `${eventLine('quote-1', 1001)}\n${eventLine('quote-2', 1002)}\n`,
  });
  t.is(appended.code, 0, appended.stderr);
  const verified = await runCli(['audit-verify', '--json'], { env });
  t.is(verified.code, 0, verified.stdout);
  t.like(reportOf(verified), { ok: true, records: 2 });
  const dump = await runCli(['dump', '--data-dir', dataDir]);
  t.is(dump.code, 0, dump.stderr);
  t.is(dump.stdout.trimEnd().split('\n').length, 2);
  t.true(readFileSync(join(dataDir, 'signers.json'), 'utf8').includes('BEGIN PUBLIC KEY'));
});
