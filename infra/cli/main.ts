/** The chainbook CLI. Every command has --help; exit codes: 0 ok, 1 failed, 2 could not run (usage, configuration, unreachable source). */
import { Command, CommanderError } from 'commander';
import { CodedError } from '../../domain/errors.ts';
import { ChainError } from '../../chain/errors.ts';
import { registerAppend } from './append.ts';
import { registerAuditBundle } from './auditBundle.ts';
import { registerAuditVerify } from './auditVerify.ts';
import { registerDemo } from './demo.ts';
import { registerDump } from './dump.ts';
import { registerExport } from './export.ts';
import { registerProof } from './proof.ts';
import { registerReplay } from './replay.ts';
import { describeError, EXIT } from './io.ts';
import { registerSigners } from './signers.ts';
import { registerSigningProxy } from './signingProxy.ts';
import { SOFTWARE_VERSION } from '../version.ts';

export const VERSION = SOFTWARE_VERSION;

/** Errors that mean "could not run" (exit 2) rather than "ran and failed" (exit 1). */
function exitCodeFor(error: unknown): number {
  if (error instanceof ChainError) return EXIT.failed;
  if (error instanceof CodedError) return EXIT.usage;
  return EXIT.usage;
}

export async function main(argv: readonly string[]): Promise<number> {
  let code: number = EXIT.ok;
  const exit = (value: number): void => {
    code = value;
  };
  const program = new Command()
    .name('chainbook')
    .version(VERSION)
    .description('the signed, hash-chained event log of the marketplace, its kernel and its ledger')
    .exitOverride()
    .showHelpAfterError();
  registerAuditVerify(program, exit);
  registerDump(program, exit);
  registerAppend(program, exit);
  registerSigners(program, exit);
  registerSigningProxy(program, exit);
  registerDemo(program, exit);
  registerReplay(program, exit);
  registerProof(program, exit);
  registerExport(program, exit);
  registerAuditBundle(program, exit);
  try {
    await program.parseAsync(argv);
    return code;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    process.stderr.write(`chainbook: ${describeError(error)}\n`);
    return exitCodeFor(error);
  }
}
