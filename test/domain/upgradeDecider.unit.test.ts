import test from 'ava';
import type { Actor } from '../../domain/actor.ts';
import { upgradeDecider, type UpgradeCommand } from '../../domain/governance/upgradeDecider.ts';
import type { UpgradeEvent } from '../../domain/governance/upgradeEvents.ts';
import { given } from '../helpers/given.ts';
import { buyer, operator, superAdmin } from '../helpers/fixtures.ts';

const NOW = '2026-01-01T00:00:00.000Z';
const LATER = '2026-01-08T00:00:00.000Z';
const approvers: Actor[] = ['k-1', 'k-2', 'k-3', 'k-4', 'k-5'].map((id) => ({ id, role: 'Operator' }));
const proposal = {
  upgradeId: 'u-1',
  description: 'kernel 2.0',
  payloadSha256: 'c'.repeat(64),
  threshold: 3,
  approvers: approvers.map((a) => a.id),
  expiresAt: '2026-01-02T00:00:00.000Z',
};
const proposed: UpgradeEvent[] = [{ type: 'upgrade.proposed', data: { ...proposal, proposedBy: superAdmin.id } }];
const approve = (actor: Actor, now = NOW): UpgradeCommand => ({ type: 'ApproveUpgrade', actor, now });
const approved = (index: number, count: number): UpgradeEvent => ({
  type: 'upgrade.approved',
  data: { upgradeId: 'u-1', approverId: approvers[index]!.id, approvals: count },
});

test('a governance role proposes a 3-of-5 upgrade', (t) => {
  given(upgradeDecider).when({ type: 'ProposeUpgrade', actor: superAdmin, now: NOW, proposal }).then(t, proposed);
});

test('a proposal is refused: twice, by an operator, with a bad threshold, duplicate approvers or a past expiry', (t) => {
  const propose = (overrides = {}, actor = superAdmin): UpgradeCommand => ({
    type: 'ProposeUpgrade',
    actor,
    now: NOW,
    proposal: { ...proposal, ...overrides },
  });
  given(upgradeDecider, proposed).when(propose()).thenRejects(t, 'UPGRADE_EXISTS');
  given(upgradeDecider).when(propose({}, operator)).thenRejects(t, 'FORBIDDEN_ROLE');
  given(upgradeDecider)
    .when(propose({ threshold: 6 }))
    .thenRejects(t, 'UPGRADE_THRESHOLD_INVALID');
  given(upgradeDecider)
    .when(propose({ approvers: ['k-1', 'k-1', 'k-2'] }))
    .thenRejects(t, 'UPGRADE_APPROVERS_INVALID');
  given(upgradeDecider)
    .when(propose({ expiresAt: NOW }))
    .thenRejects(t, 'UPGRADE_EXPIRY_INVALID');
  given(upgradeDecider)
    .when(propose({ description: '  ' }))
    .thenRejects(t, 'INVALID_DESCRIPTION');
});

test('3 of 5: the first two approvals are recorded, the third also applies the upgrade with its approvers', (t) => {
  given(upgradeDecider, proposed)
    .when(approve(approvers[0]!))
    .then(t, [approved(0, 1)]);
  given(upgradeDecider, [...proposed, approved(0, 1)])
    .when(approve(approvers[2]!))
    .then(t, [approved(2, 2)]);
  given(upgradeDecider, [...proposed, approved(0, 1), approved(2, 2)])
    .when(approve(approvers[4]!))
    .then(t, [
      approved(4, 3),
      {
        type: 'upgrade.applied',
        data: { upgradeId: 'u-1', payloadSha256: 'c'.repeat(64), approvers: ['k-1', 'k-3', 'k-5'] },
      },
    ]);
});

test('an approval is refused: duplicate, not named, wrong role, expired, already applied, unknown upgrade', (t) => {
  const applied: UpgradeEvent[] = [
    ...proposed,
    approved(0, 1),
    approved(1, 2),
    approved(2, 3),
    {
      type: 'upgrade.applied',
      data: { upgradeId: 'u-1', payloadSha256: 'c'.repeat(64), approvers: ['k-1', 'k-2', 'k-3'] },
    },
  ];
  given(upgradeDecider, [...proposed, approved(0, 1)])
    .when(approve(approvers[0]!))
    .thenRejects(t, 'UPGRADE_ALREADY_APPROVED');
  given(upgradeDecider, proposed).when(approve(operator)).thenRejects(t, 'UPGRADE_APPROVER_NOT_NAMED');
  given(upgradeDecider, proposed)
    .when(approve({ id: 'k-1', role: 'Buyer' }))
    .thenRejects(t, 'FORBIDDEN_ROLE');
  given(upgradeDecider, proposed).when(approve(approvers[0]!, LATER)).thenRejects(t, 'UPGRADE_EXPIRED');
  given(upgradeDecider, applied).when(approve(approvers[3]!)).thenRejects(t, 'UPGRADE_NOT_PENDING');
  given(upgradeDecider).when(approve(approvers[0]!)).thenRejects(t, 'UPGRADE_NOT_FOUND');
});

test('a named approver rejects (vetoes) a pending upgrade; others cannot', (t) => {
  given(upgradeDecider, proposed)
    .when({ type: 'RejectUpgrade', actor: approvers[1]!, now: NOW, reason: 'breaks the ABI' })
    .then(t, [{ type: 'upgrade.rejected', data: { upgradeId: 'u-1', rejectedBy: 'k-2', reason: 'breaks the ABI' } }]);
  given(upgradeDecider, proposed)
    .when({ type: 'RejectUpgrade', actor: operator, now: NOW, reason: 'no' })
    .thenRejects(t, 'UPGRADE_APPROVER_NOT_NAMED');
  given(upgradeDecider, proposed)
    .when({ type: 'RejectUpgrade', actor: approvers[1]!, now: NOW, reason: '' })
    .thenRejects(t, 'INVALID_REASON');
});

test('an upgrade is marked expired only after its expiry, and only while pending', (t) => {
  const expire = (now: string, actor: Actor = superAdmin): UpgradeCommand => ({ type: 'ExpireUpgrade', actor, now });
  given(upgradeDecider, proposed)
    .when(expire(LATER))
    .then(t, [{ type: 'upgrade.expired', data: { upgradeId: 'u-1', expiresAt: proposal.expiresAt } }]);
  given(upgradeDecider, proposed).when(expire(NOW)).thenRejects(t, 'UPGRADE_NOT_EXPIRED');
  given(upgradeDecider, proposed).when(expire(LATER, buyer)).thenRejects(t, 'FORBIDDEN_ROLE');
  given(upgradeDecider).when(expire(LATER)).thenRejects(t, 'UPGRADE_NOT_FOUND');
  given(upgradeDecider, [
    ...proposed,
    { type: 'upgrade.expired', data: { upgradeId: 'u-1', expiresAt: proposal.expiresAt } },
  ])
    .when(expire(LATER))
    .thenRejects(t, 'UPGRADE_NOT_PENDING');
});
