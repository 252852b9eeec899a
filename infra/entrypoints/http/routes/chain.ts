/** The chain itself: head, a record by seq, a bounded page of records, the projection digests; and the signer registry in use. */
import { z } from 'zod';
import { readHead } from '../../../adapters/sql/eventLog.ts';
import { READ_ROLES } from '../../../../domain/authorization.ts';
import { spkiPem } from '../../../adapters/signers/der.ts';
import { projectionCheckpoints, projectionDigests } from '../../../../projections/projections.ts';
import { HttpError } from '../errors.ts';
import { defineRoute, QUERY_ERRORS, type RouteSpec } from '../route.ts';

/** Records in one page of GET /chain/records. */
export const MAX_RECORDS_PER_PAGE = 200;
export const DEFAULT_RECORDS_PER_PAGE = 50;

const headSchema = z.object({ chain: z.string(), seq: z.number().int(), hash: z.string(), ts: z.string().nullable() });
const recordSchema = z.record(z.string(), z.unknown()).describe('a chain record (docs/FORMAT.md), as stored');
const seqSchema = z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER);

export const chainRoutes: readonly RouteSpec[] = [
  defineRoute({
    method: 'get',
    path: '/chain/head',
    operationId: 'getChainHead',
    summary: 'The head of the chain commands append to',
    tag: 'chain',
    routeClass: 'query',
    roles: READ_ROLES.chain,
    response: headSchema,
    errors: QUERY_ERRORS,
    async handle(_request, { app, deps }) {
      const { chain, seq, hash, ts } = await app.runtime.store.head(deps.chain);
      return { body: { chain, seq, hash, ts } };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/chain/records',
    operationId: 'listChainRecords',
    summary: `Records from seq \`from\` (default 1), at most ${MAX_RECORDS_PER_PAGE} a page`,
    tag: 'chain',
    routeClass: 'query',
    roles: READ_ROLES.chain,
    query: z.object({
      from: seqSchema.optional(),
      limit: z.coerce.number().int().min(1).max(MAX_RECORDS_PER_PAGE).optional(),
    }),
    response: z.object({
      records: z.array(recordSchema),
      next: z.number().int().nullable().describe('the `from` of the next page; null at the head'),
    }),
    errors: QUERY_ERRORS,
    async handle({ query }, { app, deps }) {
      const limit = query.limit ?? DEFAULT_RECORDS_PER_PAGE;
      const page = await app.runtime.store.readChain(deps.chain, { fromSeq: query.from ?? 1, limit });
      const last = page[page.length - 1]?.record.seq;
      return {
        body: {
          records: page.map((stored) => stored.record),
          next: page.length === limit && last !== undefined ? last + 1 : null,
        },
      };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/chain/records/:seq',
    operationId: 'getChainRecord',
    summary: 'One record by seq',
    tag: 'chain',
    routeClass: 'query',
    roles: READ_ROLES.chain,
    params: z.object({ seq: seqSchema }),
    response: recordSchema,
    errors: [...QUERY_ERRORS, 404],
    async handle({ params }, { app, deps }) {
      const [stored] = await app.runtime.store.readChain(deps.chain, {
        fromSeq: params.seq,
        toSeq: params.seq,
        limit: 1,
      });
      if (!stored)
        throw new HttpError('RECORD_NOT_FOUND', `chain ${deps.chain} has no record ${params.seq}`, { seq: params.seq });
      return { body: stored.record };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/projections/digests',
    operationId: 'getProjectionDigests',
    summary: 'SHA-256 of every projection and the seq it is folded to (compare with chainbook replay --compare)',
    tag: 'chain',
    routeClass: 'query',
    roles: READ_ROLES.chain,
    response: z.object({
      chain: z.string(),
      headSeq: z.number().int(),
      foldedSeq: z.number().int(),
      digests: z.record(z.string(), z.string()),
    }),
    errors: QUERY_ERRORS,
    async handle(_request, { deps, db }) {
      // One transaction (and so, on PGlite, nothing outside it): the digests, checkpoint and head describe the same state.
      return db.transaction(async (tx) => {
        const head = (await readHead(tx, deps.chain)) ?? { seq: 0 };
        const foldedSeq = (await projectionCheckpoints(tx)).get(deps.chain) ?? 0;
        return { body: { chain: deps.chain, headSeq: head.seq, foldedSeq, digests: await projectionDigests(tx) } };
      });
    },
  }),
  defineRoute({
    method: 'get',
    path: '/kernel/security/status',
    operationId: 'getSecurityStatus',
    summary:
      'The signer in use, the registry (public keys only), and whether the service is read-only; public, like a JWKS: verifiers and auditors need no credentials',
    tag: 'kernel',
    routeClass: 'query',
    roles: 'public',
    response: z.object({
      mode: z.enum(['read-write', 'read-only']),
      readOnlyReason: z.string().nullable(),
      signer: z.object({ kid: z.string(), algorithm: z.string(), backend: z.string(), sessionKeys: z.boolean() }),
      signers: z.array(
        z.object({
          signer_kid: z.string(),
          algorithm: z.string(),
          public_key_pem: z.string(),
          deployedAt: z.string(),
          retiredAt: z.string().nullable(),
          description: z.string().nullable(),
        }),
      ),
    }),
    errors: [429],
    async handle(_request, { app, config, registry }) {
      const signers = [...registry.signers.values()].map((entry) => ({
        signer_kid: entry.kid,
        algorithm: entry.algorithm,
        public_key_pem: entry.publicKeyPem || spkiPem(entry.publicKey),
        deployedAt: entry.deployedAt,
        retiredAt: entry.retiredAt,
        description: entry.description,
      }));
      const reason = config.signingDisabledReason ?? null;
      return {
        body: {
          mode: reason === null ? 'read-write' : 'read-only',
          readOnlyReason: reason,
          signer: {
            kid: app.runtime.signer.kid,
            algorithm: app.runtime.signer.algorithm,
            backend: config.signing.backend,
            sessionKeys: config.signing.sessionKeys,
          },
          signers,
        },
      };
    },
  }),
];
