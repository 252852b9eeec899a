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
import type { KernelSignature, ManifestArtifactStored, ManifestDocument, ManifestEvent } from './manifestEvents.ts';

export type ManifestCommand =
  | { type: 'SubmitManifest'; actor: Actor; manifest: ManifestDocument }
  | {
      type: 'RecordArtifact';
      actor: Actor;
      /** Measured by the handler over the bytes it stored. */
      artifactSha256: string;
      sizeBytes: number;
      objectKey: string;
    }
  | {
      type: 'ApproveManifest';
      actor: Actor;
      /** Computed by the handler from the submitted document: SHA-256 of its JCS. */
      manifestSha256: string;
      manifestSignatureId: string;
      signature: KernelSignature;
    }
  | { type: 'RejectManifest'; actor: Actor; reason: string };

/** The stored artifact, once its publisher uploaded it (null before). */
export type StoredArtifact = Omit<ManifestArtifactStored, 'manifestId' | 'storedBy'>;

export type ManifestState =
  | { status: 'absent' }
  | { status: 'submitted' | 'rejected'; manifest: ManifestDocument; artifact: StoredArtifact | null }
  | {
      status: 'approved';
      manifest: ManifestDocument;
      artifact: StoredArtifact | null;
      manifestSha256: string;
      manifestSignatureId: string;
    };

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

/**
 * The publisher uploads the artifact of its submitted manifest once, before
 * the kernel decides; the bytes must be those the document names.
 */
function recordArtifact(
  command: Extract<ManifestCommand, { type: 'RecordArtifact' }>,
  state: ManifestState,
): ManifestEvent[] {
  const { actor } = command;
  requireRole(actor, COMMAND_ROLES.RecordArtifact, 'uploading an artifact');
  if (state.status === 'absent') throw new CodedError('MANIFEST_NOT_FOUND', 'no such manifest');
  const { manifest } = state;
  if (manifest.publisherId !== actor.id)
    throw new CodedError(
      'ARTIFACT_NOT_PUBLISHER',
      `only the manifest's publisher uploads its artifact: ${actor.id} is not ${manifest.publisherId}`,
      { manifestId: manifest.manifestId },
    );
  if (state.status !== 'submitted')
    throw new CodedError('MANIFEST_NOT_PENDING', `manifest ${manifest.manifestId} is already ${state.status}`, {
      manifestId: manifest.manifestId,
      status: state.status,
    });
  if (state.artifact !== null)
    throw new CodedError(
      'ARTIFACT_ALREADY_STORED',
      `the artifact of manifest ${manifest.manifestId} is already stored`,
      {
        manifestId: manifest.manifestId,
      },
    );
  if (command.sizeBytes !== manifest.sizeBytes)
    throw new CodedError(
      'ARTIFACT_SIZE_MISMATCH',
      `the upload is ${command.sizeBytes} bytes; the manifest says ${manifest.sizeBytes}`,
      { manifestId: manifest.manifestId, expectedBytes: manifest.sizeBytes, receivedBytes: command.sizeBytes },
    );
  if (command.artifactSha256 !== manifest.artifactSha256)
    throw new CodedError('ARTIFACT_HASH_MISMATCH', `the upload's SHA-256 is not the manifest's artifactSha256`, {
      manifestId: manifest.manifestId,
      expectedSha256: manifest.artifactSha256,
      receivedSha256: command.artifactSha256,
    });
  const { artifactSha256, sizeBytes, objectKey } = command;
  return [
    {
      type: 'manifest.artifact_stored',
      data: { manifestId: manifest.manifestId, artifactSha256, sizeBytes, objectKey, storedBy: actor.id },
    },
  ];
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
      case 'RecordArtifact':
        return recordArtifact(command, state);
      case 'ApproveManifest': {
        const manifest = pending(state, command.actor, COMMAND_ROLES.ApproveManifest, 'approving a manifest');
        // The kernel signs what it can deliver: an approval without the artifact's bytes would list a product nobody can receive.
        if (state.status === 'submitted' && state.artifact === null)
          throw new CodedError(
            'ARTIFACT_NOT_STORED',
            `the artifact of manifest ${manifest.manifestId} is not uploaded yet`,
            {
              manifestId: manifest.manifestId,
            },
          );
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
        return { status: 'submitted', manifest: event.data, artifact: null };
      case 'manifest.artifact_stored': {
        assert(state.status !== 'absent', 'manifest.artifact_stored follows manifest.submitted');
        const { artifactSha256, sizeBytes, objectKey } = event.data;
        return { ...state, artifact: { artifactSha256, sizeBytes, objectKey } };
      }
      case 'manifest.approved':
        assert(state.status !== 'absent', 'manifest.approved follows manifest.submitted');
        return {
          status: 'approved',
          manifest: state.manifest,
          artifact: state.artifact,
          manifestSha256: event.data.manifestSha256,
          manifestSignatureId: event.data.manifestSignatureId,
        };
      case 'manifest.rejected':
        assert(state.status !== 'absent', 'manifest.rejected follows manifest.submitted');
        return { status: 'rejected', manifest: state.manifest, artifact: state.artifact };
      default:
        return assertNever(event, 'manifest event');
    }
  },
};
