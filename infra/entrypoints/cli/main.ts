/** The chainbook CLI. Every command has --help; exit codes: 0 ok, 1 failed, 2 could not run (usage, configuration, unreachable source). */
import { Command, CommanderError } from 'commander';
import { registerAppend } from './append.ts';
import { registerAuditBundle } from './auditBundle.ts';
import { registerAuditVerify } from './auditVerify.ts';
import { registerDelivery } from './delivery.ts';
import { registerDemo } from './demo.ts';
import { registerDump } from './dump.ts';
import { registerExport } from './export.ts';
import { registerPayouts } from './payouts.ts';
import { registerProof } from './proof.ts';
import { registerProve } from './prove.ts';
import { registerReconcile } from './reconcile.ts';
import { registerReplay } from './replay.ts';
import { describeError, EXIT, exitCodeFor } from './io.ts';
import { registerSigners } from './signers.ts';
import { registerServe } from './serve.ts';
import { registerSigningProxy } from './signingProxy.ts';
import { registerTokens } from './tokens.ts';
import { VERSION } from '../../wiring/version.ts';

export { VERSION, exitCodeFor };

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
  registerProve(program, exit);
  registerPayouts(program, exit);
  registerReconcile(program, exit);
  registerServe(program, exit);
  registerTokens(program, exit);
  registerExport(program, exit);
  registerAuditBundle(program, exit);
  registerDelivery(program, exit);
  try {
    await program.parseAsync(argv);
    return code;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    process.stderr.write(`chainbook: ${describeError(error)}\n`);
    return exitCodeFor(error);
  }
}
