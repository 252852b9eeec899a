/** Kernel upgrades: status, approvals. Governance is visible to every role that reads everything. */
import { z } from 'zod';
import { READ_ROLES } from '../../../../domain/authorization.ts';
import { streams } from '../../../../domain/streams.ts';
import { findUpgrade, listUpgrades, UPGRADE_STATUSES } from '../../../../projections/governance/governanceQueries.ts';
import { defineRoute, QUERY_ERRORS, type RouteSpec } from '../route.ts';
import { streamVersion } from '../../../adapters/sql/eventLog.ts';
import { versioned } from './marketplace.ts';
import { idParameter, notFound, pageQuery, pageSchema } from './queryCommon.ts';

const upgradeSchema = z.object({
  upgradeId: z.string(),
  description: z.string(),
  payloadSha256: z.string(),
  threshold: z.number().int(),
  approvers: z.array(z.string()),
  proposedBy: z.string(),
  expiresAt: z.string(),
  status: z.enum(UPGRADE_STATUSES),
  approvals: z.number().int(),
  approvedBy: z.array(z.string()),
  decidedBy: z.string().nullable(),
  reason: z.string().nullable(),
  proposedSeq: z.number().int(),
  updatedSeq: z.number().int(),
});

export const governanceRoutes: readonly RouteSpec[] = [
  defineRoute({
    method: 'get',
    path: '/upgrades',
    operationId: 'listUpgrades',
    summary: 'Kernel upgrades, paged, optionally by status',
    tag: 'kernel',
    routeClass: 'query',
    roles: READ_ROLES.governance,
    query: z.object({ ...pageQuery, status: z.enum(UPGRADE_STATUSES).optional() }),
    response: pageSchema(upgradeSchema),
    errors: QUERY_ERRORS,
    handle: async ({ query }, { db }) => ({ body: await listUpgrades(db, query) }),
  }),
  defineRoute({
    method: 'get',
    path: '/upgrades/:upgradeId',
    operationId: 'getUpgrade',
    summary: 'An upgrade with who approved it',
    tag: 'kernel',
    routeClass: 'query',
    roles: READ_ROLES.governance,
    params: z.object({ upgradeId: idParameter }),
    response: upgradeSchema.extend(versioned),
    errors: [...QUERY_ERRORS, 404],
    async handle({ params }, { db }) {
      const upgrade = await findUpgrade(db, params.upgradeId);
      if (!upgrade) throw notFound('UPGRADE_NOT_FOUND', 'upgrade');
      const version = await streamVersion(db, streams.upgrade(upgrade.upgradeId));
      return { body: { ...upgrade, version }, headers: { ETag: `"${version}"` } };
    },
  }),
];
