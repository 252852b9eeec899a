/**
 * `chainbook idempotency purge`: deletes the idempotency records older than
 * IDEMPOTENCY_RETENTION_HOURS, what `serve` does every hour, for a cron job
 * or a deployment whose `serve` processes are not the ones to do it.
 */
import type { Command } from 'commander';
import { loadConfig } from '../../wiring/config.ts';
import { purgeIdempotency } from '../../wiring/idempotencyRetention.ts';
import { openDatabase } from '../../wiring/runtime.ts';
import { EXIT } from './io.ts';

async function purge(options: { retentionHours?: string }): Promise<number> {
  const config = loadConfig(
    options.retentionHours === undefined
      ? process.env
      : { ...process.env, IDEMPOTENCY_RETENTION_HOURS: options.retentionHours },
  );
  const db = await openDatabase(config);
  try {
    const { purged, complete } = await purgeIdempotency(db, config.idempotencyRetentionHours);
    process.stdout.write(
      `idempotency purge: ${purged} records older than ${config.idempotencyRetentionHours} h deleted${complete ? '' : ' (more are due: run it again)'}\n`,
    );
    return EXIT.ok;
  } finally {
    await db.close();
  }
}

export function registerIdempotency(program: Command, exit: (code: number) => void): void {
  const idempotency = program
    .command('idempotency')
    .description('the idempotency records of the event log (table idempotency_keys)');
  idempotency
    .command('purge')
    .description(
      'delete the idempotency records older than IDEMPOTENCY_RETENTION_HOURS (what `serve` does every hour); a retry under a deleted key is a new request',
    )
    .option('--retention-hours <hours>', 'instead of IDEMPOTENCY_RETENTION_HOURS (at least 72)')
    .action(async (options: { retentionHours?: string }) => exit(await purge(options)));
}
