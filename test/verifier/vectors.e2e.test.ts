import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { VerifyReport } from '../../verifier/verify.ts';
import { runCli } from '../helpers/cli.ts';
import { INDEX_FILE, VECTORS_DIRECTORY, type IndexEntry } from '../vectors/generate.ts';

const index = (JSON.parse(readFileSync(join(VECTORS_DIRECTORY, INDEX_FILE), 'utf8')) as { cases: IndexEntry[] }).cases;

for (const entry of index) {
  test(`vector ${entry.name}: chainbook audit-verify exits ${entry.expected.exitCode}${entry.expected.finding ? ` at ${entry.expected.finding.chain} seq ${entry.expected.finding.seq}` : ''}`, async (t) => {
    const args = [
      'audit-verify',
      '--input',
      join(VECTORS_DIRECTORY, entry.records),
      '-s',
      join(VECTORS_DIRECTORY, entry.signers),
      ...entry.args,
      '--json',
    ];
    const result = await runCli(args);
    t.is(result.code, entry.expected.exitCode, result.stderr);
    const report = JSON.parse(result.stdout) as VerifyReport;
    const finding = report.finding
      ? { chain: report.finding.chain, seq: report.finding.seq, reason: report.finding.reason }
      : null;
    t.deepEqual(finding, entry.expected.finding);
  });
}
