/** Ledger reads: balances, the journal, the trial balance, the signed proofs. Finance roles and Auditors. */
import { z } from 'zod';
import { READ_ROLES } from '../../../../domain/authorization.ts';
import { accountBalancePage, journalPage, trialBalance } from '../../../../projections/ledger/ledgerQueries.ts';
import { proofDocument, proofListing } from '../../../adapters/sql/proofDocuments.ts';
import { withInclusion } from './inclusion.ts';
import { defineRoute, QUERY_ERRORS, type RouteSpec } from '../route.ts';
import { idParameter, notFound, pageQuery, pageSchema } from './queryCommon.ts';

const balanceSchema = z.object({
  account: z.string(),
  currency: z.string(),
  kind: z.enum(['asset', 'liability', 'revenue', 'expense', 'equity']),
  balanceMinor: z.number().int().describe('on the normal side of the account'),
});
const journalSchema = z.object({
  transactionId: z.string(),
  chain: z.string(),
  seq: z.number().int(),
  recordHash: z.string(),
  reason: z.string(),
  orderId: z.string().nullable(),
  postedAt: z.string(),
  entries: z.array(
    z.object({
      line: z.number().int(),
      account: z.string(),
      direction: z.enum(['debit', 'credit']),
      amountMinor: z.number().int(),
      currency: z.string(),
    }),
  ),
});
const trialBalanceSchema = z.object({
  lines: z.array(
    z.object({
      currency: z.string(),
      debitMinor: z.number().int(),
      creditMinor: z.number().int(),
      totalMinor: z.number().int().describe('zero in a sound ledger'),
    }),
  ),
});

export const financeRoutes: readonly RouteSpec[] = [
  defineRoute({
    method: 'get',
    path: '/ledger/accounts',
    operationId: 'listAccountBalances',
    summary: 'Account balances per currency, paged; optionally one account',
    tag: 'finance',
    routeClass: 'query',
    roles: READ_ROLES.ledger,
    query: z.object({ ...pageQuery, account: z.string().min(1).max(256).optional() }),
    response: pageSchema(balanceSchema),
    errors: QUERY_ERRORS,
    handle: async ({ query }, { db }) => ({ body: await accountBalancePage(db, query) }),
  }),
  defineRoute({
    method: 'get',
    path: '/ledger/journal',
    operationId: 'listJournal',
    summary: 'The journal in seq order with every entry, paged (after = a seq)',
    tag: 'finance',
    routeClass: 'query',
    roles: READ_ROLES.ledger,
    query: z.object({
      limit: pageQuery.limit,
      after: z.coerce.number().int().min(0).optional().describe('the `next` of the previous page (a seq)'),
    }),
    response: pageSchema(journalSchema),
    errors: QUERY_ERRORS,
    handle: async ({ query }, { db, deps }) => ({
      body: await journalPage(db, deps.chain, { afterSeq: query.after, limit: query.limit }),
    }),
  }),
  defineRoute({
    method: 'get',
    path: '/ledger/trial-balance',
    operationId: 'getTrialBalance',
    summary: 'Debits and credits per currency over every account',
    tag: 'finance',
    routeClass: 'query',
    roles: READ_ROLES.ledger,
    response: trialBalanceSchema,
    errors: QUERY_ERRORS,
    handle: async (_request, { db }) => ({ body: { lines: await trialBalance(db) } }),
  }),
  defineRoute({
    method: 'get',
    path: '/ledger/proofs',
    operationId: 'listLedgerProofs',
    summary: 'The ledger proofs the chain recorded, in the order issued, paged (after = an issued seq)',
    tag: 'finance',
    routeClass: 'query',
    roles: READ_ROLES.ledger,
    query: z.object({
      limit: pageQuery.limit,
      after: z.coerce.number().int().min(0).optional().describe('the `next` of the previous page (a seq)'),
    }),
    response: pageSchema(
      z.object({
        proofId: z.string(),
        chain: z.string(),
        fromSeq: z.number().int(),
        toSeq: z.number().int(),
        issuedSeq: z.number().int(),
        signerKid: z.string(),
        stored: z.boolean().describe('whether GET /ledger/proofs/{proofId} has its signed document'),
      }),
    ),
    errors: QUERY_ERRORS,
    async handle({ query }, { db, deps }) {
      const limit = query.limit ?? 50;
      const rows = await proofListing(db, deps.chain, query.after ?? 0, limit + 1);
      const items = rows.slice(0, limit);
      return { body: { items, next: rows.length > limit ? String(items.at(-1)!.issuedSeq) : null } };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/ledger/proofs/:proofId',
    operationId: 'getLedgerProof',
    summary:
      'A signed ledger proof as issued (docs/FORMAT.md section 9), with `inclusion`, the inclusion proof file of its record at `to_seq`, once a published checkpoint covers it (section 14): check it with verify-proof or OpenSSL',
    tag: 'finance',
    routeClass: 'query',
    roles: READ_ROLES.ledger,
    params: z.object({ proofId: idParameter }),
    response: z.record(z.string(), z.unknown()).describe('canonical_payload, signature, signer_kid, range_hash, …'),
    errors: [...QUERY_ERRORS, 404],
    async handle({ params }, services) {
      const stored = await proofDocument(services.db, services.deps.chain, params.proofId);
      if (!stored || !stored.matchesChain) throw notFound('PROOF_NOT_FOUND', 'ledger proof');
      // The record at to_seq proven in the tree, once a published checkpoint covers it (docs/FORMAT.md section 14).
      const { chain, to_seq: toSeq } = stored.document as { chain: string; to_seq: number };
      return { body: await withInclusion(services, stored.document, chain, toSeq) };
    },
  }),
];
