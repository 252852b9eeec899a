/** `chainbook dump`: the chain as JSON Lines, one stored JCS record per line, seq order. */
import type { Command } from 'commander';
import { loadConfig } from '../../wiring/config.ts';
import { EXIT, parseCount, writeOut } from './io.ts';
import { addSourceOptions, openSource, type SourceOptions } from './sources.ts';

interface DumpOptions extends SourceOptions {
  chain?: string[];
  from?: string;
  to?: string;
}

async function run(options: DumpOptions): Promise<number> {
  const fromSeq = options.from === undefined ? 1 : parseCount(options.from, '--from', 1);
  const toSeq = options.to === undefined ? Number.MAX_SAFE_INTEGER : parseCount(options.to, '--to', 1);
  const source = await openSource(options, loadConfig());
  try {
    for (const chain of options.chain ?? (await source.reader.chains())) {
      const last = await source.reader.lastSeq(chain);
      for await (const page of source.reader.pages(chain, fromSeq, Math.min(toSeq, last))) {
        await writeOut(`${page.join('\n')}\n`);
      }
    }
    return EXIT.ok;
  } finally {
    await source.close();
  }
}

export function registerDump(program: Command, exit: (code: number) => void): void {
  const command = program
    .command('dump')
    .description('print records as JSON Lines (the exact stored JCS text), chain by chain in seq order');
  addSourceOptions(command)
    .option('--chain <name...>', 'chains to dump (default: every chain)')
    .option('--from <seq>', 'first seq')
    .option('--to <seq>', 'last seq')
    .action(async (options: DumpOptions) => exit(await run(options)));
}
