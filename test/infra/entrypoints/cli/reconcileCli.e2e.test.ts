import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { runCli } from '../../../helpers/cli.ts';
import { openTestDatabase } from '../../../helpers/databases.ts';
import { csvOf, jsonlOf, reportFromLedger } from '../../../helpers/providerReports.ts';
import { tempDir } from '../../../helpers/runtime.ts';

test('reconcile --report FILE records the run offline: exit 0 when clean, 1 with the discrepancies, 1 naming a bad line', async (t) => {
  const database = await openTestDatabase('postgres');
  const dataDir = tempDir('cli-reconcile');
  t.teardown(async () => {
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const env = { DATABASE_URL: database.location, CHAINBOOK_DATA_DIR: dataDir };
  t.is((await runCli(['demo', '--orders', '5'], { env })).code, 0);
  const lines = await reportFromLedger(database.db);
  const day = new Date().toISOString().slice(0, 10);
  const period = ['--from', day, '--to', day];

  const clean = join(dataDir, 'clean.jsonl');
  writeFileSync(clean, jsonlOf(lines));
  const matched = await runCli(['reconcile', '--report', clean, ...period], { env });
  t.is(matched.code, 0, matched.stderr);
  t.like(JSON.parse(matched.stdout), { discrepancyCount: 0, format: 'jsonl', lineCount: lines.length });

  const short = join(dataDir, 'short.csv');
  writeFileSync(short, csvOf(lines.slice(1)));
  const found = await runCli(['reconcile', '--report', short, ...period, '--csv'], { env });
  t.is(found.code, 1, found.stderr);
  t.regex(found.stdout, new RegExp(`\\nd1,missing_at_provider,open,,,${lines[0]!.type},${lines[0]!.reference},`));
  t.regex(found.stderr, /1 discrepancies recorded at seq \d+/);

  const bad = join(dataDir, 'bad.csv');
  writeFileSync(bad, `${csvOf(lines)}txn_x,chargeback,1,0,EUR,${day}T00:00:00Z,o\n`);
  const refused = await runCli(['reconcile', '--report', bad, ...period], { env });
  t.is(refused.code, 1);
  t.regex(refused.stderr, new RegExp(`report line ${lines.length + 2}: unknown type "chargeback"`));
});
