/**
 * The auditor bundle over HTTP (the finance runbook's auditor export
 * endpoints, docs/DESIGN.md "What operations relies on"): what
 * `chainbook audit-bundle --out` writes into a folder, streamed as a .tar.gz
 * while it is made (infra/adapters/files/bundleTarGzip.ts). Everything in it
 * is verified first, as the CLI does; a range that fails verification or
 * holds nothing is answered with an error before the first byte. It signs
 * nothing: the CLI's --issue-proof is a command, this is a read.
 */
import { join } from 'node:path';
import { z } from 'zod';
import { writeAuditBundle, type BundleOptions } from '../../../../archive/auditBundle.ts';
import { RFC3339_PATTERN } from '../../../../chain/registry.ts';
import { READ_ROLES } from '../../../../domain/authorization.ts';
import { CodedError } from '../../../../domain/errors.ts';
import { auditorPage } from '../../../adapters/files/auditorPage.ts';
import { auditorCheckScript, proofTextsIn } from '../../../adapters/files/bundleFolder.ts';
import { sqlBundleTree } from '../../../adapters/sql/bundleTree.ts';
import { bundleTarGzip, type BundleTarGzip } from '../../../adapters/files/bundleTarGzip.ts';
import { zlibCompression } from '../../../adapters/objectStores/gzip.ts';
import { bundleProofTexts } from '../../../adapters/sql/proofDocuments.ts';
import { workerChecker } from '../../../adapters/workers/checkPool.ts';
import { closeStore, openArchiveStore } from '../../../wiring/archiveTargets.ts';
import { serviceOf } from './archive.ts';
import { VERSION } from '../../../wiring/version.ts';
import { defineRoute, QUERY_ERRORS, type RouteSpec } from '../route.ts';

/** Bundles made at once by one API process; more wait for none, they are refused (503, retry later). */
export const MAX_BUNDLES_IN_FLIGHT = 2;
/** Worker threads that check one bundle's signatures, off the thread that answers requests. */
export const BUNDLE_CHECK_THREADS = 1;

let bundlesInFlight = 0;

const nameSchema = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/);

/** An RFC 3339 instant with a zone, as the CLI's --from-ts and --to-ts take it; normalised to the UTC form records use. */
const instantSchema = z
  .string()
  .regex(RFC3339_PATTERN, 'an RFC 3339 time with a zone, e.g. 2026-11-01T00:00:00Z')
  .refine((value) => !Number.isNaN(Date.parse(value)), 'not a real time')
  .transform((value) => new Date(Date.parse(value)).toISOString());

/** `2026-11-01T00:00:00.000Z` → `20261101T000000Z`, for the file name. */
function compact(instant: string): string {
  return `${instant.slice(0, 19).replace(/[-:]/g, '')}Z`;
}

/** Writes the bundle into the archive stream, or fails the stream with why; then frees what the request held. */
async function produce(tar: BundleTarGzip, options: BundleOptions, release: () => Promise<void>): Promise<void> {
  try {
    const report = await writeAuditBundle(options);
    if (!report.ok) {
      const finding = report.finding!;
      throw new CodedError(
        'ARCHIVE_VERIFICATION_FAILED',
        `the archive fails verification at chain ${finding.chain} seq ${finding.seq}: ${finding.reason}`,
        { chain: finding.chain, seq: finding.seq, reason: finding.reason },
      );
    }
    await tar.finish();
  } catch (error) {
    tar.fail(error instanceof Error ? error : new Error(String(error)));
  } finally {
    await release();
  }
}

export const auditBundleRoutes: readonly RouteSpec[] = [
  defineRoute({
    method: 'get',
    path: '/audit/bundle',
    operationId: 'getAuditBundle',
    summary:
      'The auditor bundle of a time range as a .tar.gz: the files `chainbook audit-bundle --out` writes (batches, signed manifests, signers.json, ledger and delivery proofs in range, checkpoints, consistency proofs between consecutive checkpoints and inclusion proof files, bundle.json and its signature bundle.sig, README.md, check.sh, the auditor page index.html), verified first, streamed',
    tag: 'archive',
    routeClass: 'query',
    roles: READ_ROLES.archive,
    query: z
      .object({
        fromTs: instantSchema.describe('start of the range, RFC 3339 (records committed at or after it)'),
        toTs: instantSchema.describe('end of the range, RFC 3339 (records committed at or before it)'),
        service: nameSchema.optional().describe("the archive's service (default: its only one)"),
        chain: nameSchema.optional().describe('default: CHAINBOOK_CHAIN'),
      })
      .refine((query) => query.fromTs <= query.toTs, { message: 'toTs is before fromTs', path: ['toTs'] }),
    responseContentType: 'application/gzip',
    response: z.string().describe('a gzipped POSIX tar of one folder; unpack with tar -xzf, then run its check.sh'),
    responseDescription: 'the bundle, as an attachment',
    errors: [...QUERY_ERRORS, 404, 409, 503],
    async handle({ query }, services) {
      if (bundlesInFlight >= MAX_BUNDLES_IN_FLIGHT)
        throw new CodedError('BUNDLES_BUSY', `${MAX_BUNDLES_IN_FLIGHT} bundles are being made; try again shortly`);
      const chain = query.chain ?? services.deps.chain;
      const store = openArchiveStore(services.config.archive.target, services.config.archive);
      // Counted once the store is open: a store that cannot be opened takes no slot.
      bundlesInFlight += 1;
      let checker: ReturnType<typeof workerChecker> | undefined;
      const release = async () => {
        bundlesInFlight -= 1;
        await checker?.close();
        closeStore(store);
      };
      let service: string;
      let proofTexts: { name: string; text: string }[];
      try {
        service = await serviceOf(store, query.service);
        proofTexts = [
          ...proofTextsIn(join(services.config.dataDir, 'proofs')),
          ...(await bundleProofTexts(services.db, chain, query.fromTs, query.toTs)),
        ];
        checker = workerChecker(services.registry, BUNDLE_CHECK_THREADS);
      } catch (error) {
        await release();
        throw error;
      }
      const name = `audit-bundle-${chain}-${compact(query.fromTs)}-${compact(query.toTs)}`;
      const nowMs = Date.parse(services.now());
      const tar = bundleTarGzip(name, nowMs);
      // Made while it is read: a refusal before the first byte is the answer (server.ts sendStream), after it the connection is cut.
      const bundle: BundleOptions = {
        store,
        registry: services.registry,
        service,
        chain,
        fromTs: query.fromTs,
        toTs: query.toTs,
        out: tar.output,
        checkScript: auditorCheckScript(),
        compression: zlibCompression,
        proofTexts,
        checker,
        version: VERSION,
        nowMs: () => nowMs,
        tree: sqlBundleTree(services.db),
        auditorPage: auditorPage().html,
        signer: services.deps.signer,
      };
      void produce(tar, bundle, release);
      return {
        stream: { contentType: 'application/gzip', body: tar.body },
        headers: { 'Content-Disposition': `attachment; filename="${name}.tar.gz"` },
      };
    },
  }),
];
