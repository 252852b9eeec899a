/**
 * `chainbook demo`: the whole system in one run, on the configured store (the
 * embedded database by default): the marketplace workload of
 * commands/demo/demoWorkload.ts, then a verified chain, the trial balance, the
 * projection digests and a ledger proof checked against the chain.
 *
 * The chain is append-only: what the demo writes can never be taken back. So
 * it runs only on an empty chain, or with --yes on one that is not, and never
 * with NODE_ENV=production.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { trialBalance } from '../../../projections/ledger/ledgerQueries.ts';
import { projectionCheckpoints, projectionDigests } from '../../../projections/projections.ts';
import { inProcessChecker } from '../../../verifier/inProcessChecker.ts';
import { verify } from '../../../verifier/verify.ts';
import { verifyProof } from '../../../verifier/verifyProof.ts';
import { openApp } from '../../wiring/app.ts';
import { loadConfig } from '../../wiring/config.ts';
import { runDemoWorkload } from '../../../commands/demo/demoWorkload.ts';
import { databaseReader } from '../../adapters/sql/databaseReader.ts';
import { EXIT, formatCount, parseCount, UsageError } from './io.ts';

export const DEFAULT_DEMO_ORDERS = 24;

function money(minor: number): string {
  return (minor / 100).toFixed(2);
}

async function run(options: { orders?: string; yes?: boolean }): Promise<number> {
  const config = loadConfig();
  const orders = options.orders === undefined ? DEFAULT_DEMO_ORDERS : parseCount(options.orders, '--orders', 1);
  if (config.production) {
    process.stderr.write(
      'chainbook demo: refused with NODE_ENV=production: it appends invented orders, payments and refunds that the chain keeps forever\n',
    );
    return EXIT.failed;
  }
  const app = await openApp(config);
  const { runtime, deps } = app;
  const say = (text: string): void => void process.stdout.write(`${text}\n`);
  try {
    const head = await runtime.store.head(deps.chain);
    if (head.seq > 0 && options.yes !== true) {
      process.stderr.write(
        `chainbook demo: refused: chain ${deps.chain} on ${runtime.db.location} already holds ${head.seq} records, and the demo's invented business could never be removed from it; use an empty store (CHAINBOOK_DATA_DIR=<new folder>) or --yes\n`,
      );
      return EXIT.failed;
    }
    const checkpoint = (await projectionCheckpoints(runtime.db)).get(deps.chain) ?? 0;
    if (checkpoint !== head.seq) {
      throw new UsageError(
        `chain ${deps.chain} has ${head.seq - checkpoint} records its projections never folded (appended by \`chainbook append\` or an older chainbook): run \`chainbook replay\`, or point CHAINBOOK_DATA_DIR at a new folder`,
      );
    }
    say(
      `store: ${runtime.db.location} (${runtime.db.engine}); signer: ${runtime.signer.kid}; registry: ${config.signersPath}`,
    );
    const started = performance.now();
    const summary = await runDemoWorkload(deps, orders, (line) => say(line));
    say(
      `workload: seq ${summary.fromSeq}..${summary.toSeq} in ${((performance.now() - started) / 1000).toFixed(1)} s, ${summary.rejections} commands refused on purpose (each appended nothing)`,
    );
    const report = await verify(databaseReader(runtime.db), inProcessChecker(runtime.registry), {
      chains: [deps.chain],
    });
    say(
      report.ok
        ? `audit-verify: OK, ${formatCount(report.records)} records, head ${report.chains[0]?.lastHash ?? ''}`
        : `audit-verify: FAILED ${JSON.stringify(report.finding)}`,
    );
    let proofOk = true;
    if (summary.proof) {
      const directory = join(config.dataDir, 'proofs');
      mkdirSync(directory, { recursive: true });
      const path = join(directory, `${summary.proof.proof_id}.json`);
      writeFileSync(path, `${JSON.stringify(summary.proof, null, 2)}\n`);
      const checked = await verifyProof(
        JSON.stringify(summary.proof),
        { registry: runtime.registry },
        { reader: databaseReader(runtime.db), checker: inProcessChecker(runtime.registry) },
      );
      proofOk = checked.ok;
      say(
        `proof: ${path} ${checked.ok ? 'verifies (signature, range_hash and head_hash against the chain)' : `FAILED ${JSON.stringify(checked.finding)}`}`,
      );
    }
    say('trial balance:');
    for (const line of await trialBalance(runtime.db))
      say(
        `  ${line.currency}: debits ${money(line.debitMinor)}, credits ${money(line.creditMinor)}, total ${money(line.totalMinor)}`,
      );
    say('projection digests:');
    for (const [name, digest] of Object.entries(await projectionDigests(runtime.db)))
      say(`  ${name.padEnd(10)} ${digest}`);
    say(
      'next: npx chainbook audit-verify | npx chainbook replay --compare | npx chainbook verify-proof --proof <file> --signers <registry> --data-dir .chainbook',
    );
    return report.ok && proofOk ? EXIT.ok : EXIT.failed;
  } finally {
    await app.close();
  }
}

export function registerDemo(program: Command, exit: (code: number) => void): void {
  program
    .command('demo')
    .description(
      'run the marketplace workload on the configured store (embedded by default): manifests, listings, orders, payments, royalties, a refund, a 3-of-5 upgrade, a ledger proof; then verify and print the trial balance and projection digests',
    )
    .option('--orders <n>', `orders to place (default ${DEFAULT_DEMO_ORDERS})`)
    .option('--yes', 'run on a chain that already holds records (its records stay; the demo adds its own for good)')
    .action(async (options: { orders?: string; yes?: boolean }) => exit(await run(options)));
}
