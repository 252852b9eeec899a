/**
 * `chainbook audit-verify`: docs/FORMAT.md section 5 over a database or a
 * file. Exit 0 when every record checks, 1 on the first integrity failure,
 * 2 when it could not run.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { Command } from 'commander';
import { HASH_PATTERN } from '../../../chain/record.ts';
import { MAX_NOTE_BYTES, parseCheckpointBody, parseNote } from '../../../chain/checkpoint.ts';
import { COSIGNATURE_ED25519, parseVerifierKey, type NoteVerifierKey } from '../../../chain/cosignature.ts';
import { sha256 } from '../../../chain/hash.ts';
import { checkAgainstCheckpoint, type CheckpointReport } from '../../../verifier/checkpointCheck.ts';
import type { SignerRegistry } from '../../../chain/registry.ts';
import { inProcessChecker } from '../../../verifier/inProcessChecker.ts';
import type { VerifyReport, BreakglassUse } from '../../../verifier/verify.ts';
import { verifyArchive } from '../../../archive/archiveVerify.ts';
import type { RecordReader } from '../../../verifier/reader.ts';
import { ArchiveReader, archiveNotes } from '../../../archive/archiveReader.ts';
import { openArchiveReader } from '../../wiring/archiveTargets.ts';
import type { Config } from '../../wiring/config.ts';
import { databaseReader } from '../../adapters/sql/databaseReader.ts';
import { loadConfig } from '../../wiring/config.ts';
import { loadRegistryFile } from '../../adapters/signers/registryFile.ts';
import { workerChecker } from '../../adapters/workers/checkPool.ts';
import { spillFolder } from '../../adapters/files/spillFolder.ts';
import { EXIT, formatCount, parseCount, progressLine, UsageError } from './io.ts';
import { addSourceOptions, openDatabaseSource, openSource, type OpenedSource, type SourceOptions } from './sources.ts';

interface AuditVerifyOptions extends SourceOptions {
  archive?: string;
  service?: string;
  compareDatabase?: string;
  signers?: string;
  chain?: string[];
  from?: string;
  to?: string;
  limit?: string;
  prevHash?: string;
  json?: boolean;
  threads?: string;
  memoryBudget?: string;
  progress: boolean;
  reportBreakglass?: boolean;
  checkpoint?: string;
  witness?: string[];
  witnessQuorum?: string;
}

/**
 * Memory for the ids and stream versions remembered between records, in MiB:
 * about 5 million ids on their own. Past it they go to temporary files and
 * are checked by a merge at the end (verifier/seenRecords.ts).
 */
export const DEFAULT_MEMORY_BUDGET_MIB = 256;
const MIB = 1024 * 1024;

/** Below this many records, starting worker threads costs more than it saves. */
const WORKER_THRESHOLD_RECORDS = 5000;

function describeReport(report: VerifyReport): string {
  const rate = report.elapsedMs > 0 ? Math.round((report.records * 1000) / report.elapsedMs) : report.records;
  const chains = report.chains
    .map(
      (c) =>
        `  ${c.chain}: ${formatCount(c.records)} records${c.records > 0 ? ` (seq ${c.fromSeq}..${c.toSeq}), last hash ${c.lastHash}` : ''}`,
    )
    .join('\n');
  const totals = `${formatCount(report.records)} records in ${(report.elapsedMs / 1000).toFixed(2)} s (${formatCount(rate)} records/s), ${report.source}`;
  const breakglass = report.breakglass === undefined ? '' : describeBreakglass(report.breakglass);
  if (report.ok) return `audit-verify: OK\n${chains}\n${totals}\n${breakglass}`;
  const f = report.finding!;
  return `audit-verify: FAILED at chain ${f.chain} seq ${f.seq}: ${f.reason}: ${f.message}\n${chains}\n${totals}\n${breakglass}`;
}

function describeBreakglass(uses: readonly BreakglassUse[]): string {
  if (uses.length === 0) return 'break-glass: no record was signed by a break-glass signer\n';
  const lines = uses.map(
    (use) => `  ${use.chain} seq ${use.seq} ${use.ts} ${use.type} (${use.id}) signed by ${use.kid}`,
  );
  return `break-glass: ${formatCount(uses.length)} records signed by break-glass signers\n${lines.join('\n')}\n`;
}

function describeArchive(archive: ReturnType<typeof archiveNotes>): string {
  const lines = [`archive: ${formatCount(archive.batches)} batches of service ${archive.service}`];
  for (const key of archive.unmanifested)
    lines.push(
      `  note: ${key} has no manifest (an export stopped between its two writes; the next export completes it); it is not part of the archive yet`,
    );
  for (const key of archive.strays) lines.push(`  note: ${key} is not an archive object`);
  return `${lines.join('\n')}\n`;
}

function describeCheckpoint(report: CheckpointReport): string {
  if (report.ok)
    return `checkpoint: OK: ${report.chain} holds the ${formatCount(report.size)} records of the checkpoint of ${report.origin} signed by ${report.signedBy}${report.cosignedBy.length > 0 ? `, cosigned by ${report.cosignedBy.join(', ')}` : ''} (and ${formatCount(report.lastSeq - report.size)} after them)\n`;
  const where = report.chain === undefined ? '' : ` at chain ${report.chain} seq ${report.seq}`;
  return `checkpoint: FAILED${where}: ${report.reason}: ${report.message}\n`;
}

/** The chain and tree size a checkpoint note states (unverified: checkAgainstCheckpoint verifies it), or undefined. */
function checkpointTarget(note: string): { chain: string; size: number } | undefined {
  const parsed = parseNote(note);
  const checkpoint = parsed && parseCheckpointBody(parsed.body);
  if (!checkpoint || checkpoint.size === 0) return undefined;
  return { chain: checkpoint.origin.slice(checkpoint.origin.lastIndexOf('/') + 1), size: checkpoint.size };
}

/** The checkpoint note and the witness keys and quorum its cosignatures are held to. */
function readCheckpointOptions(options: AuditVerifyOptions): {
  note: string;
  witnesses: NoteVerifierKey[];
  quorum: number;
} {
  let note: string;
  try {
    const bytes = readFileSync(options.checkpoint!);
    if (bytes.length > MAX_NOTE_BYTES) throw new Error(`larger than ${MAX_NOTE_BYTES} bytes`);
    note = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (error) {
    throw new UsageError(`--checkpoint ${options.checkpoint}: cannot read it (${(error as Error).message})`);
  }
  const witnesses = (options.witness ?? []).map((vkey) => {
    const key = parseVerifierKey(sha256, vkey);
    if (!key || key.type !== COSIGNATURE_ED25519)
      throw new UsageError(`--witness ${vkey}: not a cosignature/v1 Ed25519 verifier key (type 0x04)`);
    return key;
  });
  const quorum =
    options.witnessQuorum === undefined ? witnesses.length : parseCount(options.witnessQuorum, '--witness-quorum', 0);
  if (quorum > witnesses.length) throw new UsageError(`--witness-quorum ${quorum}: more than the witnesses given`);
  return { note, witnesses, quorum };
}

export function registryFor(path: string | undefined): SignerRegistry {
  return loadRegistryFile(path ?? loadConfig().signersPath);
}

async function run(options: AuditVerifyOptions): Promise<number> {
  const config = loadConfig();
  const registry = registryFor(options.signers);
  if (options.prevHash !== undefined && !HASH_PATTERN.test(options.prevHash))
    throw new UsageError('--prev-hash must be 64 lowercase hex digits');
  const verifyOptions = {
    ...(options.chain ? { chains: options.chain } : {}),
    ...(options.from !== undefined ? { fromSeq: parseCount(options.from, '--from', 1) } : {}),
    ...(options.to !== undefined ? { toSeq: parseCount(options.to, '--to', 1) } : {}),
    ...(options.limit !== undefined ? { limit: parseCount(options.limit, '--limit', 1) } : {}),
    ...(options.prevHash !== undefined ? { prevHash: options.prevHash } : {}),
    ...(options.reportBreakglass === true ? { reportBreakglass: true } : {}),
    bookkeeping: {
      budgetBytes:
        (options.memoryBudget === undefined
          ? DEFAULT_MEMORY_BUDGET_MIB
          : parseCount(options.memoryBudget, '--memory-budget', 1)) * MIB,
      spill: spillFolder(),
    },
  };
  if (options.checkpoint === undefined && (options.witness !== undefined || options.witnessQuorum !== undefined))
    throw new UsageError('--witness and --witness-quorum go with --checkpoint');
  const checkpoint = options.checkpoint === undefined ? undefined : readCheckpointOptions(options);
  const source = await openVerifySource(options, config, registry);
  // With the archive, the checkpoint's root is kept as the verification reads the records, not read again.
  const held = checkpoint && checkpointTarget(checkpoint.note);
  if (held && source.reader instanceof ArchiveReader) source.reader.keepRootAt(held.chain, held.size);
  const threads = options.threads !== undefined ? parseCount(options.threads, '--threads', 0) : availableParallelism();
  const small = verifyOptions.limit !== undefined && verifyOptions.limit < WORKER_THRESHOLD_RECORDS;
  const checker =
    threads === 0 || small || options.input !== undefined
      ? inProcessChecker(registry)
      : workerChecker(registry, threads);
  const progress = progressLine(options.progress && !options.json && process.stderr.isTTY === true);
  const started = Date.now();
  try {
    const report = await verifyArchive(source.reader, checker, {
      ...verifyOptions,
      database: source.compared,
      exportedTo: source.exportedTo,
      onProgress: ({ chain, checked, total }) => {
        const rate = Math.round((checked * 1000) / Math.max(1, Date.now() - started));
        progress.update(
          `verifying ${chain}: ${formatCount(checked)} / ${formatCount(total)} (${Math.floor((checked * 100) / Math.max(1, total))}%), ${formatCount(rate)} records/s`,
        );
      },
    });
    progress.done();
    const archive = source.reader instanceof ArchiveReader ? archiveNotes(source.reader.index) : undefined;
    const reader = source.reader;
    const rootKept =
      reader instanceof ArchiveReader ? (chain: string, size: number) => reader.rootKept(chain, size) : undefined;
    const checked =
      checkpoint &&
      (await checkAgainstCheckpoint(source.reader, checkpoint.note, {
        registry,
        ...checkpoint,
        ...(rootKept ? { rootKept } : {}),
      }));
    process.stdout.write(
      options.json
        ? `${JSON.stringify({ ...report, ...(archive ? { archive } : {}), ...(checked ? { checkpoint: checked } : {}) })}\n`
        : `${describeReport(report)}${archive ? describeArchive(archive) : ''}${checked ? describeCheckpoint(checked) : ''}`,
    );
    return report.ok && (checked?.ok ?? true) ? EXIT.ok : EXIT.failed;
  } finally {
    progress.done();
    await checker.close();
    await source.close();
  }
}

/** The source to verify: the archive (with the database to hold to it), a file, or a database. */
async function openVerifySource(
  options: AuditVerifyOptions,
  config: Config,
  registry: SignerRegistry,
): Promise<OpenedSource & { compared?: RecordReader; exportedTo?: { service: string; target: string } }> {
  if (options.archive === undefined) {
    if (options.compareDatabase !== undefined || options.service !== undefined)
      throw new UsageError('--compare-database and --service go with --archive');
    return openSource(options, config);
  }
  if (options.databaseUrl !== undefined || options.dataDir !== undefined || options.input !== undefined) {
    throw new UsageError(
      '--archive is the source: give the database to compare it with as --compare-database, not -d, --data-dir or --input',
    );
  }
  const archive = await openArchiveReader(options.archive, config.archive, registry, options.service);
  const target = options.compareDatabase;
  const db =
    target === undefined
      ? undefined
      : await openDatabaseSource(
          /^postgres(ql)?:\/\//.test(target) ? { databaseUrl: target } : { dataDir: target },
          config,
        ).catch((error: unknown) => {
          archive.close();
          throw error;
        });
  return {
    reader: archive.reader,
    db,
    ...(db
      ? {
          compared: databaseReader(db),
          exportedTo: { service: archive.reader.index.service, target: archive.store.description },
        }
      : {}),
    async close() {
      archive.close();
      await db?.close();
    },
  };
}

export function registerAuditVerify(program: Command, exit: (code: number) => void): void {
  const command = program
    .command('audit-verify')
    .description(
      'verify every record: format, seq, links, hashes, signatures against the registry, stream versions, unique ids; of a database, a file or the archive (exit 0 ok, 1 integrity failure, 2 could not run)',
    );
  addSourceOptions(command)
    .option(
      '-a, --archive <target>',
      'verify the archive in this folder or s3://bucket/prefix: every manifest signature, object hash, link between batches and record',
    )
    .option('--service <name>', "with --archive: the archive's service (default: its only one)")
    .option(
      '--compare-database <url|dir>',
      'with --archive: the database (PostgreSQL URL, or data folder of an embedded one) must hold the archive as a prefix with identical records; behind it or different is an integrity failure',
    )
    .option('-s, --signers <file>', 'signer registry, signers.json (default: the registry in use, CHAINBOOK_SIGNERS)')
    .option('--chain <name...>', 'chains to check (default: every chain)')
    .option('--from <seq>', 'first seq to check (its predecessor must be readable, or given with --prev-hash)')
    .option('--to <seq>', 'last seq to check')
    .option('--limit <n>', 'check only the last N records of each chain, anchored on their predecessor')
    .option('--prev-hash <hex>', 'the hash of the record before the first one checked, from a trusted checkpoint')
    .option('--threads <n>', 'worker threads for signature checks (default: one per core; 0 checks on the main thread)')
    .option(
      '--checkpoint <file>',
      "a checkpoint the auditor holds (a signed note, as GET /checkpoint serves it): the chain its origin names must hold its records, whose root must be the checkpoint's (a cut tail or a restore to an earlier state exits 1)",
    )
    .option(
      '--witness <vkey...>',
      "with --checkpoint: witnesses' verifier keys (cosignature/v1) whose cosignatures count",
    )
    .option(
      '--witness-quorum <n>',
      'with --checkpoint: cosignatures by those witnesses required (default: all of them)',
    )
    .option(
      '--memory-budget <MiB>',
      `memory for the event ids and stream versions remembered between records (default ${DEFAULT_MEMORY_BUDGET_MIB}); past it they are written to temporary files in TMPDIR and checked by a merge at the end, with the same findings`,
    )
    .option('--json', 'print the report as JSON')
    .option(
      '--report-breakglass',
      'list every record signed by a break-glass signer (those named by signing.breakglass_used records)',
    )
    .option('--no-progress', 'no progress line on the terminal')
    .action(async (options: AuditVerifyOptions) => exit(await run(options)));
}
