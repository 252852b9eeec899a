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
  t.like(JSON.parse(readFileSync(out, 'utf8')), { kind: 'ledger-range', from_seq: 1, to_seq: 5 });
});
