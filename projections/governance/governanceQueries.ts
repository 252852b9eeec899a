/** Reads of the governance projection: kernel upgrades and who approved them. */
import { pageOf, pageSize, type Page } from '../page.ts';
import type { ProjectionExecutor } from '../rowStore.ts';

export const UPGRADE_STATUSES = ['pending', 'applied', 'rejected', 'expired'] as const;

export interface UpgradeView {
  upgradeId: string;
  description: string;
  payloadSha256: string;
  threshold: number;
  approvers: string[];
  proposedBy: string;
  expiresAt: string;
  status: (typeof UPGRADE_STATUSES)[number];
  approvals: number;
  /** Who approved so far, in approval order. */
  approvedBy: string[];
  decidedBy: string | null;
  reason: string | null;
  proposedSeq: number;
  updatedSeq: number;
}

// Approvers in seq order; an upgrade has at most MAX_UPGRADE_APPROVERS of them.
const SELECT = `SELECT u.upgrade_id, u.description, u.payload_sha256, u.threshold, u.approvers, u.proposed_by, u.expires_at, u.status, u.approvals,
    u.decided_by, u.reason, u.proposed_seq, u.updated_seq,
    coalesce((SELECT array_agg(a.approver_id ORDER BY a.seq) FROM governance_approvals a WHERE a.upgrade_id = u.upgrade_id), '{}') AS approved_by
  FROM governance_upgrades u`;

function upgradeOf(row: Record<string, unknown>): UpgradeView {
  return {
    upgradeId: row['upgrade_id'] as string,
    description: row['description'] as string,
    payloadSha256: row['payload_sha256'] as string,
    threshold: row['threshold'] as number,
    approvers: JSON.parse(row['approvers'] as string) as string[],
    proposedBy: row['proposed_by'] as string,
    expiresAt: row['expires_at'] as string,
    status: row['status'] as UpgradeView['status'],
    approvals: row['approvals'] as number,
    approvedBy: row['approved_by'] as string[],
    decidedBy: row['decided_by'] as string | null,
    reason: row['reason'] as string | null,
    proposedSeq: row['proposed_seq'] as number,
    updatedSeq: row['updated_seq'] as number,
  };
}

export async function findUpgrade(tx: ProjectionExecutor, upgradeId: string): Promise<UpgradeView | undefined> {
  const { rows } = await tx.query<Record<string, unknown>>(`${SELECT} WHERE u.upgrade_id = $1`, [upgradeId]);
  return rows[0] && upgradeOf(rows[0]);
}

export async function listUpgrades(
  tx: ProjectionExecutor,
  filter: { status?: UpgradeView['status'] | undefined; after?: string | undefined; limit?: number | undefined } = {},
): Promise<Page<UpgradeView>> {
  const limit = pageSize(filter.limit);
  const { rows } = await tx.query<Record<string, unknown>>(
    `${SELECT} WHERE ($1::text IS NULL OR u.status = $1) AND ($2::text IS NULL OR u.upgrade_id > $2) ORDER BY u.upgrade_id LIMIT $3`,
    [filter.status ?? null, filter.after ?? null, limit + 1],
  );
  return pageOf(rows, limit, upgradeOf, (row) => row['upgrade_id'] as string);
}
