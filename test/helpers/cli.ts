/**
 * Runs the real CLI as an operator or auditor would, from the source: `node --import tsx bin/chainbook.ts`,
 * so that a test always runs the code it sits beside. bin/chainbook.js, the compiled build, is tested
 * in test/build.e2e.test.ts.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The node arguments that start the CLI; its own arguments follow. */
export const CLI: readonly string[] = [
  '--import',
  'tsx',
  fileURLToPath(new URL('../../bin/chainbook.ts', import.meta.url)),
];
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
