import { rmSync } from 'node:fs';
import test from 'ava';
import { runCli } from '../../../helpers/cli.ts';
import { openTestDatabase } from '../../../helpers/databases.ts';
import { tempDir } from '../../../helpers/runtime.ts';

test('payouts run after the demo pays each party once; run again it pays nothing; a phantom currency exits 1', async (t) => {
  const database = await openTestDatabase('postgres');
  const dataDir = tempDir('cli-payouts');
  t.teardown(async () => {
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const env = { DATABASE_URL: database.location, CHAINBOOK_DATA_DIR: dataDir };
  const demo = await runCli(['demo', '--orders', '6'], { env });
  t.is(demo.code, 0, demo.stderr);

  const first = await runCli(['payouts', 'run'], { env });
  t.is(first.code, 0, first.stderr);
  const { payouts } = JSON.parse(first.stdout) as { payouts: { partyId: string; amountMinor: number }[] };
  t.true(payouts.length >= 3);
  t.is(new Set(payouts.map((payout) => payout.partyId)).size, payouts.length, 'one payout per party');
  t.regex(first.stderr, /payout po-[0-9a-f]{32}: \d+\.\d{2} EUR to /);

  const again = await runCli(['payouts', 'run'], { env });
  t.is(again.code, 0, again.stderr);
  t.deepEqual((JSON.parse(again.stdout) as { payouts: unknown[] }).payouts, []);

  const phantom = await runCli(['payouts', 'run', '--currency', 'ZZZ'], { env });
  t.is(phantom.code, 1);
  t.regex(phantom.stderr, /INVALID_CURRENCY/);
});
