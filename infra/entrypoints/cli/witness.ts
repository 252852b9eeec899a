/**
 * `chainbook witness`: a witness of other logs' checkpoints, a small HTTP
 * service of its own (docs/FORMAT.md section 14, "Witnesses and
 * cosignatures"; infra/entrypoints/witness/witnessServer.ts). It cosigns a
 * checkpoint of a log of WITNESS_LOGS only when it is consistent with the
 * last one it cosigned, kept in WITNESS_STATE_DIR, and writes a fork's two
 * checkpoints of one size into WITNESS_STATE_DIR/evidence. `--vkey` prints
 * its verifier key (for the log's CHECKPOINT_WITNESSES) and exits.
 */
import { withMetricsPort } from './metricsPort.ts';
import type { Command } from 'commander';
import { sha256 } from '../../../chain/hash.ts';
import { verifyNoteSignature, verifyRawEd25519 } from '../../../verifier/verifyInclusion.ts';
import { fileWitnessState } from '../../adapters/witness/fileWitnessState.ts';
import { loadWitnessKey } from '../../adapters/witness/witnessKey.ts';
import { loadConfig } from '../../wiring/config.ts';
import { startWitnessServer } from '../witness/witnessServer.ts';
import { EXIT, parseCount, UsageError, writeOut } from './io.ts';

interface WitnessOptions {
  host: string;
  port: string;
  vkey?: boolean;
}

async function run(options: WitnessOptions): Promise<number> {
  const config = loadConfig();
  const { name, keyFile, stateDir, logs } = config.witness;
  if (name === undefined) throw new UsageError('WITNESS_NAME must name the witness (e.g. witness.example.com/w1)');
  // Production keeps its key where the operator put it; elsewhere one is made the first time.
  const key = loadWitnessKey(keyFile, name, { create: !config.production });
  if (options.vkey) {
    await writeOut(`${key.vkey}\n`);
    return EXIT.ok;
  }
  if (logs.size === 0) throw new UsageError('WITNESS_LOGS must name at least one log: <origin>=<vkey>,…');
  const state = fileWitnessState(stateDir);
  const witness = await startWitnessServer({
    policy: { identity: key.identity, logs, sha256, verifyEd25519: verifyRawEd25519, verifyNote: verifyNoteSignature },
    state,
    vkey: key.vkey,
    host: options.host,
    port: parseCount(options.port, '--port', 0),
  });
  process.stderr.write(`witness ${name} (${key.vkey}) of ${logs.size} log(s) listening on ${witness.url}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await witness.close();
  state.close();
  return EXIT.ok;
}

export function registerWitness(program: Command, exit: (code: number) => void): void {
  program
    .command('witness')
    .description(
      'serve POST /add-checkpoint (C2SP tlog-witness): cosign checkpoints of WITNESS_LOGS consistent with the last cosigned, refuse forks and keep them as evidence',
    )
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0: any free port)', '7380')
    .option('--vkey', "print the witness's verifier key (for CHECKPOINT_WITNESSES) and exit")
    .action(async (options: WitnessOptions) => exit(await withMetricsPort('witness', () => run(options))));
}
