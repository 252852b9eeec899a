/**
 * `chainbook demo`: a short walk-through on the configured store (the
 * embedded database by default): append a few events, verify the chain,
 * print the head.
 */
import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { inProcessChecker } from '../../verifier/inProcessChecker.ts';
import { verify } from '../../verifier/verify.ts';
import { loadConfig } from '../config.ts';
import { databaseReader } from '../readers/databaseReader.ts';
import { openRuntime } from '../runtime.ts';
import { EXIT, parseCount } from './io.ts';

async function run(options: { events?: string }): Promise<number> {
  const config = loadConfig();
  const count = options.events === undefined ? 10 : parseCount(options.events, '--events', 1);
  const runtime = await openRuntime(config);
  try {
    const say = (text: string): void => void process.stdout.write(`${text}\n`);
    say(`store: ${runtime.db.location} (${runtime.db.engine}); signer: ${runtime.signer.kid}; registry: ${config.signersPath}`);
    const chain = config.defaultChain;
    for (let index = 0; index < count; index++) {
      const order = `order-${randomUUID()}`;
      const actor = { id: `buyer-${index % 3}`, role: 'Buyer' };
      const result = await runtime.store.append(chain, [
        { stream: order, type: 'order.created', expectedVersion: 0, actor, data: { priceMinor: 1999 + index, currency: 'EUR' } },
        { stream: order, type: 'order.paid', expectedVersion: 1, actor, data: { paymentId: `pay-${index}`, amountMinor: 1999 + index, currency: 'EUR' } },
      ]);
      say(`appended ${order}: seq ${result.events.map((e) => e.seq).join(', ')}`);
    }
    const report = await verify(databaseReader(runtime.db), inProcessChecker(runtime.registry), { chains: [chain] });
    say(report.ok ? `audit-verify: OK, ${report.records} records` : `audit-verify: FAILED ${JSON.stringify(report.finding)}`);
    const head = await runtime.store.head(chain);
    say(`head of ${chain}: seq ${head.seq}, hash ${head.hash}, ts ${head.ts}`);
    say(`next: npx chainbook audit-verify   |   npx chainbook dump --chain ${chain}`);
    return report.ok ? EXIT.ok : EXIT.failed;
  } finally {
    await runtime.close();
  }
}

export function registerDemo(program: Command, exit: (code: number) => void): void {
  program
    .command('demo')
    .description('append a few events to the configured store (embedded by default), verify the chain and print its head')
    .option('--events <n>', 'orders to create (two events each)', '10')
    .action(async (options: { events?: string }) => exit(await run(options)));
}
