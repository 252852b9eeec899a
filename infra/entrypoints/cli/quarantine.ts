/**
 * `chainbook quarantine rewrap`: the second step of rotating ENCRYPTION_MASTER_KEY (README, "Rotating the
 * master key"). With the new key as ENCRYPTION_MASTER_KEY and the old one as ENCRYPTION_MASTER_KEY_PREVIOUS,
 * every data key of `encryption_keys` still wrapped under the old key is re-wrapped under the new one, in
 * one transaction. The data keys do not change, so the quarantined objects are not read or written.
 * Idempotent; exit 1 (nothing changed) when a data key is under neither key.
 */
import type { Command } from 'commander';
import { rewrapDataKeys } from '../../adapters/quarantine/quarantineVault.ts';
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
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.stderr.write(
      `quarantine rewrap: ${result.rewrapped} data key(s) re-wrapped under ${result.masterKeyId}, ${result.alreadyCurrent} already were; restart serve without ENCRYPTION_MASTER_KEY_PREVIOUS\n`,
    );
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
