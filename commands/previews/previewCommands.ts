/**
 * StartPreview and the recording of a preview's outcome (docs/DOMAIN.md, "Previews"). Starting checks
 * the listing, its approved manifest's preview declaration and the limits (domain/previews), then has
 * the artifact read and checked as the sandbox will unpack it (deps.previews.loadArtifact: a hostile
 * archive is refused here, before anything is recorded), and records `preview.started`. The run itself
 * is the preview service's (infra/adapters/sandbox/previewService.ts), which records the outcome with
 * recordPreviewOutcome once the run is over.
 */
import { z } from 'zod';
import { listingDecider } from '../../domain/catalog/listingDecider.ts';
import { CodedError } from '../../domain/errors.ts';
import { manifestDecider, type StoredArtifact } from '../../domain/manifests/manifestDecider.ts';
import { previewDecider } from '../../domain/previews/previewDecider.ts';
import {
  previewEventSchemas,
  type PreviewExited,
  type PreviewExpired,
  type PreviewLimits,
  type PreviewStarted,
} from '../../domain/previews/previewEvents.ts';
import { streams } from '../../domain/streams.ts';
import { LISTING_EVENT_TYPES } from '../catalog/listingCommands.ts';
import {
  entityId,
  execute,
  loadStream,
  parseInput,
  type CommandContext,
  type CommandDeps,
  type CommandResult,
} from '../command.ts';
import { decideStream, entityIdSchema, typesOf } from '../decideStream.ts';
import { MANIFEST_EVENT_TYPES } from '../manifests/submitManifest.ts';

export const PREVIEW_EVENT_TYPES = typesOf(previewEventSchemas);

/** What starting a preview needs of the process that runs previews (absent where none are run). */
export interface PreviewDeps {
  /** The operator's per-run maximums (PREVIEW_SANDBOX_POOL_CONFIG). */
  maxLimits: PreviewLimits;
  /** Names the sandbox in `preview.started`. */
  runner: string;
  /** The artifact's bytes, read from the artifact store and checked as the sandbox will unpack them; refuses otherwise. */
  loadArtifact(artifact: StoredArtifact): Promise<Buffer>;
}

export const startPreviewInputSchema = z.strictObject({
  listingId: entityIdSchema,
  previewId: entityIdSchema.optional(),
  /** PREVIEW_SEED of the run; the preview id when left out. The same seed, artifact and arguments give the same output. */
  seed: z
    .string()
    .regex(/^[A-Za-z0-9._:-]{1,128}$/)
    .optional(),
});

export type StartedPreview = CommandResult & { previewId: string; preview?: PreviewStarted; artifact?: Buffer };

export async function startPreview(
  deps: CommandDeps & { previews?: PreviewDeps | undefined },
  input: unknown,
  context: CommandContext,
): Promise<StartedPreview> {
  const { listingId, previewId: given, seed } = parseInput(startPreviewInputSchema, input);
  const previews = deps.previews;
  if (previews === undefined)
    throw new CodedError('PREVIEW_SANDBOX_UNAVAILABLE', 'this process runs no preview sandbox', {});
  const previewId = entityId(context, given, 'preview');
  let artifact: Buffer | undefined;
  let preview: PreviewStarted | undefined;
  const result = await execute(deps, context, { operation: 'startPreview', input }, async () => {
    const listing = await loadStream(deps.store, streams.listing(listingId), listingDecider, LISTING_EVENT_TYPES);
    if (listing.state.status === 'absent') throw new CodedError('LISTING_NOT_FOUND', `no listing ${listingId}`, {});
    const manifestId = listing.state.listing.manifestId;
    const manifest = await loadStream(deps.store, streams.manifest(manifestId), manifestDecider, MANIFEST_EVENT_TYPES);
    const decided = await decideStream(deps.store, streams.preview(previewId), previewDecider, PREVIEW_EVENT_TYPES, {
      type: 'StartPreview',
      actor: context.actor,
      previewId,
      listing: listing.state,
      manifest: manifest.state,
      maxLimits: previews.maxLimits,
      seed: seed ?? previewId,
      runner: previews.runner,
    });
    // The decider required a stored artifact; it is read and checked before anything is recorded.
    if (manifest.state.status !== 'absent' && manifest.state.artifact !== null)
      artifact = await previews.loadArtifact(manifest.state.artifact);
    const event = decided.events[0];
    preview = event?.type === 'preview.started' ? event.data : undefined;
    return [decided];
  });
  // A replay (the same idempotency key) runs nothing again: it answers the first request's preview id.
  if (result.replayed || preview === undefined || artifact === undefined) return { ...result, previewId };
  return { ...result, previewId, preview, artifact };
}

export type PreviewOutcome =
  { type: 'preview.exited'; data: PreviewExited } | { type: 'preview.expired'; data: PreviewExpired };

/** Records how a run ended; the actor is the service that ran it. */
export function recordPreviewOutcome(
  deps: CommandDeps,
  outcome: PreviewOutcome,
  context: CommandContext,
): Promise<CommandResult> {
  const previewId = outcome.data.previewId;
  return execute(deps, context, { operation: 'recordPreviewOutcome', input: outcome }, async () => [
    await decideStream(
      deps.store,
      streams.preview(previewId),
      previewDecider,
      PREVIEW_EVENT_TYPES,
      outcome.type === 'preview.exited'
        ? { type: 'RecordPreviewExit', actor: context.actor, outcome: outcome.data }
        : { type: 'RecordPreviewExpiry', actor: context.actor, outcome: outcome.data },
    ),
  ]);
}
