import test from 'ava';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { VerifyReport } from '../../verifier/verify.ts';
import { runCli } from '../helpers/cli.ts';
import { INDEX_FILE, VECTORS_DIRECTORY, type IndexEntry } from '../vectors/generate.ts';

const index = (JSON.parse(readFileSync(join(VECTORS_DIRECTORY, INDEX_FILE), 'utf8')) as { cases: IndexEntry[] }).cases;

/** audit-verify of a vector's records against its signers, with its own arguments, as JSON. */
const auditVerifyArgs = (entry: IndexEntry): string[] => [
  'audit-verify',
  '--input',
  join(VECTORS_DIRECTORY, entry.records),
  '-s',
  join(VECTORS_DIRECTORY, entry.signers),
  ...entry.args,
  '--json',
];

for (const entry of index) {
  test(`vector ${entry.name}: chainbook audit-verify exits ${entry.expected.exitCode}${entry.expected.finding ? ` at ${entry.expected.finding.chain} seq ${entry.expected.finding.seq}` : ''}`, async (t) => {
    const args = auditVerifyArgs(entry);
    const result = await runCli(args);
    t.is(result.code, entry.expected.exitCode, result.stderr);
    const report = JSON.parse(result.stdout) as VerifyReport;
    const finding = report.finding
      ? { chain: report.finding.chain, seq: report.finding.seq, reason: report.finding.reason }
      : null;
    t.deepEqual(finding, entry.expected.finding);
  });
}

const SPILLED = [
  'happy',
  'duplicate-id',
  'duplicate-id-across-chains',
  'stream-version-gap',
  'stream-starts-at-version-2',
];

for (const name of SPILLED) {
  test(`vector ${name}: audit-verify --memory-budget 1 spills and reports what it reports in memory`, async (t) => {
    const entry = index.find((candidate) => candidate.name === name)!;
    const temporary = mkdtempSync(join(tmpdir(), 'chainbook-spill-e2e-'));
    t.teardown(() => rmSync(temporary, { recursive: true, force: true }));
    const args = auditVerifyArgs(entry);
    const withoutTime = (stdout: string): unknown => ({ ...(JSON.parse(stdout) as VerifyReport), elapsedMs: 0 });
    const inMemory = await runCli(args);
    const spilled = await runCli([...args, '--memory-budget', '1'], { env: { TMPDIR: temporary } });
    t.is(spilled.code, inMemory.code, spilled.stderr);
    t.deepEqual(withoutTime(spilled.stdout), withoutTime(inMemory.stdout));
    t.deepEqual(
      readdirSync(temporary).filter((file) => file.startsWith('chainbook-verify-')),
      [],
      'the spill folder is removed',
    );
  });
}
