/** SubmitManifest: a publisher submits a manifest for the kernel to approve. */
import { z } from 'zod';
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
  const result = await execute(deps, context, { operation: 'submitManifest', input }, async () => [
    await decideStream(deps.store, streams.manifest(manifestId), manifestDecider, MANIFEST_EVENT_TYPES, {
      type: 'SubmitManifest',
      actor: context.actor,
      manifest,
    }),
  ]);
  return { ...result, manifestId };
}
