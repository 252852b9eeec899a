/**
 * The hosted workflow (.github/workflows/ci.yml) and .ci/run call the same scripts (scripts/ci/),
 * and the signing gate's decisions that need no signer: skipped off protected branches, a failure
 * on one without REQUIRE_KMS or REQUIRE_SIGNING_PROXY. With either set it runs `chainbook signing
 * check` (test/scripts/build.e2e.test.ts, test/infra/entrypoints/cli/signingCheck.e2e.test.ts).
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';

const SCRIPT_PATTERN = /scripts\/ci\/[\w.-]+\.sh/g;

function scriptsIn(path: string): string[] {
  return [...new Set(readFileSync(path, 'utf8').match(SCRIPT_PATTERN) ?? [])].sort();
}

test('.ci/run and the hosted workflow call the same scripts, each present and executable', (t) => {
  const local = scriptsIn('.ci/run');
  const hosted = scriptsIn('.github/workflows/ci.yml');
  t.deepEqual(hosted, local);
  t.true(local.includes('scripts/ci/check-no-private-keys.sh'));
  t.true(local.includes('scripts/ci/signing-gate.sh'));
  for (const script of local) t.notThrows(() => accessSync(script, constants.X_OK), script);
});

function gate(env: Record<string, string>): { status: number | null; output: string } {
  const result = spawnSync('bash', ['scripts/ci/signing-gate.sh'], {
    env: { PATH: process.env['PATH'] ?? '', ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: result.status, output: result.stdout + result.stderr };
}

test('the signing gate is skipped without REQUIRE_KMS or REQUIRE_SIGNING_PROXY, and fails on a protected branch without them', (t) => {
  const skipped = gate({});
  t.is(skipped.status, 0, skipped.output);
  t.regex(skipped.output, /signing gate: skipped/);
  const protectedBranch = gate({ PROTECTED_BRANCH: 'true', REQUIRE_KMS: 'false' });
  t.is(protectedBranch.status, 1, protectedBranch.output);
  t.regex(protectedBranch.output, /a protected branch needs REQUIRE_KMS=true or REQUIRE_SIGNING_PROXY=true/);
});
