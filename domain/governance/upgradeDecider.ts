/**
 * Multisig kernel upgrades: proposed with k of n named approvers; each named
 * approver approves at most once; the k-th distinct approval applies the
 * upgrade in the same decision. A named approver may veto (reject); after
 * `expiresAt` approvals are refused and anyone with a governance role may mark
 * it expired.
 */
import { requireRole, type Actor, type Role } from '../actor.ts';
import { COMMAND_ROLES } from '../authorization.ts';
import type { Decider } from '../decider.ts';
import { assert, assertNever, CodedError } from '../errors.ts';
import { requireText } from '../ids.ts';
import type { UpgradeEvent, UpgradeProposed } from './upgradeEvents.ts';

export type UpgradeCommand =
  | { type: 'ProposeUpgrade'; actor: Actor; now: string; proposal: Omit<UpgradeProposed, 'proposedBy'> }
  | { type: 'ApproveUpgrade'; actor: Actor; now: string }
  | { type: 'RejectUpgrade'; actor: Actor; now: string; reason: string }
  | { type: 'ExpireUpgrade'; actor: Actor; now: string };

export type UpgradeStatus = 'pending' | 'applied' | 'rejected' | 'expired';
export type UpgradeState =
  { status: 'absent' } | { status: UpgradeStatus; proposal: UpgradeProposed; approvedBy: string[] };

function propose(command: Extract<UpgradeCommand, { type: 'ProposeUpgrade' }>, state: UpgradeState): UpgradeEvent[] {
  const { actor, proposal, now } = command;
  requireRole(actor, COMMAND_ROLES.ProposeUpgrade, 'proposing an upgrade');
  if (state.status !== 'absent')
    throw new CodedError('UPGRADE_EXISTS', `upgrade ${proposal.upgradeId} was already proposed`, {
      upgradeId: proposal.upgradeId,
    });
  requireText(proposal.description, 'INVALID_DESCRIPTION', 'description');
  const distinct = new Set(proposal.approvers);
  if (distinct.size !== proposal.approvers.length)
    throw new CodedError('UPGRADE_APPROVERS_INVALID', 'approvers must be distinct', {});
  if (proposal.threshold < 1 || proposal.threshold > proposal.approvers.length) {
    throw new CodedError(
      'UPGRADE_THRESHOLD_INVALID',
      `threshold must be between 1 and the ${proposal.approvers.length} approvers (got ${proposal.threshold})`,
      {
        threshold: proposal.threshold,
        approvers: proposal.approvers.length,
      },
    );
  }
  if (Date.parse(proposal.expiresAt) <= Date.parse(now)) {
    throw new CodedError('UPGRADE_EXPIRY_INVALID', `expiresAt ${proposal.expiresAt} is not in the future`, {
      expiresAt: proposal.expiresAt,
    });
  }
  return [{ type: 'upgrade.proposed', data: { ...proposal, proposedBy: actor.id } }];
}

function requirePending(state: UpgradeState, now: string): Extract<UpgradeState, { status: UpgradeStatus }> {
  if (state.status === 'absent') throw new CodedError('UPGRADE_NOT_FOUND', 'no such upgrade');
  if (state.status !== 'pending') {
    throw new CodedError('UPGRADE_NOT_PENDING', `upgrade ${state.proposal.upgradeId} is already ${state.status}`, {
      status: state.status,
    });
  }
  if (Date.parse(now) >= Date.parse(state.proposal.expiresAt)) {
    throw new CodedError(
      'UPGRADE_EXPIRED',
      `upgrade ${state.proposal.upgradeId} expired at ${state.proposal.expiresAt}`,
      { expiresAt: state.proposal.expiresAt },
    );
  }
  return state;
}

function requireNamed(
  state: Extract<UpgradeState, { status: UpgradeStatus }>,
  actor: Actor,
  roles: readonly Role[],
): void {
  requireRole(actor, roles, 'deciding on an upgrade');
  if (!state.proposal.approvers.includes(actor.id)) {
    throw new CodedError(
      'UPGRADE_APPROVER_NOT_NAMED',
      `${actor.id} is not one of the named approvers of upgrade ${state.proposal.upgradeId}`,
      { approver: actor.id },
    );
  }
}

function approve(command: Extract<UpgradeCommand, { type: 'ApproveUpgrade' }>, state: UpgradeState): UpgradeEvent[] {
  const current = requirePending(state, command.now);
  requireNamed(current, command.actor, COMMAND_ROLES.ApproveUpgrade);
  const { upgradeId, threshold, payloadSha256 } = current.proposal;
  if (current.approvedBy.includes(command.actor.id)) {
    throw new CodedError('UPGRADE_ALREADY_APPROVED', `${command.actor.id} already approved upgrade ${upgradeId}`, {
      approver: command.actor.id,
    });
  }
  const approvers = [...current.approvedBy, command.actor.id];
  const approved: UpgradeEvent = {
    type: 'upgrade.approved',
    data: { upgradeId, approverId: command.actor.id, approvals: approvers.length },
  };
  if (approvers.length < threshold) return [approved];
  return [approved, { type: 'upgrade.applied', data: { upgradeId, payloadSha256, approvers } }];
}

export const upgradeDecider: Decider<UpgradeCommand, UpgradeEvent, UpgradeState> = {
  initialState: { status: 'absent' },
  decide(command, state) {
    switch (command.type) {
      case 'ProposeUpgrade':
        return propose(command, state);
      case 'ApproveUpgrade':
        return approve(command, state);
      case 'RejectUpgrade': {
        const current = requirePending(state, command.now);
        requireNamed(current, command.actor, COMMAND_ROLES.RejectUpgrade);
        requireText(command.reason, 'INVALID_REASON', 'reason');
        return [
          {
            type: 'upgrade.rejected',
            data: { upgradeId: current.proposal.upgradeId, rejectedBy: command.actor.id, reason: command.reason },
          },
        ];
      }
      case 'ExpireUpgrade': {
        requireRole(command.actor, COMMAND_ROLES.ExpireUpgrade, 'expiring an upgrade');
        if (state.status === 'absent') throw new CodedError('UPGRADE_NOT_FOUND', 'no such upgrade');
        if (state.status !== 'pending')
          throw new CodedError(
            'UPGRADE_NOT_PENDING',
            `upgrade ${state.proposal.upgradeId} is already ${state.status}`,
            { status: state.status },
          );
        const { upgradeId, expiresAt } = state.proposal;
        if (Date.parse(command.now) < Date.parse(expiresAt))
          throw new CodedError('UPGRADE_NOT_EXPIRED', `upgrade ${upgradeId} expires at ${expiresAt}`, { expiresAt });
        return [{ type: 'upgrade.expired', data: { upgradeId, expiresAt } }];
      }
      default:
        return assertNever(command, 'upgrade command');
    }
  },
  evolve(state, event) {
    if (event.type === 'upgrade.proposed') return { status: 'pending', proposal: event.data, approvedBy: [] };
    assert(state.status !== 'absent', `${event.type} follows upgrade.proposed`);
    switch (event.type) {
      case 'upgrade.approved':
        return { ...state, approvedBy: [...state.approvedBy, event.data.approverId] };
      case 'upgrade.applied':
        return { ...state, status: 'applied' };
      case 'upgrade.rejected':
        return { ...state, status: 'rejected' };
      case 'upgrade.expired':
        return { ...state, status: 'expired' };
      default:
        return assertNever(event, 'upgrade event');
    }
  },
};
