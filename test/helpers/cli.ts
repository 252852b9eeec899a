/**
 * Runs the real CLI as an operator or auditor would, always the code the test sits beside: the
 * compiled build (bin/chainbook.js) when dist/ is newer than every file it is built from, as after
 * `npm install`, and otherwise the source itself, `node --import tsx bin/chainbook.ts`. The compiled
 * build starts in a third of the time (its own checks: test/scripts/build.e2e.test.ts).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { compiledBuildIsCurrent, ROOT } from './build.ts';

/** The node arguments that start the CLI; its own arguments follow. */
export const CLI: readonly string[] = compiledBuildIsCurrent()
  ? [join(ROOT, 'bin', 'chainbook.js')]
  : ['--import', 'tsx', join(ROOT, 'bin', 'chainbook.ts')];
/** Longer than any command here takes; a hung CLI fails its test instead of stalling the run. */
const CLI_TIMEOUT_MS = 60_000;

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** Variables added to a copy of this process's environment, minus DATABASE_URL unless given. */
  env?: Record<string, string>;
  /** Written to the command's standard input, which is then closed. */
  input?: string | Buffer;
}

export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  const { DATABASE_URL: _inherited, ...inherited } = process.env;
  const child = spawn(process.execPath, [...CLI, ...args], {
    env: { ...inherited, ...options.env },
    stdio: 'pipe',
    timeout: CLI_TIMEOUT_MS,
  });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  child.stdin.end(options.input ?? '');
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ code, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') }),
    );
  });
}
