/** The chainbook CLI. Every command has --help; exit codes: 0 ok, 1 failed, 2 could not run (usage, configuration, unreachable source). */
import { Command, CommanderError } from 'commander';
import { CodedError } from '../../../domain/errors.ts';
import { describeError, EXIT, exitCodeFor } from './io.ts';
import { startObservability, type Observability } from './observability.ts';
import { VERSION } from '../../wiring/version.ts';

export { VERSION, exitCodeFor };

type Register = (program: Command, exit: (code: number) => void) => void;

/**
 * The commands, in the order `--help` lists them, each with the module that defines it. A module is
 * imported only when its command runs: together they pull in the AWS SDK, express, PGlite, pg and
 * ioredis, a second and more of loading that `--version` or `dump` has no use for.
 */
const COMMANDS: readonly (readonly [names: readonly string[], load: () => Promise<Register>])[] = [
  [['audit-verify'], async () => (await import('./auditVerify.ts')).registerAuditVerify],
  [['dump'], async () => (await import('./dump.ts')).registerDump],
  [['append'], async () => (await import('./append.ts')).registerAppend],
  [['signers'], async () => (await import('./signers.ts')).registerSigners],
  [['signing'], async () => (await import('./signing.ts')).registerSigning],
  [['signing-proxy'], async () => (await import('./signingProxy.ts')).registerSigningProxy],
  [['demo'], async () => (await import('./demo.ts')).registerDemo],
  [['replay'], async () => (await import('./replay.ts')).registerReplay],
  [['proof', 'verify-proof'], async () => (await import('./proof.ts')).registerProof],
  [['payouts'], async () => (await import('./payouts.ts')).registerPayouts],
  [['reconcile'], async () => (await import('./reconcile.ts')).registerReconcile],
  [['serve'], async () => (await import('./serve.ts')).registerServe],
  [['openapi'], async () => (await import('./openapi.ts')).registerOpenApi],
  [['tokens'], async () => (await import('./tokens.ts')).registerTokens],
  [['export'], async () => (await import('./export.ts')).registerExport],
  [['audit-bundle'], async () => (await import('./auditBundle.ts')).registerAuditBundle],
  [['delivery'], async () => (await import('./delivery.ts')).registerDelivery],
  [['index'], async () => (await import('./indexer.ts')).registerIndex],
  [['relay'], async () => (await import('./relay.ts')).registerRelay],
  [['prove', 'checkpoint', 'verify-inclusion'], async () => (await import('./prove.ts')).registerProve],
  [['sandbox'], async () => (await import('./sandbox.ts')).registerSandbox],
  [['witness'], async () => (await import('./witness.ts')).registerWitness],
  [['idempotency'], async () => (await import('./idempotency.ts')).registerIdempotency],
  [['quarantine'], async () => (await import('./quarantine.ts')).registerQuarantine],
];

/**
 * The modules to load for these arguments: the named command's alone; none for a bare `--version`;
 * every one otherwise (`--help`, `help`, an unknown command), so that commander can list them or say
 * what is wrong exactly as when all are registered.
 */
function modulesFor(args: readonly string[]): readonly (() => Promise<Register>)[] {
  const first = args[0];
  if (args.length === 1 && (first === '--version' || first === '-V')) return [];
  const named = COMMANDS.find(([names]) => first !== undefined && names.includes(first));
  return named ? [named[1]] : COMMANDS.map(([, load]) => load);
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
  let observability: Observability | undefined;
  try {
    // Only when OTEL_COLLECTOR_URL or SENTRY_DSN is set is anything loaded for them.
    observability = await startObservability(argv.slice(2));
    for (const register of await Promise.all(modulesFor(argv.slice(2)).map((load) => load()))) {
      register(program, exit);
    }
    await (observability ? observability.run(() => program.parseAsync(argv)) : program.parseAsync(argv));
    return code;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    process.stderr.write(`chainbook: ${describeError(error)}\n`);
    // Not one of ours (a CodedError says what went wrong in words an operator acts on): a crash to report.
    if (observability && !(error instanceof CodedError))
      (await import('../errorReporting.ts')).reportError(error, { command: argv[2] });
    return exitCodeFor(error);
  } finally {
    await observability?.close();
  }
}
