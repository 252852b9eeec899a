/**
 * Archive verification with a database beside it (`audit-verify --archive …
 * --compare-database URL`). The archive is verified as any source is
 * (verify.ts; the archive reader adds its batch and manifest checks); every
 * verified page is then compared, byte for byte, with the database's records
 * at the same seqs. The database's chain must hold the archive as a prefix:
 *
 *   database-behind-archive  the database has no record at a seq the archive
 *                            holds, or its head row is before the archive's
 *                            newest signed manifest: its tail was cut or it
 *                            was rolled back;
 *   database-mismatch        the database's record at a seq is another text
 *                            than the archive's (changed, or a record missing
 *                            in the middle).
 *
 * The archive's newest manifest is the signed checkpoint the database is
 * held to (docs/FORMAT.md section 8). The other way round, the database's
 * `archive.exported` records after the archive's end must not name batches of
 * this archive that it does not hold (`batch-missing`: batches were removed
 * from the archive's tail).
 */
import { ARCHIVE_EXPORTED_TYPE, type ArchiveExported } from './exportedEvent.ts';
import type { LineChecker, RecordReader } from '../verifier/reader.ts';
import { verify, type ChainSummary, type Finding, type VerifyOptions, type VerifyReport } from '../verifier/verify.ts';
import { assert } from '../domain/errors.ts';

export interface ArchiveVerifyOptions extends VerifyOptions {
  /** The database whose chain must hold the archive as a prefix. */
  database?: RecordReader | undefined;
  /**
   * The archive's service and target as `archive.exported` names them: with
   * a database, exports it records beyond the archive's end show batches
   * removed from the archive.
   */
  exportedTo?: { service: string; target: string } | undefined;
}

class ComparisonFailed extends Error {
  readonly finding: Finding;
  constructor(finding: Finding) {
    super(finding.message);
    this.finding = finding;
  }
}

function seqOf(line: string): number | undefined {
  try {
    const seq = (JSON.parse(line) as { seq?: unknown }).seq;
    return Number.isSafeInteger(seq) ? (seq as number) : undefined;
  } catch {
    return undefined;
  }
}

/** Compares verified archive pages with the database's records at the same seqs; throws ComparisonFailed at the first difference. */
async function comparePage(
  database: RecordReader,
  known: ReadonlySet<string>,
  chain: string,
  lines: readonly string[],
): Promise<void> {
  const fromSeq = seqOf(lines[0]!);
  assert(fromSeq !== undefined, 'a verified archive line has no seq');
  const toSeq = fromSeq + lines.length - 1;
  const fail = (reason: Finding['reason'], seq: number, message: string): never => {
    throw new ComparisonFailed({ chain, seq, reason, message });
  };
  let index = 0;
  if (known.has(chain)) {
    for await (const page of database.pages(chain, fromSeq, toSeq)) {
      for (const text of page) {
        const seq = fromSeq + index;
        if (text !== lines[index]) {
          const found = seqOf(text);
          fail(
            'database-mismatch',
            seq,
            found === seq
              ? `record ${seq} in the database is not the archived record`
              : `the database has no record at seq ${seq} (records were removed from the middle of the chain)`,
          );
        }
        index += 1;
      }
    }
  }
  if (index < lines.length) {
    fail(
      'database-behind-archive',
      fromSeq + index,
      `the database's chain ${chain} stops before seq ${fromSeq + index}, which the archive holds: records were removed from its tail or it was rolled back`,
    );
  }
}

/** The database's head row must not be before the archive's end (its records may be there while the head was rolled back). */
async function compareHeads(database: RecordReader, chains: readonly ChainSummary[]): Promise<Finding | undefined> {
  for (const summary of chains) {
    if (summary.records === 0) continue;
    const head = await database.claimedHead?.(summary.chain);
    if (head && head.seq < summary.toSeq) {
      return {
        chain: summary.chain,
        seq: head.seq + 1,
        reason: 'database-behind-archive',
        message: `the database's head row says seq ${head.seq}, the archive reaches seq ${summary.toSeq}: the database was rolled back`,
      };
    }
  }
  return undefined;
}

/** archive.exported records after the archive's end that name a batch of this archive reaching past it. */
async function removedBatches(
  database: RecordReader,
  chains: readonly ChainSummary[],
  exportedTo: { service: string; target: string },
): Promise<Finding | undefined> {
  for (const summary of chains) {
    if (summary.records === 0) continue;
    for await (const page of database.pages(summary.chain, summary.toSeq + 1, await database.lastSeq(summary.chain))) {
      for (const line of page) {
        if (!line.includes(`"type":"${ARCHIVE_EXPORTED_TYPE}"`)) continue;
        const { type, data } = JSON.parse(line) as { type: string; data: Partial<ArchiveExported> };
        if (
          type !== ARCHIVE_EXPORTED_TYPE ||
          data.service !== exportedTo.service ||
          data.target !== exportedTo.target ||
          data.chain !== summary.chain
        )
          continue;
        if ((data.toSeq ?? 0) <= summary.toSeq) continue;
        const message = `the database records the export of ${String(data.batchKey)} (seq ${String(data.fromSeq)}..${String(data.toSeq)}) to ${exportedTo.target}, which the archive, ending at seq ${summary.toSeq}, does not hold: batches were removed from the archive`;
        return {
          chain: summary.chain,
          seq: summary.toSeq + 1,
          reason: 'batch-missing',
          message,
          ...(typeof data.batchKey === 'string' ? { batch: data.batchKey } : {}),
        };
      }
    }
  }
  return undefined;
}

export async function verifyArchive(
  archive: RecordReader,
  checker: LineChecker,
  options: ArchiveVerifyOptions = {},
): Promise<VerifyReport> {
  const { database, exportedTo, ...verifyOptions } = options;
  if (!database) return verify(archive, checker, verifyOptions);
  const started = performance.now();
  let compared = 0;
  const known = new Set(await database.chains());
  try {
    const report = await verify(archive, checker, {
      ...verifyOptions,
      onVerifiedPage: async (chain, lines) => {
        await comparePage(database, known, chain, lines);
        compared += lines.length;
        await verifyOptions.onVerifiedPage?.(chain, lines);
      },
    });
    if (!report.ok) return report;
    const toEnd = verifyOptions.toSeq === undefined;
    const finding =
      (await compareHeads(database, report.chains)) ??
      (toEnd && exportedTo ? await removedBatches(database, report.chains, exportedTo) : undefined);
    return finding ? { ...report, ok: false, finding } : report;
  } catch (error) {
    if (!(error instanceof ComparisonFailed)) throw error;
    return {
      ok: false,
      finding: error.finding,
      source: archive.description,
      chains: [],
      records: compared,
      elapsedMs: Math.round(performance.now() - started),
    };
  }
}
