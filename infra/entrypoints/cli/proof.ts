/**
 * `chainbook proof issue` signs a ledger-range proof (docs/FORMAT.md section
 * 9), records it as `ledger.proof_issued` and prints it with `inclusion` (the
 * inclusion proof of its record at to_seq) once a published checkpoint covers it; `chainbook verify-proof` checks
 * a ledger proof or a delivery proof (section 13): its signature (--signers
 * or --public-key) and, with a chain source, that range_hash and head_hash
 * recompute from the chain, or that the delivery.prepared record at
 * delivery_seq verifies and the proof rebuilds from it.
 */
import { createPublicKey } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { issueLedgerProof } from '../../../commands/ledger/issueLedgerProof.ts';
import { DELIVERY_PROOF_KIND } from '../../../chain/deliveryProof.ts';
import { inProcessChecker } from '../../../verifier/inProcessChecker.ts';
import { verifyProof, type ProofKey, type ProofReport } from '../../../verifier/verifyProof.ts';
import { contextFor } from '../../../commands/context.ts';
import { periodOf } from '../../../commands/reconciliation/reconcile.ts';
import { inclusionProofFile } from '../../adapters/sql/treeLog.ts';
import { openApp } from '../../wiring/app.ts';
import { checkpointing } from '../../wiring/checkpoints.ts';
import type { Runtime } from '../../wiring/runtime.ts';
import { loadConfig } from '../../wiring/config.ts';
import { loadRegistryFile } from '../../adapters/signers/registryFile.ts';
import { workerChecker } from '../../adapters/workers/checkPool.ts';
import { EXIT, parseCount, UsageError, writeOut } from './io.ts';
import { addSourceOptions, openSource, type SourceOptions } from './sources.ts';

/** Above this many records in the range, record signatures are checked on worker threads. */
const WORKER_THRESHOLD_RECORDS = 5000;

interface IssueOptions {
  from?: string;
  to?: string;
  fromSeq?: string;
  toSeq?: string;
  fromTs?: string;
  toTs?: string;
  proofId?: string;
  out?: string;
}

const DAY_OR_INSTANT = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?Z)?$/;

/** --from/--to, the finance runbook's form: whole days (2025-11-01 … 2025-11-30, UTC) or RFC 3339 UTC instants. */
function dayRange(options: IssueOptions): { fromTs: string; toTs: string } | undefined {
  if (options.from === undefined && options.to === undefined) return undefined;
  if (
    options.fromTs !== undefined ||
    options.toTs !== undefined ||
    options.fromSeq !== undefined ||
    options.toSeq !== undefined
  )
    throw new UsageError('give --from/--to, or --from-ts/--to-ts, or --from-seq/--to-seq');
  for (const [name, value] of [
    ['--from', options.from],
    ['--to', options.to],
  ] as const)
    if (value === undefined || !DAY_OR_INSTANT.test(value) || Number.isNaN(Date.parse(value)))
      throw new UsageError(
        `${name} must be a date like 2025-11-01 or an RFC 3339 UTC time (got ${JSON.stringify(value)})`,
      );
  return periodOf(options.from!, options.to!);
}

/**
 * `inclusion` of an issued proof (docs/FORMAT.md section 14, "Inclusion in
 * signed proofs"), as GET /ledger/proofs/{id} adds it: the proof file of the
 * record at `to_seq` against the least published checkpoint covering it,
 * after making a checkpoint if one is due (as `chainbook prove` does).
 * Undefined while none covers it, with an RSA signer (no checkpoints), or
 * when the tree cannot answer: it is an unsigned extra, and the proof stands
 * without it.
 */
async function inclusionOf(runtime: Runtime, chain: string, seq: number): Promise<string | undefined> {
  try {
    await checkpointing(runtime).makeIfDue(chain, Date.now());
    return await inclusionProofFile(runtime.db, chain, seq, runtime.config.checkpoints.quorum);
  } catch (error) {
    process.stderr.write(`the inclusion proof could not be made: ${(error as Error).message}\n`);
    return undefined;
  }
}

async function issue(options: IssueOptions): Promise<number> {
  const days = dayRange(options);
  const input = {
    ...(days ?? {}),
    ...(options.fromSeq !== undefined ? { fromSeq: parseCount(options.fromSeq, '--from-seq', 1) } : {}),
    ...(options.toSeq !== undefined ? { toSeq: parseCount(options.toSeq, '--to-seq', 1) } : {}),
    ...(options.fromTs !== undefined ? { fromTs: options.fromTs } : {}),
    ...(options.toTs !== undefined ? { toTs: options.toTs } : {}),
    ...(options.proofId !== undefined ? { proofId: options.proofId } : {}),
  };
  const app = await openApp(loadConfig());
  try {
    const result = await issueLedgerProof(
      app.deps,
      input,
      contextFor({ id: `cli-${userInfo().username}`, role: 'Operator' }),
    );
    if (!result.proof) throw new UsageError('the proof was already issued under this id');
    const inclusion = await inclusionOf(app.runtime, result.proof.chain, result.proof.to_seq);
    const document = inclusion === undefined ? result.proof : { ...result.proof, inclusion };
    const text = `${JSON.stringify(document, null, 2)}\n`;
    if (options.out !== undefined) writeFileSync(options.out, text);
    else await writeOut(text);
    process.stderr.write(
      `proof ${result.proof.proof_id}: seq ${result.proof.from_seq}..${result.proof.to_seq}, ${result.proof.ledger_row_ids.length} ledger rows; recorded as ledger.proof_issued at seq ${result.seqs.join(', ')}; ${
        inclusion === undefined
          ? `no published checkpoint covers seq ${result.proof.to_seq} yet, so no inclusion proof is attached (GET /ledger/proofs/${result.proof.proof_id} adds it once one does)`
          : `with the inclusion proof of seq ${result.proof.to_seq}`
      }\n`,
    );
    return EXIT.ok;
  } finally {
    await app.close();
  }
}

interface VerifyProofOptions extends SourceOptions {
  proof: string;
  signers?: string;
  publicKey?: string;
  json?: boolean;
}

function keyFrom(options: VerifyProofOptions): ProofKey {
  if ((options.signers === undefined) === (options.publicKey === undefined))
    throw new UsageError('give exactly one of --signers <file> or --public-key <pem file>');
  if (options.signers !== undefined) return { registry: loadRegistryFile(options.signers) };
  try {
    return { publicKey: createPublicKey(readFileSync(options.publicKey!, 'utf8')) };
  } catch (error) {
    throw new UsageError(`cannot read the public key ${options.publicKey}: ${(error as Error).message}`);
  }
}

/** What was checked against the chain, for a delivery proof (docs/FORMAT.md section 13). */
function deliveryChecked(report: ProofReport): string {
  if (!report.chainChecked) return 'no chain source given: the delivery.prepared record at delivery_seq not checked';
  return `the delivery.prepared record at delivery_seq has delivery_hash and rebuilds the proof${report.recordSignaturesChecked ? ', and verifies' : ' (its hash and link checked; give --signers to check its signature)'}`;
}

/** What the proof's `inclusion` showed (docs/FORMAT.md section 14, "Inclusion in signed proofs"). */
function included(report: ProofReport): string {
  return report.inclusion
    ? `; its record is in the tree of ${report.inclusion.treeSize} leaves of ${report.inclusion.origin} (checkpoint signed by ${report.inclusion.signedBy})`
    : '; it carries no inclusion proof';
}

function describe(report: ProofReport): string {
  if (!report.ok)
    return `verify-proof: FAILED${report.proofId ? ` (${report.proofId})` : ''}: ${report.finding!.reason}: ${report.finding!.message}\n`;
  if (report.kind === DELIVERY_PROOF_KIND)
    return `verify-proof: OK (delivery proof ${report.proofId}): signature valid; ${deliveryChecked(report)}${included(report)}\n`;
  const range = report.chainChecked
    ? `range_hash and head_hash recompute from the chain${report.recordSignaturesChecked ? ', whose records verify' : ' (record hashes and links checked; give --signers to check their signatures)'}`
    : 'no chain source given: range_hash and head_hash not recomputed';
  return `verify-proof: OK (${report.proofId}): signature valid; ${range}${included(report)}\n`;
}

async function verifyCommand(options: VerifyProofOptions): Promise<number> {
  const key = keyFrom(options);
  let text: string;
  try {
    text = readFileSync(options.proof, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${options.proof}: ${(error as Error).message}`);
  }
  const hasSource = options.databaseUrl !== undefined || options.dataDir !== undefined || options.input !== undefined;
  const source = hasSource ? await openSource(options, loadConfig()) : undefined;
  const span = (() => {
    try {
      const parsed = JSON.parse(text) as { from_seq?: number; to_seq?: number };
      return (parsed.to_seq ?? 0) - (parsed.from_seq ?? 0);
    } catch {
      return 0;
    }
  })();
  const checker =
    source && 'registry' in key
      ? span > WORKER_THRESHOLD_RECORDS && options.input === undefined
        ? workerChecker(key.registry)
        : inProcessChecker(key.registry)
      : undefined;
  try {
    const report = await verifyProof(text, key, source ? { reader: source.reader, checker } : undefined);
    process.stdout.write(options.json ? `${JSON.stringify(report)}\n` : describe(report));
    return report.ok ? EXIT.ok : EXIT.failed;
  } finally {
    await checker?.close();
    await source?.close();
  }
}

export function registerProof(program: Command, exit: (code: number) => void): void {
  const proof = program.command('proof').description('signed ledger proofs (docs/FORMAT.md section 9)');
  proof
    .command('issue')
    .description(
      'sign a ledger-range proof over a seq or time range of the chain (default: all of it), print it as JSON and record ledger.proof_issued',
    )
    .option('--from-seq <seq>', 'first seq of the range (default 1)')
    .option('--to-seq <seq>', 'last seq of the range (default: the head)')
    .option('--from <date>', 'first day of the range, 2025-11-01 (UTC; or an RFC 3339 UTC time)')
    .option('--to <date>', 'last day of the range, inclusive, 2025-11-30')
    .option('--from-ts <time>', 'start of a time range, RFC 3339 UTC with milliseconds (instead of seqs)')
    .option('--to-ts <time>', 'end of a time range')
    .option('--proof-id <id>', 'the proof id (default: a new UUID)')
    .option('-o, --out <file>', 'write the proof here instead of standard output')
    .action(async (options: IssueOptions) => exit(await issue(options)));
  const command = program
    .command('verify-proof')
    .description(
      'verify a signed ledger proof or delivery proof: its signature and, with a source (-d, --data-dir or -i), range_hash and head_hash, or the delivery.prepared record at delivery_seq, against the chain (exit 0 ok, 1 failed, 2 could not run)',
    )
    .requiredOption('--proof <file>', 'the proof JSON (kind ledger-range or delivery)')
    .option(
      '-s, --signers <file>',
      'signer registry (signers.json): checks kid, algorithm and validity window, and the records read from the chain',
    )
    .option('--public-key <file>', "the signer's public key (SPKI PEM)");
  addSourceOptions(command)
    .option('--json', 'print the report as JSON')
    .action(async (options: VerifyProofOptions) => exit(await verifyCommand(options)));
}
