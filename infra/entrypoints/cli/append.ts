/**
 * `chainbook append`: a low-level tool for operators and tests. Reads JSON
 * Lines on stdin, each {"stream", "type", "data", "actor", "expectedVersion"?,
 * "meta"?}, appends each in order, prints {"seq", "hash", …} per event. Stops
 * at the first rejected line (exit 1), naming it.
 */
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { loadConfig } from '../../wiring/config.ts';
import { openRuntime } from '../../wiring/runtime.ts';
import { describeError, EXIT, UsageError, writeOut } from './io.ts';

interface AppendCommandOptions {
  chain?: string;
}

function parseLine(line: string, lineNumber: number): unknown {
  try {
    return JSON.parse(line);
  } catch (error) {
    throw new UsageError(`line ${lineNumber} is not JSON: ${(error as Error).message}`);
  }
}

async function run(options: AppendCommandOptions): Promise<number> {
  const config = loadConfig();
  const chain = options.chain ?? config.defaultChain;
  const runtime = await openRuntime(config);
  let lineNumber = 0;
  try {
    for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
      lineNumber += 1;
      if (line.trim() === '') continue;
      try {
        const result = await runtime.store.append(chain, [parseLine(line, lineNumber) as never]);
        for (const appended of result.events) await writeOut(`${JSON.stringify({ chain, ...appended })}\n`);
      } catch (error) {
        // A line that is not JSON is a bad line like any other: the lines before it stay appended.
        process.stderr.write(
          `chainbook append: line ${lineNumber} rejected, nothing appended for it: ${describeError(error)}\n`,
        );
        return EXIT.failed;
      }
    }
    return EXIT.ok;
  } finally {
    await runtime.close();
  }
}

export function registerAppend(program: Command, exit: (code: number) => void): void {
  program
    .command('append')
    .description(
      'append events read as JSON Lines from stdin ({"stream","type","data","actor":{"id","role"},"expectedVersion"?,"meta"?}); prints seq and hash per event',
    )
    .option('--chain <name>', 'chain to append to (default: CHAINBOOK_CHAIN or main)')
    .action(async (options: AppendCommandOptions) => exit(await run(options)));
}
