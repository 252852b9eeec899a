/**
 * `chainbook audit-bundle --from-ts T1 --to-ts T2 --out DIR`: the archive
 * batches holding the records of a time range, their signed manifests,
 * signers.json, the ledger proofs in range, the tree's checkpoints and
 * inclusion proof files, the auditor page and a README with the OpenSSL,
 * sha256sum and jq commands that check them without our software. Exit 0
 * written, 1 something to bundle failed verification, 2 could not run.
 */
import { availableParallelism, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { issueLedgerProof } from '../../../commands/ledger/issueLedgerProof.ts';
import { RFC3339_PATTERN } from '../../../chain/registry.ts';
import { inProcessChecker } from '../../../verifier/inProcessChecker.ts';
import { writeAuditBundle, type BundleReport, type BundleTreeSource } from '../../../archive/auditBundle.ts';
import { auditorPage } from '../../adapters/files/auditorPage.ts';
import { sqlBundleTree } from '../../adapters/sql/bundleTree.ts';
import { auditorCheckScript, bundleFolder, proofTextsIn } from '../../adapters/files/bundleFolder.ts';
import { zlibCompression } from '../../adapters/objectStores/gzip.ts';
import { chooseService, closeStore, openArchiveStore } from '../../wiring/archiveTargets.ts';
import { contextFor } from '../../../commands/context.ts';
import { openApp } from '../../wiring/app.ts';
import { loadConfig, type Config } from '../../wiring/config.ts';
import { openSigning } from '../../wiring/signing.ts';
import { VERSION } from '../../wiring/version.ts';
import { workerChecker } from '../../adapters/workers/checkPool.ts';
import { registryFor } from './auditVerify.ts';
import { EXIT, parseCount, UsageError } from './io.ts';
import { openDatabaseSource } from './sources.ts';
import { bundleProofTexts, unstoredProofsIn } from '../../adapters/sql/proofDocuments.ts';
import type { SqlDatabase } from '../../adapters/sql/sql.ts';

interface BundleCommandOptions {
  fromTs: string;
  toTs: string;
  out: string;
  archive?: string;
  service?: string;
  chain?: string;
  signers?: string;
  proofs?: string;
  issueProof?: boolean;
  threads?: string;
  json?: boolean;
}

/** An RFC 3339 instant with a zone, as the UTC millisecond form records use. */
function instant(value: string, name: string): string {
  if (!RFC3339_PATTERN.test(value) || Number.isNaN(Date.parse(value)))
    throw new UsageError(
      `${name} must be an RFC 3339 time with a zone, e.g. 2026-11-01T00:00:00Z (got ${JSON.stringify(value)})`,
    );
  return new Date(Date.parse(value)).toISOString();
}

function describe(report: BundleReport): string {
  if (!report.ok) {
    const f = report.finding!;
    return `audit-bundle: FAILED at chain ${f.chain} seq ${f.seq}: ${f.reason}: ${f.message}\n`;
  }
  const skipped = report.skippedProofs.map((proof) => `  proof ${proof.name} left out: ${proof.reason}\n`).join('');
  return `audit-bundle: OK, ${report.outDir}: records seq ${report.fromSeq}..${report.toSeq} in ${report.batches.length} batches, ${report.proofs.length} ledger proofs, ${report.deliveryProofs.length} delivery proofs; check it with: bash ${join(report.outDir, 'check.sh')}\n${skipped}`;
}

/** --issue-proof: a new ledger proof over the bundle's range, signed by the configured signer and recorded as ledger.proof_issued. */
function proofIssuer(config: Config, chain: string) {
  return async (fromSeq: number, toSeq: number) => {
    const app = await openApp({ ...config, defaultChain: chain });
    try {
      const result = await issueLedgerProof(
        app.deps,
        { fromSeq, toSeq },
        contextFor({ id: `cli-${userInfo().username}`, role: 'Operator' }),
      );
      if (!result.proof) throw new UsageError('the proof was not issued');
      return result.proof;
    } finally {
      await app.close();
    }
  };
}

/** The configured database, when there is one to read proofs from; undefined (said on stderr) when there is none. */
async function proofDatabase(config: Config): Promise<SqlDatabase | undefined> {
  try {
    return await openDatabaseSource({}, config);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`audit-bundle: no ledger proofs read from a database: ${error.message}\n`);
    return undefined;
  }
}

/** The documents the database kept of proofs in the period (infra/adapters/sql/proofDocuments.ts). */
async function storedProofTexts(db: SqlDatabase | undefined, chain: string, fromTs: string, toTs: string) {
  return db === undefined ? [] : bundleProofTexts(db, chain, fromTs, toTs);
}

/** Proofs the chain recorded in the bundle's range whose document nobody kept: left out, and said so. */
async function unstored(db: SqlDatabase | undefined, chain: string, report: BundleReport): Promise<BundleReport> {
  if (db === undefined || !report.ok) return report;
  const missing = await unstoredProofsIn(db, chain, report.fromSeq, report.toSeq);
  const present = new Set(report.proofs);
  const skipped = missing
    .filter((proofId) => !present.has(proofId))
    .map((proofId) => ({ name: proofId, reason: 'recorded in the chain, but its signed document was not kept' }));
  return { ...report, skippedProofs: [...report.skippedProofs, ...skipped] };
}

/**
 * The chain's tree, read from the configured database once the bundle asks
 * (after --issue-proof has closed its own: an embedded database is opened by
 * one at a time); with no database the bundle holds no checkpoint.
 */
function lazyTree(config: Config): { source: BundleTreeSource; close(): Promise<void> } {
  let opened: Promise<SqlDatabase | undefined> | undefined;
  const tree = async () => {
    // Quietly: proofDatabase has said already when there is no database.
    opened ??= openDatabaseSource({}, config).catch((error: unknown) => {
      if (error instanceof UsageError) return undefined;
      throw error;
    });
    const db = await opened;
    return db && sqlBundleTree(db);
  };
  return {
    source: {
      checkpoints: async (chain, fromSeq, toSeq, limit) =>
        (await tree())?.checkpoints(chain, fromSeq, toSeq, limit) ?? [],
      inclusionProof: async (chain, seq) => (await tree())?.inclusionProof(chain, seq),
      // Asked only between checkpoints it gave, so the database is open.
      consistencyProof: async (chain, oldSize, newSize) => {
        const source = await tree();
        if (!source) throw new Error('no database to prove consistency from');
        return source.consistencyProof(chain, oldSize, newSize);
      },
    },
    async close() {
      const closing = opened;
      opened = undefined;
      await (await closing)?.close();
    },
  };
}

async function run(options: BundleCommandOptions): Promise<number> {
  const config = loadConfig();
  const registry = registryFor(options.signers);
  const fromTs = instant(options.fromTs, '--from-ts');
  const toTs = instant(options.toTs, '--to-ts');
  if (toTs < fromTs) throw new UsageError('--to-ts is before --from-ts');
  const store = openArchiveStore(options.archive ?? config.archive.target, config.archive);
  const threads = options.threads !== undefined ? parseCount(options.threads, '--threads', 0) : availableParallelism();
  const checker = threads === 0 ? inProcessChecker(registry) : workerChecker(registry, threads);
  const chain = options.chain ?? config.defaultChain;
  // Read before the bundle is written and closed (an embedded database is opened again by --issue-proof).
  let db = await proofDatabase(config);
  const storedProofs = await storedProofTexts(db, chain, fromTs, toTs);
  await db?.close();
  db = undefined;
  const tree = lazyTree(config);
  // The configured signer signs bundle.json (docs/FORMAT.md section 15): a bundle cut and re-described fails.
  const signing = await openSigning(config);
  try {
    const folderProofs = proofTextsIn(options.proofs ?? join(config.dataDir, 'proofs'));
    const written = await writeAuditBundle({
      store,
      registry,
      service: await chooseService(store, options.service),
      chain,
      fromTs,
      toTs,
      out: bundleFolder(resolve(options.out)),
      checkScript: auditorCheckScript(),
      compression: zlibCompression,
      proofTexts: [...folderProofs, ...storedProofs],
      checker,
      issueProof: options.issueProof ? proofIssuer(config, chain) : undefined,
      version: VERSION,
      nowMs: Date.now,
      tree: tree.source,
      auditorPage: auditorPage().html,
      signer: signing.signer,
    });
    await tree.close();
    db = await proofDatabase(config);
    const report = await unstored(db, chain, written);
    process.stdout.write(options.json ? `${JSON.stringify(report)}\n` : describe(report));
    return report.ok ? EXIT.ok : EXIT.failed;
  } finally {
    await signing.signer.close();
    await tree.close();
    await checker.close();
    closeStore(store);
    await db?.close();
  }
}

export function registerAuditBundle(program: Command, exit: (code: number) => void): void {
  program
    .command('audit-bundle')
    .description(
      "write an auditor's bundle: the archive batches of a time range, their signed manifests, signers.json, the ledger proofs in range and a README with OpenSSL / sha256sum / jq commands to check them (exit 0 written, 1 verification failure, 2 could not run)",
    )
    .requiredOption('--from-ts <time>', 'start of the range, RFC 3339 (records committed at or after it)')
    .requiredOption('--to-ts <time>', 'end of the range, RFC 3339 (records committed at or before it)')
    .requiredOption('--out <dir>', 'a new or empty folder for the bundle')
    .option('-a, --archive <target>', 'the archive: a folder or s3://bucket/prefix (default: ARCHIVE_TARGET, …)')
    .option('--service <name>', "the archive's service (default: its only one)")
    .option('--chain <name>', 'the chain (default: CHAINBOOK_CHAIN or main)')
    .option('-s, --signers <file>', 'signer registry (default: the registry in use); copied into the bundle')
    .option(
      '--proofs <dir>',
      'ledger proof documents to include when their range lies in the bundle (default: <data dir>/proofs)',
    )
    .option(
      '--issue-proof',
      "also sign a new ledger proof over the bundle's range (recorded in the chain as ledger.proof_issued)",
    )
    .option('--threads <n>', 'worker threads for signature checks (default: one per core; 0 checks on the main thread)')
    .option('--json', 'print the report as JSON')
    .action(async (options: BundleCommandOptions) => exit(await run(options)));
}
