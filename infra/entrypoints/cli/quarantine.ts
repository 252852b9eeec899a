/**
 * `chainbook quarantine rewrap`: the second step of rotating ENCRYPTION_MASTER_KEY (README, "Rotating the
 * master key"). With the new key as ENCRYPTION_MASTER_KEY and the old one as ENCRYPTION_MASTER_KEY_PREVIOUS,
 * every data key of `encryption_keys` still wrapped under the old key is re-wrapped under the new one, in
 * one transaction. The data keys do not change, so the quarantined objects are not read or written.
 * Idempotent; exit 1 (nothing changed) when a data key is under neither key, and exit 1 when, counted
 * after the commit, data keys are still under the old key (held meanwhile by a process not yet given the
 * new key): run it again once every process has the new key.
 */
import type { Command } from 'commander';
import { dataKeysUnder, rewrapDataKeys } from '../../adapters/quarantine/quarantineVault.ts';
import { loadConfig } from '../../wiring/config.ts';
import { openDatabase } from '../../wiring/runtime.ts';
import { EXIT, UsageError } from './io.ts';

async function rewrap(): Promise<number> {
  const config = loadConfig();
  const { masterKey, previousMasterKey } = config.content.quarantine;
  if (masterKey === undefined || previousMasterKey === undefined)
    throw new UsageError(
      'quarantine rewrap needs QUARANTINE_ENABLED=true, the new key as ENCRYPTION_MASTER_KEY and the old one as ENCRYPTION_MASTER_KEY_PREVIOUS',
    );
  const db = await openDatabase(config);
  try {
    const result = await rewrapDataKeys(db, masterKey, previousMasterKey);
    // Counted after the commit: content held meanwhile by a process that still has the old key as
    // ENCRYPTION_MASTER_KEY is wrapped under it, and would be unreadable once the old key is gone.
    const leftUnderPrevious = await dataKeysUnder(db, previousMasterKey);
    process.stdout.write(`${JSON.stringify({ ...result, leftUnderPrevious })}\n`);
    const done = `quarantine rewrap: ${result.rewrapped} data key(s) re-wrapped under ${result.masterKeyId}, ${result.alreadyCurrent} already were`;
    if (leftUnderPrevious > 0) {
      process.stderr.write(
        `${done}; ${leftUnderPrevious} data key(s) were wrapped under ENCRYPTION_MASTER_KEY_PREVIOUS while it ran (a process still has the old key as ENCRYPTION_MASTER_KEY): finish deploying the new key, run rewrap again, and keep ENCRYPTION_MASTER_KEY_PREVIOUS until it reports none\n`,
      );
      return EXIT.failed;
    }
    process.stderr.write(`${done}; restart serve without ENCRYPTION_MASTER_KEY_PREVIOUS\n`);
    return EXIT.ok;
  } finally {
    await db.close();
  }
}

export function registerQuarantine(program: Command, exit: (code: number) => void): void {
  const quarantine = program.command('quarantine').description('the encrypted quarantine of held content');
  quarantine
    .command('rewrap')
    .description(
      're-wrap every data key under ENCRYPTION_MASTER_KEY that is wrapped under ENCRYPTION_MASTER_KEY_PREVIOUS, in one transaction (objects untouched)',
    )
    .action(async () => exit(await rewrap()));
}
