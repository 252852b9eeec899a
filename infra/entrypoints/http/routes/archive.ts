/**
 * Auditor exports (the finance runbook's auditor export endpoints): the
 * archive's batches and their signed manifests, listed from the configured
 * archive (ARCHIVE_TARGET, docs/FORMAT.md section 8), read-only. Nothing
 * listed is trusted: an auditor checks each batch against its manifest and
 * the published signers.json (`chainbook audit-verify --archive`).
 */
import { z } from 'zod';
import { readIndex } from '../../../../archive/archiveIndex.ts';
import { parseArchiveKey } from '../../../../archive/layout.ts';
import { MAX_MANIFEST_BYTES } from '../../../../archive/limits.ts';
import { READ_ROLES } from '../../../../domain/authorization.ts';
import { CodedError } from '../../../../domain/errors.ts';
import { chooseService, closeStore, openArchiveStore } from '../../../wiring/archiveTargets.ts';
import type { HttpServices } from '../route.ts';
import { defineRoute, QUERY_ERRORS, type RouteSpec } from '../route.ts';
import { pageQuery, pageSchema } from './queryCommon.ts';

const nameSchema = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/);

/** The service asked for, or the archive's only one; several without one asked is the caller's to choose (400). */
export async function serviceOf(
  store: ReturnType<typeof openArchiveStore>,
  asked: string | undefined,
): Promise<string> {
  try {
    return await chooseService(store, asked);
  } catch (error) {
    if (error instanceof CodedError && error.code === 'USAGE')
      throw new CodedError('INVALID_INPUT', error.message.replace('--service', '?service='), {
        problems: ['query.service: the archive holds several services'],
      });
    throw error;
  }
}

async function withArchive<T>(
  services: HttpServices,
  work: (store: ReturnType<typeof openArchiveStore>) => Promise<T>,
) {
  const store = openArchiveStore(services.config.archive.target, services.config.archive);
  try {
    return await work(store);
  } finally {
    closeStore(store);
  }
}

export const archiveRoutes: readonly RouteSpec[] = [
  defineRoute({
    method: 'get',
    path: '/archive/batches',
    operationId: 'listArchiveBatches',
    summary: 'The archive’s batches of a chain in seq order, each with its manifest key, paged (after = a fromSeq)',
    tag: 'archive',
    routeClass: 'query',
    roles: READ_ROLES.archive,
    query: z.object({
      limit: pageQuery.limit,
      after: z.coerce.number().int().min(0).optional().describe('the `next` of the previous page (a fromSeq)'),
      service: nameSchema.optional().describe("the archive's service (default: its only one)"),
      chain: nameSchema.optional().describe('default: CHAINBOOK_CHAIN'),
    }),
    response: pageSchema(
      z.object({
        key: z.string(),
        manifestKey: z.string(),
        date: z.string(),
        chain: z.string(),
        fromSeq: z.number().int(),
        toSeq: z.number().int(),
        hasObject: z.boolean(),
      }),
    ).extend({ service: z.string() }),
    errors: [...QUERY_ERRORS, 404],
    handle: (request, services) =>
      withArchive(services, async (store) => {
        const { query } = request;
        const service = await serviceOf(store, query.service);
        const index = await readIndex(store, service);
        const limit = query.limit ?? 50;
        const batches = (index.chains.get(query.chain ?? services.deps.chain) ?? []).filter(
          (batch) => batch.fromSeq > (query.after ?? 0),
        );
        const items = batches.slice(0, limit).map(({ key, manifestKey, date, chain, fromSeq, toSeq, hasObject }) => ({
          key,
          manifestKey,
          date,
          chain,
          fromSeq,
          toSeq,
          hasObject,
        }));
        return {
          body: { service, items, next: batches.length > limit ? String(items.at(-1)!.fromSeq) : null },
        };
      }),
  }),
  defineRoute({
    method: 'get',
    path: '/archive/manifest',
    operationId: 'getArchiveManifest',
    summary: 'One batch’s signed manifest, as stored (docs/FORMAT.md section 8)',
    tag: 'archive',
    routeClass: 'query',
    roles: READ_ROLES.archive,
    query: z.object({ key: z.string().min(1).max(512).describe('a manifestKey from /archive/batches') }),
    response: z.record(z.string(), z.unknown()),
    errors: [...QUERY_ERRORS, 404],
    handle: (request, services) =>
      withArchive(services, async (store) => {
        const parsed = parseArchiveKey(request.query.key);
        if (parsed?.kind !== 'manifest')
          throw new CodedError('INVALID_INPUT', 'key is not an archive manifest key', {
            problems: ['query.key: not <service>/<date>/<chain>-<from>-<to>.manifest.json'],
          });
        const bytes = await store.get(request.query.key, MAX_MANIFEST_BYTES);
        if (bytes === undefined) throw new CodedError('ARCHIVE_OBJECT_NOT_FOUND', 'no such manifest in the archive');
        return { body: JSON.parse(Buffer.from(bytes).toString('utf8')) as unknown };
      }),
  }),
];
