import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { tempDir } from '../../../helpers/runtime.ts';
import { CLI } from '../../../helpers/cli.ts';
import { PROJECTIONS } from '../../../../projections/projections.ts';

function chainbook(dataDir: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const env: NodeJS.ProcessEnv = { ...process.env, CHAINBOOK_DATA_DIR: dataDir };
  delete env['DATABASE_URL'];
  const result = spawnSync(process.execPath, [...CLI, ...args], { env, encoding: 'utf8', timeout: 120_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('demo runs on the embedded default; replay --compare, proof issue and verify-proof agree with it; a tampered proof exits 1', (t) => {
  const dataDir = join(tempDir('cli'), '.chainbook');
  const demo = chainbook(dataDir, ['demo', '--orders', '3']);
  t.is(demo.status, 0, demo.stderr);
  t.regex(demo.stdout, /audit-verify: OK/);
  t.regex(demo.stdout, /EUR: debits [\d.]+, credits [\d.]+, total 0\.00/);
  t.regex(demo.stdout, /ledger\s+[0-9a-f]{64}/);

  const replayed = chainbook(dataDir, ['replay', '--compare', '--threads', '0']);
  t.is(replayed.status, 0, replayed.stdout + replayed.stderr);
  t.is(
    (replayed.stdout.match(/= live/g) ?? []).length,
    PROJECTIONS.length,
    "every projection's digest equals the live one",
  );

  const proofPath = join(dataDir, 'proofs', readdirSync(join(dataDir, 'proofs'))[0]!);
  const signers = join(dataDir, 'signers.json');
  const verified = chainbook(dataDir, [
    'verify-proof',
    '--proof',
    proofPath,
    '--signers',
    signers,
    '--data-dir',
    dataDir,
  ]);
  t.is(verified.status, 0, verified.stdout + verified.stderr);
  t.regex(verified.stdout, /range_hash and head_hash recompute from the chain, whose records verify/);

  const proof = JSON.parse(readFileSync(proofPath, 'utf8')) as { canonical_payload: string };
  const tamperedPath = join(dataDir, 'tampered.json');
  writeFileSync(
    tamperedPath,
    JSON.stringify({
      ...proof,
      canonical_payload: proof.canonical_payload.replace('"kind":"ledger-range"', '"kind":"ledger-rangf"'),
    }),
  );
  const tampered = chainbook(dataDir, ['verify-proof', '--proof', tamperedPath, '--signers', signers]);
  t.is(tampered.status, 1, tampered.stdout + tampered.stderr);
  t.regex(tampered.stdout, /payload-mismatch/);

  const usage = chainbook(dataDir, ['verify-proof', '--proof', proofPath]);
  t.is(usage.status, 2);

  const out = join(dataDir, 'range.json');
  const issued = chainbook(dataDir, ['proof', 'issue', '--from-seq', '1', '--to-seq', '5', '--out', out]);
  t.is(issued.status, 0, issued.stderr);
  const range = JSON.parse(readFileSync(out, 'utf8')) as { inclusion?: string };
  t.like(range, { kind: 'ledger-range', from_seq: 1, to_seq: 5 });
  // As GET /ledger/proofs/{id} serves it: with the inclusion proof of its record at to_seq (a checkpoint was due).
  t.regex(range.inclusion ?? '', /^c2sp\.org\/tlog-proof@v1\n/);
  t.regex(range.inclusion ?? '', /\nindex 4\n/);
  t.regex(issued.stderr, /with the inclusion proof of seq 5/);
  const checked = chainbook(dataDir, ['verify-proof', '--proof', out, '--signers', signers, '--data-dir', dataDir]);
  t.is(checked.status, 0, checked.stdout + checked.stderr);
  t.regex(checked.stdout, /its record is in the tree of \d+ leaves of chainbook\/main/);
  // A changed hash of the inclusion path fails verify-proof.
  const lines = range.inclusion!.split('\n');
  lines[3] = lines[3] === lines[4] ? lines[3]!.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) : lines[4]!;
  const broken = join(dataDir, 'broken-inclusion.json');
  writeFileSync(broken, JSON.stringify({ ...range, inclusion: lines.join('\n') }));
  const refused = chainbook(dataDir, ['verify-proof', '--proof', broken, '--signers', signers]);
  t.is(refused.status, 1, refused.stdout + refused.stderr);
});
