/**
 * `chainbook checkpoint`, `prove` and `verify-inclusion` through the real CLI
 * on PostgreSQL (docs/FORMAT.md section 14): a proof file verifies offline
 * with the signer's public key alone (exit 0), a changed one is not proven
 * (exit 1), and bad arguments could not run (exit 2).
 */
import test from 'ava';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { verifyConsistency } from '../../../../chain/merkle.ts';
import { treeHasher } from '../../../../chain/treeCommit.ts';
import { runCli } from '../../../helpers/cli.ts';
import { openTestDatabase } from '../../../helpers/databases.ts';
import { tempDir } from '../../../helpers/runtime.ts';

function eventLine(stream: string): string {
  return JSON.stringify({ stream, type: 'quote.recorded', data: { n: 1 }, actor: { id: 'buyer-1', role: 'Buyer' } });
}

test('prove --seq writes a proof file that verify-inclusion checks offline; a changed file is not proven', async (t) => {
  const database = await openTestDatabase('postgres');
  const dataDir = tempDir('prove-cli');
  t.teardown(async () => {
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const env = { DATABASE_URL: database.location, CHAINBOOK_DATA_DIR: dataDir, CHECKPOINT_INTERVAL_RECORDS: '5' };
  const input = (from: number, count: number): string =>
    Array.from({ length: count }, (_, i) => `${eventLine(`quote-${from + i}`)}\n`).join('');
  t.is((await runCli(['append'], { env, input: input(1, 12) })).code, 0);
  const first = await runCli(['checkpoint'], { env });
  t.is(first.code, 0, first.stderr);
  t.regex(
    first.stdout,
    /^chainbook\/main\n12\n[A-Za-z0-9+/]{43}=\n\n\u2014 local-ed25519-[0-9a-f]{12} [A-Za-z0-9+/=]+\n$/,
  );
  t.is((await runCli(['append'], { env, input: input(13, 6) })).code, 0);

  const out = join(dataDir, 'seq7.tlog-proof');
  const proved = await runCli(['prove', '--seq', '7', '--out', out], { env });
  t.is(proved.code, 0, proved.stderr);
  const proof = readFileSync(out, 'utf8');
  t.true(proof.startsWith('c2sp.org/tlog-proof@v1\nextra '));
  t.true(proof.includes('\nindex 6\n'));

  const signers = JSON.parse(readFileSync(join(dataDir, 'signers.json'), 'utf8')) as {
    signers: { signer_kid: string; public_key_pem: string }[];
  };
  const signer = signers.signers[0]!;
  const pem = join(dataDir, 'pub.pem');
  writeFileSync(pem, signer.public_key_pem);
  const key = ['--public-key', pem, '--kid', signer.signer_kid];
  const verified = await runCli(['verify-inclusion', out, ...key, '--origin', 'chainbook/main']);
  t.is(verified.code, 0, verified.stdout + verified.stderr);
  t.regex(verified.stdout, /^OK: record 7 of main .* in the tree of 12 leaves of chainbook\/main/);

  const changed = join(dataDir, 'changed.tlog-proof');
  writeFileSync(changed, proof.replace('\nindex 6\n', '\nindex 5\n'));
  const refused = await runCli(['verify-inclusion', changed, ...key]);
  t.is(refused.code, 1);
  t.regex(refused.stdout, /^NOT PROVEN: index 5 is not the leaf of seq 7/);
  t.is((await runCli(['verify-inclusion', out, ...key, '--origin', 'elsewhere/main'])).code, 1);
  t.is((await runCli(['verify-inclusion', join(dataDir, 'missing'), ...key])).code, 2);

  // Record 15 is past the only checkpoint, and one is due (6 records since, CHECKPOINT_INTERVAL_RECORDS=5): prove makes it.
  const later = await runCli(['prove', '--seq', '15'], { env });
  t.is(later.code, 0, later.stderr);
  t.regex(later.stdout, /\nchainbook\/main\n18\n/);

  const consistency = await runCli(['prove', '--consistency', '12', '18'], { env });
  t.is(consistency.code, 0, consistency.stderr);
  const document = JSON.parse(consistency.stdout) as { oldRoot: string; newRoot: string; proof: string[] };
  const b64 = (text: string): Buffer => Buffer.from(text, 'base64');
  t.true(verifyConsistency(treeHasher, 12, 18, document.proof.map(b64), b64(document.oldRoot), b64(document.newRoot)));
  t.true(first.stdout.includes(`\n${document.oldRoot}\n`), 'the old root is the first checkpoint');

  for (const args of [
    ['prove', '--seq', '0'],
    ['prove', '--seq', 'x'],
    ['prove'],
    ['prove', '--seq', '1', '--consistency', '1', '2'],
    ['prove', '--consistency', '1'],
  ])
    t.is((await runCli(args, { env })).code, 2, args.join(' '));
  t.is((await runCli(['prove', '--seq', '19'], { env })).code, 1, 'no record 19 yet');
  t.is((await runCli(['prove', '--consistency', '3', '19'], { env })).code, 1, 'beyond the tree');
});
