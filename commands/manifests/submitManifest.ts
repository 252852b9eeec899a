/**
 * SubmitManifest: a publisher submits a manifest for the kernel to approve.
 * Its text (the document's JCS, and its strings as written) is screened first (commands/content/screenContent.ts):
 * a blocked or quarantined manifest is refused, its decision recorded alone.
 */
import { z } from 'zod';
import { jcs } from '../../chain/canonical.ts';
import { manifestDecider } from '../../domain/manifests/manifestDecider.ts';
import { manifestDocumentSchema, manifestEventSchemas } from '../../domain/manifests/manifestEvents.ts';
import { streams } from '../../domain/streams.ts';
import {
  entityId,
  execute,
  parseInput,
  type CommandContext,
  type CommandDeps,
  type CommandResult,
} from '../command.ts';
import { decideStream, entityIdSchema, typesOf } from '../decideStream.ts';
import { documentSubmission, refuseUnlessClear, screen, type Screening } from '../content/screenContent.ts';

/** The manifest document without what the kernel fills in (the publisher is the caller); the id may be the caller's. */
export const submitManifestInputSchema = manifestDocumentSchema.omit({ manifestId: true, publisherId: true }).extend({
  manifestId: entityIdSchema.optional(),
  name: z.string().min(1).max(200),
});
export type SubmitManifestInput = z.infer<typeof submitManifestInputSchema>;

export const MANIFEST_EVENT_TYPES = typesOf(manifestEventSchemas);

export async function submitManifest(
  deps: CommandDeps,
  input: unknown,
  context: CommandContext,
): Promise<CommandResult & { manifestId: string }> {
  const { manifestId: given, ...document } = parseInput(submitManifestInputSchema, input);
  const manifestId = entityId(context, given, 'manifest');
  const manifest = { manifestId, publisherId: context.actor.id, ...document };
  // The document as the publisher wrote it (without the id, fresh per submission): a released text passes again, once.
  const submission = documentSubmission('manifest', manifestId, context.actor.id, document, jcs(document));
  let screening: Screening | undefined;
  const result = await execute(deps, context, { operation: 'submitManifest', input }, async () => {
    // Decided first: a submission refused for what it is (a second submission, bad splits) is not inspected.
    const decided = await decideStream(
      deps.store,
      streams.manifest(manifestId),
      manifestDecider,
      MANIFEST_EVENT_TYPES,
      {
        type: 'SubmitManifest',
        actor: context.actor,
        manifest,
      },
    );
    if (screening === undefined) {
      screening = await screen(deps, context, submission);
      await refuseUnlessClear(deps, context, screening, submission);
    }
    return [decided, screening.append];
  });
  return { ...result, manifestId };
}
