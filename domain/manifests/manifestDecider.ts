/**
 * The kernel manifest: a publisher submits it, the kernel approves it (signing
 * its JCS hash) or rejects it. Only kernel roles decide, never the publisher
 * of the manifest itself.
 */
import { requireRole, type Actor, type Role } from '../actor.ts';
import { COMMAND_ROLES } from '../authorization.ts';
import type { Decider } from '../decider.ts';
import { assert, assertNever, CodedError } from '../errors.ts';
import { requireText } from '../ids.ts';
import { BASIS_POINTS_TOTAL, requireAmount, requireCurrency } from '../money.ts';
import type { KernelSignature, ManifestDocument, ManifestEvent } from './manifestEvents.ts';

export type ManifestCommand =
  | { type: 'SubmitManifest'; actor: Actor; manifest: ManifestDocument }
  | {
      type: 'ApproveManifest';
      actor: Actor;
      /** Computed by the handler from the submitted document: SHA-256 of its JCS. */
      manifestSha256: string;
      manifestSignatureId: string;
      signature: KernelSignature;
    }
  | { type: 'RejectManifest'; actor: Actor; reason: string };

export type ManifestState =
  | { status: 'absent' }
  | { status: 'submitted' | 'rejected'; manifest: ManifestDocument }
  | { status: 'approved'; manifest: ManifestDocument; manifestSha256: string; manifestSignatureId: string };

/** Splits name distinct parties and sum to exactly 10,000 basis points. */
export function checkRoyaltySplits(splits: ManifestDocument['royaltySplits']): void {
  const parties = new Set(splits.map((split) => split.partyId));
  const total = splits.reduce((sum, split) => sum + split.basisPoints, 0);
  if (
    parties.size !== splits.length ||
    total !== BASIS_POINTS_TOTAL ||
    splits.some((split) => split.basisPoints <= 0)
  ) {
    throw new CodedError(
      'ROYALTY_SPLIT_INVALID',
      `royalty splits must name distinct parties with positive basis points summing to ${BASIS_POINTS_TOTAL} (got ${total})`,
      {
        totalBasisPoints: total,
      },
    );
  }
}

function submit(command: Extract<ManifestCommand, { type: 'SubmitManifest' }>, state: ManifestState): ManifestEvent[] {
  const { actor, manifest } = command;
  requireRole(actor, COMMAND_ROLES.SubmitManifest, 'submitting a manifest');
  if (state.status !== 'absent')
    throw new CodedError('MANIFEST_EXISTS', `manifest ${manifest.manifestId} was already submitted`, {
      manifestId: manifest.manifestId,
    });
  if (manifest.publisherId !== actor.id) {
    throw new CodedError(
      'MANIFEST_PUBLISHER_MISMATCH',
      `a publisher submits its own manifests: ${actor.id} cannot submit for ${manifest.publisherId}`,
      {
        publisherId: manifest.publisherId,
      },
    );
  }
  requireAmount(manifest.priceMinor, 'INVALID_PRICE', 'priceMinor');
  requireCurrency(manifest.currency, 'INVALID_CURRENCY');
  checkRoyaltySplits(manifest.royaltySplits);
  return [{ type: 'manifest.submitted', data: manifest }];
}

function pending(state: ManifestState, actor: Actor, roles: readonly Role[], action: string): ManifestDocument {
  requireRole(actor, roles, action);
  if (state.status === 'absent') throw new CodedError('MANIFEST_NOT_FOUND', 'no such manifest');
  if (state.status !== 'submitted') {
    throw new CodedError('MANIFEST_NOT_PENDING', `manifest ${state.manifest.manifestId} is already ${state.status}`, {
      manifestId: state.manifest.manifestId,
      status: state.status,
    });
  }
  if (state.manifest.publisherId === actor.id) {
    throw new CodedError(
      'MANIFEST_SELF_APPROVAL',
      `${actor.id} published manifest ${state.manifest.manifestId} and cannot decide on it`,
      {
        manifestId: state.manifest.manifestId,
      },
    );
  }
  return state.manifest;
}

export const manifestDecider: Decider<ManifestCommand, ManifestEvent, ManifestState> = {
  initialState: { status: 'absent' },
  decide(command, state) {
    switch (command.type) {
      case 'SubmitManifest':
        return submit(command, state);
      case 'ApproveManifest': {
        const manifest = pending(state, command.actor, COMMAND_ROLES.ApproveManifest, 'approving a manifest');
        const { manifestSha256, manifestSignatureId, signature } = command;
        return [
          {
            type: 'manifest.approved',
            data: {
              manifestId: manifest.manifestId,
              manifestSha256,
              manifestSignatureId,
              approvedBy: command.actor.id,
              signature,
            },
          },
        ];
      }
      case 'RejectManifest': {
        const manifest = pending(state, command.actor, COMMAND_ROLES.RejectManifest, 'rejecting a manifest');
        requireText(command.reason, 'INVALID_REASON', 'reason');
        return [
          {
            type: 'manifest.rejected',
            data: { manifestId: manifest.manifestId, rejectedBy: command.actor.id, reason: command.reason },
          },
        ];
      }
      default:
        return assertNever(command, 'manifest command');
    }
  },
  evolve(state, event) {
    switch (event.type) {
      case 'manifest.submitted':
        return { status: 'submitted', manifest: event.data };
      case 'manifest.approved':
        assert(state.status !== 'absent', 'manifest.approved follows manifest.submitted');
        return {
          status: 'approved',
          manifest: state.manifest,
          manifestSha256: event.data.manifestSha256,
          manifestSignatureId: event.data.manifestSignatureId,
        };
      case 'manifest.rejected':
        assert(state.status !== 'absent', 'manifest.rejected follows manifest.submitted');
        return { status: 'rejected', manifest: state.manifest };
      default:
        return assertNever(event, 'manifest event');
    }
  },
};
