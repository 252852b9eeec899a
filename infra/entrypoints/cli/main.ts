/** The chainbook CLI. Every command has --help; exit codes: 0 ok, 1 failed, 2 could not run (usage, configuration, unreachable source). */
import { Command, CommanderError } from 'commander';
import { CodedError } from '../../../domain/errors.ts';
import { ChainError } from '../../../chain/errors.ts';
import { registerAppend } from './append.ts';
import { registerAuditBundle } from './auditBundle.ts';
import { registerAuditVerify } from './auditVerify.ts';
import { registerDemo } from './demo.ts';
import { registerDump } from './dump.ts';
import { registerExport } from './export.ts';
import { registerPayouts } from './payouts.ts';
import { registerProof } from './proof.ts';
import { registerReconcile } from './reconcile.ts';
import { registerReplay } from './replay.ts';
import { describeError, EXIT } from './io.ts';
import { registerSigners } from './signers.ts';
import { registerServe } from './serve.ts';
import { registerSigningProxy } from './signingProxy.ts';
import { registerTokens } from './tokens.ts';
import { VERSION } from '../../wiring/version.ts';

export { VERSION };

/**
 * Codes that mean the command could not run (exit 2): its arguments, the
 * configuration, the environment (data folder, database version, keys,
 * signer start-up, HSM). Other coded errors are rejections of what was asked
 * (exit 1): a chain or business rule said no.
 */
const COULD_NOT_RUN = new Set([
  'USAGE',
  'INVALID_ARGUMENT',
  'INVALID_CONFIGURATION',
  'INVALID_SIGNER_REGISTRY',
  'SIGNER_REGISTRY_UNREADABLE',
  'SOURCE_UNREADABLE',
  'SOURCE_TOO_LARGE',
  'UNKNOWN_CHAIN',
  'DATA_DIR_IN_USE',
  'DATABASE_NEWER_THAN_SOFTWARE',
  'MIGRATION_CHANGED',
  'PROJECTIONS_STALE',
  'LOCAL_SIGNER_REFUSED',
  'LOCAL_KEY_EXPOSED',
  'SIGNER_KEY_MISMATCH',
  'SIGNER_NOT_REGISTERED',
  'SIGNER_NOT_YET_DEPLOYED',
  'SIGNER_RETIRED',
  'SIGNER_EXISTS',
  'DEPLOYED_AT_NOT_IN_FUTURE',
  'RETIRED_AT_IN_PAST',
  'BREAKGLASS_KEY_UNREADABLE',
  'HSM_UNAVAILABLE',
  'HSM_TOKEN_NOT_FOUND',
  'HSM_LOGIN_FAILED',
  'HSM_KEY_NOT_FOUND',
  'HSM_KEY_AMBIGUOUS',
  'HSM_KEY_UNSUPPORTED',
  'HSM_KEY_EXISTS',
  'REPLAY_TARGET_NOT_EMPTY',
]);

export function exitCodeFor(error: unknown): number {
  if (error instanceof ChainError) return EXIT.failed;
  if (error instanceof CodedError) return COULD_NOT_RUN.has(error.code) ? EXIT.usage : EXIT.failed;
  // Not ours: a connection refused, a file system error. The command could not run.
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
  registerPayouts(program, exit);
  registerReconcile(program, exit);
  registerServe(program, exit);
  registerTokens(program, exit);
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
