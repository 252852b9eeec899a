/**
 * audit-verify -i on a file a tamperer wrote: a lone surrogate in a record's
 * meta, or bytes that are not UTF-8, give exit 1 and a finding at the
 * record's chain and seq, never exit 2 (could not run).
 */
import test from 'ava';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { VerifyReport } from '../../verifier/verify.ts';
import { runCli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/runtime.ts';
import { VECTORS_DIRECTORY } from '../vectors/generate.ts';

const HAPPY = join(VECTORS_DIRECTORY, 'cases', 'happy');
const lines = readFileSync(join(HAPPY, 'records.jsonl'), 'utf8').split('\n');
const NOT_UTF8 = '\u0001not-utf8\u0001';
const MAIN_SEQ_3 = lines.findIndex((line) => line.includes('"chain":"main"')) + 2;

for (const [what, change] of [
  ['a lone surrogate in meta', (line: string) => line.replace(/"meta":\{/, '"meta":{"traceId":"\\ud800",')],
  ['a lone surrogate in actor.id', (line: string) => line.replace(/"actor":\{"id":"/, '"actor":{"id":"\\udc00')],
  ['bytes that are not UTF-8', (line: string) => line.replace('"actor":{"id":"', `"actor":{"id":"${NOT_UTF8}`)],
] as const) {
  test(`${what}: audit-verify -i exits 1 with a finding at the record, not 2`, async (t) => {
    const folder = tempDir('hostile');
    t.teardown(() => rmSync(folder, { recursive: true, force: true }));
    const file = join(folder, 'records.jsonl');
    const changed = [...lines];
    changed[MAIN_SEQ_3] = change(changed[MAIN_SEQ_3]!);
    t.not(changed[MAIN_SEQ_3], lines[MAIN_SEQ_3]);
    // The marker stands for two bytes that are not UTF-8 (0xff 0xfe).
    const parts = changed.join('\n').split(NOT_UTF8);
    writeFileSync(
      file,
      Buffer.concat(
        parts.flatMap((part, index) => [...(index > 0 ? [Buffer.from([0xff, 0xfe])] : []), Buffer.from(part)]),
      ),
    );
    const result = await runCli(['audit-verify', '-i', file, '-s', join(HAPPY, 'signers.json'), '--json']);
    t.is(result.code, 1, result.stderr);
    const report = JSON.parse(result.stdout) as VerifyReport;
    t.like(report.finding, { chain: 'main', seq: 3, reason: 'malformed-record' });
    if (what.includes('UTF-8')) t.regex(report.finding!.message, /not valid UTF-8/);
  });
}
