/** RejectManifest: the kernel refuses a submitted manifest, with a reason. */
import { z } from 'zod';
import { manifestDecider } from '../../domain/manifests/manifestDecider.ts';
import { textSchema } from '../../domain/schemas.ts';
import { streams } from '../../domain/streams.ts';
import {
  execute,
  expectedVersionSchema,
  parseInput,
  type CommandContext,
  type CommandDeps,
  type CommandResult,
} from '../command.ts';
import { decideStream, entityIdSchema } from '../decideStream.ts';
import { MANIFEST_EVENT_TYPES } from './submitManifest.ts';

export const rejectManifestInputSchema = z.strictObject({
  manifestId: entityIdSchema,
  reason: textSchema,
  expectedVersion: expectedVersionSchema,
});

export async function rejectManifest(
  deps: CommandDeps,
  input: unknown,
  context: CommandContext,
): Promise<CommandResult> {
  const { manifestId, reason, expectedVersion } = parseInput(rejectManifestInputSchema, input);
  const command = { type: 'RejectManifest' as const, actor: context.actor, reason };
  return execute(
    deps,
    context,
    { operation: 'rejectManifest', input },
    async () => [
      await decideStream(deps.store, streams.manifest(manifestId), manifestDecider, MANIFEST_EVENT_TYPES, command, {
        expectedVersion,
      }),
    ],
    expectedVersion !== undefined,
  );
}
