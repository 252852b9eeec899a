/** Governance: upgrades with their threshold, status and each approval. */
import { jcs } from '../../chain/canonical.ts';
import { assertNever } from '../../domain/errors.ts';
import type { UpgradeEvent } from '../../domain/governance/upgradeEvents.ts';
import { foldRows, requireRow, type RowFold } from '../foldRows.ts';
import type { Projection } from '../projection.ts';
import { insertRows, type TableSpec } from '../rowStore.ts';

export const UPGRADES: TableSpec = {
  name: 'governance_upgrades',
  key: ['upgrade_id'],
  columns: {
    upgrade_id: 'text',
    description: 'text',
    payload_sha256: 'text',
    threshold: 'int4',
    approvers: 'text',
    proposed_by: 'text',
    expires_at: 'text',
    status: 'text',
    approvals: 'int4',
    decided_by: 'text',
    reason: 'text',
    proposed_seq: 'int8',
    updated_seq: 'int8',
  },
};

export const APPROVALS: TableSpec = {
  name: 'governance_approvals',
  key: ['upgrade_id', 'approver_id'],
  columns: { upgrade_id: 'text', approver_id: 'text', seq: 'int8' },
};

const upgradeFold: RowFold<UpgradeEvent> = {
  spec: UPGRADES,
  keyOf: (event) => ({ upgrade_id: event.data.upgradeId }),
  evolve(row, event, record) {
    switch (event.type) {
      case 'upgrade.proposed': {
        const p = event.data;
        return {
          upgrade_id: p.upgradeId,
          description: p.description,
          payload_sha256: p.payloadSha256,
          threshold: p.threshold,
          approvers: jcs(p.approvers),
          proposed_by: p.proposedBy,
          expires_at: p.expiresAt,
          status: 'pending',
          approvals: 0,
          decided_by: null,
          reason: null,
          proposed_seq: record.seq,
          updated_seq: record.seq,
        };
      }
      case 'upgrade.approved':
        return { ...requireRow(row, record), approvals: event.data.approvals, updated_seq: record.seq };
      case 'upgrade.applied':
        return { ...requireRow(row, record), status: 'applied', updated_seq: record.seq };
      case 'upgrade.rejected':
        return {
          ...requireRow(row, record),
          status: 'rejected',
          decided_by: event.data.rejectedBy,
          reason: event.data.reason,
          updated_seq: record.seq,
        };
      case 'upgrade.expired':
        return { ...requireRow(row, record), status: 'expired', updated_seq: record.seq };
      default:
        return assertNever(event, 'upgrade event');
    }
  },
};

export const governanceProjection: Projection = {
  name: 'governance',
  version: 1,
  tables: [UPGRADES, APPROVALS],
  eventTypes: new Set([
    'upgrade.proposed',
    'upgrade.approved',
    'upgrade.applied',
    'upgrade.rejected',
    'upgrade.expired',
  ]),
  async apply(tx, records) {
    await foldRows(tx, upgradeFold, records);
    const approvals = records.flatMap((record) =>
      record.event.type === 'upgrade.approved'
        ? [{ upgrade_id: record.event.data.upgradeId, approver_id: record.event.data.approverId, seq: record.seq }]
        : [],
    );
    await insertRows(tx, APPROVALS, approvals);
  },
};
