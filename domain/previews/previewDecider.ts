/**
 * One preview run:
 *
 *   (none) ──started──▶ running ──exited──▶ exited
 *                               └─expired─▶ expired
 *
 * A buyer starts a preview of an active listing whose approved manifest declares one (its entry point,
 * arguments and limits) and whose artifact is stored; the limits are the manifest's, each at most the
 * operator's maximum (a manifest asking for more is refused: the operator decides what a run may take),
 * a limit the manifest leaves out being the maximum. The outcome is recorded once, by the service that
 * ran it.
 */
import { requireRole, type Actor } from '../actor.ts';
import { COMMAND_ROLES, PREVIEW_RECORDER_ROLES } from '../authorization.ts';
import type { ListingState } from '../catalog/listingDecider.ts';
import type { Decider } from '../decider.ts';
import { assertNever, CodedError } from '../errors.ts';
import type { ManifestState } from '../manifests/manifestDecider.ts';
import type { PreviewEvent, PreviewExited, PreviewExpired, PreviewLimits, PreviewStarted } from './previewEvents.ts';

export type PreviewCommand =
  | {
      type: 'StartPreview';
      actor: Actor;
      previewId: string;
      listing: ListingState;
      manifest: ManifestState;
      /** The operator's per-run maximums. */
      maxLimits: PreviewLimits;
      seed: string;
      runner: string;
    }
  | { type: 'RecordPreviewExit'; actor: Actor; outcome: PreviewExited }
  | { type: 'RecordPreviewExpiry'; actor: Actor; outcome: PreviewExpired };

export type PreviewState = { status: 'none' } | { status: 'running' | 'exited' | 'expired'; preview: PreviewStarted };

const LIMIT_NAMES = [
  'cpuTimeSeconds',
  'memoryBytes',
  'processCount',
  'openFileCount',
  'outputBytes',
  'wallClockMs',
] as const satisfies readonly (keyof PreviewLimits)[];

/** The manifest's limits, each present and at most the operator's maximum. */
export function previewLimits(
  asked: { [Name in keyof PreviewLimits]?: number | undefined },
  maxLimits: PreviewLimits,
): PreviewLimits {
  const limits = { ...maxLimits };
  for (const name of LIMIT_NAMES) {
    const value = asked[name];
    if (value === undefined) continue;
    if (value > maxLimits[name])
      throw new CodedError(
        'PREVIEW_LIMITS_ABOVE_MAXIMUM',
        `the manifest asks for ${name} ${value}, above ${maxLimits[name]}`,
        {
          limit: name,
          asked: value,
          maximum: maxLimits[name],
        },
      );
    limits[name] = value;
  }
  return limits;
}

function start(command: Extract<PreviewCommand, { type: 'StartPreview' }>, state: PreviewState): PreviewEvent[] {
  requireRole(command.actor, COMMAND_ROLES.StartPreview, 'previewing a listing');
  if (state.status !== 'none')
    throw new CodedError('PREVIEW_EXISTS', `preview ${command.previewId} exists`, { previewId: command.previewId });
  const { listing, manifest } = command;
  if (listing.status !== 'active') throw new CodedError('LISTING_NOT_ACTIVE', 'the listing is not active', {});
  if (manifest.status !== 'approved' || manifest.manifest.manifestId !== listing.listing.manifestId)
    throw new CodedError('MANIFEST_NOT_APPROVED', 'the listing’s manifest is not approved', {});
  const declaration = manifest.manifest.preview;
  if (declaration === undefined)
    throw new CodedError('PREVIEW_NOT_DECLARED', 'the listing’s manifest declares no preview', {
      manifestId: manifest.manifest.manifestId,
    });
  if (manifest.artifact === null)
    throw new CodedError('PREVIEW_ARTIFACT_MISSING', 'the manifest’s artifact is not stored', {
      manifestId: manifest.manifest.manifestId,
    });
  return [
    {
      type: 'preview.started',
      data: {
        previewId: command.previewId,
        listingId: listing.listing.listingId,
        manifestId: manifest.manifest.manifestId,
        buyerId: command.actor.id,
        artifactSha256: manifest.artifact.artifactSha256,
        entryPoint: declaration.entryPoint,
        args: declaration.args,
        seed: command.seed,
        limits: previewLimits(declaration.limits, command.maxLimits),
        runner: command.runner,
      },
    },
  ];
}

function finish(
  command: Extract<PreviewCommand, { type: 'RecordPreviewExit' | 'RecordPreviewExpiry' }>,
  state: PreviewState,
): PreviewEvent[] {
  requireRole(command.actor, PREVIEW_RECORDER_ROLES, 'recording a preview’s outcome');
  if (state.status === 'none')
    throw new CodedError('PREVIEW_NOT_FOUND', 'no such preview', { previewId: command.outcome.previewId });
  if (state.status !== 'running')
    throw new CodedError('PREVIEW_ALREADY_FINISHED', `preview ${state.preview.previewId} is ${state.status}`, {
      previewId: state.preview.previewId,
      status: state.status,
    });
  return command.type === 'RecordPreviewExit'
    ? [{ type: 'preview.exited', data: command.outcome }]
    : [{ type: 'preview.expired', data: command.outcome }];
}

export const previewDecider: Decider<PreviewCommand, PreviewEvent, PreviewState> = {
  initialState: { status: 'none' },
  decide(command, state) {
    switch (command.type) {
      case 'StartPreview':
        return start(command, state);
      case 'RecordPreviewExit':
      case 'RecordPreviewExpiry':
        return finish(command, state);
      default:
        return assertNever(command, 'preview command');
    }
  },
  evolve(state, event) {
    switch (event.type) {
      case 'preview.started':
        return { status: 'running', preview: event.data };
      case 'preview.exited':
        return state.status === 'none' ? state : { status: 'exited', preview: state.preview };
      case 'preview.expired':
        return state.status === 'none' ? state : { status: 'expired', preview: state.preview };
      default:
        return assertNever(event, 'preview event');
    }
  },
};
