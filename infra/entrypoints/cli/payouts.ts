/**
 * `chainbook payouts run`: a payout run on the configured store, as `POST
 * /payouts/runs` does it (commands/payouts/runPayouts.ts), by the operator
 * at the terminal; prints one line per payout and a JSON summary.
 * `chainbook payouts resubmit <payoutId>`: a payout the provider never
 * accepted, handed to it again under the same id, as `POST
 * /payouts/{payoutId}/resubmit` does it (commands/payouts/resubmitPayout.ts).
 */
import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { contextFor } from '../../../commands/context.ts';
import { resubmitPayout } from '../../../commands/payouts/resubmitPayout.ts';
import { runPayouts } from '../../../commands/payouts/runPayouts.ts';
import { formatMinor } from '../../../domain/money.ts';
import { openApp } from '../../wiring/app.ts';
import { loadConfig } from '../../wiring/config.ts';
import { EXIT, parseCount, writeOut } from './io.ts';

interface RunOptions {
  currency?: string;
  minimumMinor?: string;
  runId?: string;
}

async function run(options: RunOptions): Promise<number> {
  const input = {
    ...(options.currency !== undefined ? { currency: options.currency } : {}),
    ...(options.minimumMinor !== undefined
      ? { minimumMinor: parseCount(options.minimumMinor, '--minimum-minor', 1) }
      : {}),
    ...(options.runId !== undefined ? { runId: options.runId } : {}),
  };
  const app = await openApp(loadConfig());
  try {
    const result = await runPayouts(
      app.deps,
      input,
      contextFor({ id: `cli-${userInfo().username}`, role: 'Operator' }),
    );
    for (const payout of result.payouts)
      process.stderr.write(
        `payout ${payout.payoutId}: ${formatMinor(payout.amountMinor, payout.currency)} ${payout.currency} to ${payout.partyId}${payout.nettedMinor > 0 ? ` (netted ${formatMinor(payout.nettedMinor, payout.currency)} it owed)` : ''}${payout.submitted ? '' : ` — not accepted by the provider yet: ${payout.refusal ?? 'no reason given'}`}\n`,
      );
    process.stderr.write(
      `run ${result.runId}: ${result.payouts.length} payouts, ${result.seqs.length} records appended\n`,
    );
    await writeOut(`${JSON.stringify({ runId: result.runId, payouts: result.payouts }, null, 2)}\n`);
    return EXIT.ok;
  } finally {
    await app.close();
  }
}

async function resubmit(payoutId: string): Promise<number> {
  const app = await openApp(loadConfig());
  try {
    const result = await resubmitPayout(
      app.deps,
      { payoutId },
      contextFor({ id: `cli-${userInfo().username}`, role: 'Operator' }),
    );
    const [payout] = result.payouts;
    process.stderr.write(
      `payout ${payoutId}: ${formatMinor(payout.amountMinor, payout.currency)} ${payout.currency} to ${payout.partyId} accepted by the provider${result.seqs.length === 0 ? ' (already recorded as accepted)' : ''}\n`,
    );
    await writeOut(`${JSON.stringify({ payouts: result.payouts, seqs: result.seqs }, null, 2)}\n`);
    return EXIT.ok;
  } finally {
    await app.close();
  }
}

export function registerPayouts(program: Command, exit: (code: number) => void): void {
  const payouts = program
    .command('payouts')
    .description('payouts of sellers and royalty holders (docs/DOMAIN.md, "Payouts")');
  payouts
    .command('run')
    .description(
      'pay every party and currency owed at least the minimum (PAYOUT_MINIMUM_MINOR) through PAYOUT_PROVIDER; run again, it pays nothing twice',
    )
    .option('--currency <code>', 'only this ISO 4217 currency')
    .option('--minimum-minor <n>', 'the minimum for this run, in minor units')
    .option('--run-id <id>', 'the run id (default: a new UUID); the same id again pays no one twice')
    .action(async (options: RunOptions) => exit(await run(options)));
  payouts
    .command('resubmit <payoutId>')
    .description(
      'hand a payout the provider never accepted to it again, under the same payout id (paid once); refused for a settled or failed payout',
    )
    .action(async (payoutId: string) => exit(await resubmit(payoutId)));
}
