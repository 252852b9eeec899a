/**
 * `chainbook append`: a low-level tool for operators and tests. Reads JSON
 * Lines on stdin, each {"stream", "type", "data", "actor", "expectedVersion"?,
 * "meta"?}, appends each in order, prints {"seq", "hash", …} per event. Stops
 * at the first rejected line (exit 1), naming it. Lines are parsed strictly
 * (chain/strictJson.ts), from their bytes: what is appended is what was
 * written, or the line is refused.
 */
import type { Command } from 'commander';
import { parseStrictJsonBytes } from '../../../chain/strictJson.ts';
import { loadConfig } from '../../wiring/config.ts';
import { openRuntime } from '../../wiring/runtime.ts';
import { describeError, EXIT, UsageError, writeOut } from './io.ts';

interface AppendCommandOptions {
  chain?: string;
}

/** Longer lines are refused rather than held: far above what one event may carry (chain/limits.ts). */
const MAX_LINE_BYTES = 64 * 1024 * 1024;

/** The lines of a byte stream as bytes, so that invalid UTF-8 is refused rather than decoded to U+FFFD. */
async function* byteLines(input: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let pending = Buffer.alloc(0);
  for await (const chunk of input) {
    pending = Buffer.concat([pending, chunk]);
    let newline: number;
    while ((newline = pending.indexOf(0x0a)) !== -1) {
      yield pending.subarray(0, newline);
      pending = pending.subarray(newline + 1);
    }
    if (pending.length > MAX_LINE_BYTES) throw new UsageError(`a line is longer than ${MAX_LINE_BYTES} bytes`);
  }
  if (pending.length > 0) yield pending;
}

function parseLine(line: Buffer, lineNumber: number): unknown {
  try {
    return parseStrictJsonBytes(line.at(-1) === 0x0d ? line.subarray(0, -1) : line);
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
    for await (const line of byteLines(process.stdin as AsyncIterable<Buffer>)) {
      lineNumber += 1;
      if (line.toString('latin1').trim() === '') continue;
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
