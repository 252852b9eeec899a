/** PublishListing (for a kernel-approved manifest), ChangeListingPrice, DelistListing. */
import { z } from 'zod';
import { listingDecider, type ListingCommand } from '../../domain/catalog/listingDecider.ts';
import { listingEventSchemas } from '../../domain/catalog/listingEvents.ts';
import { manifestDecider } from '../../domain/manifests/manifestDecider.ts';
import { amountSchema, textSchema } from '../../domain/schemas.ts';
import { streams } from '../../domain/streams.ts';
import {
  entityId,
  execute,
  expectedVersionSchema,
  loadStream,
  parseInput,
  type CommandContext,
  type CommandDeps,
  type CommandResult,
} from '../command.ts';
import { decideStream, entityIdSchema, typesOf } from '../decideStream.ts';
import { MANIFEST_EVENT_TYPES } from '../manifests/submitManifest.ts';
import type { CommandRequest } from '../idempotency.ts';
import { refuseUnlessClear, screen, textSubmission, type Screening } from '../content/screenContent.ts';

export const LISTING_EVENT_TYPES = typesOf(listingEventSchemas);

export const publishListingInputSchema = z.strictObject({
  listingId: entityIdSchema.optional(),
  manifestId: entityIdSchema,
  /** Defaults to the manifest's price. */
  priceMinor: amountSchema.optional(),
  /** The listing's text for buyers: inspected before it is published (commands/content/screenContent.ts). */
  description: textSchema.optional(),
});
export const changeListingPriceInputSchema = z.strictObject({
  listingId: entityIdSchema,
  priceMinor: amountSchema,
  expectedVersion: expectedVersionSchema,
});
export const delistListingInputSchema = z.strictObject({
  listingId: entityIdSchema,
  reason: textSchema,
  expectedVersion: expectedVersionSchema,
});

export async function publishListing(
  deps: CommandDeps,
  input: unknown,
  context: CommandContext,
): Promise<CommandResult & { listingId: string }> {
  const { listingId: given, manifestId, priceMinor, description } = parseInput(publishListingInputSchema, input);
  const listingId = entityId(context, given, 'listing');
  let screening: Screening | undefined;
  const result = await execute(deps, context, { operation: 'publishListing', input }, async () => {
    // Approval is final (a manifest is never un-approved), so reading it outside the append is safe.
    const manifest = await loadStream(deps.store, streams.manifest(manifestId), manifestDecider, MANIFEST_EVENT_TYPES);
    const command: ListingCommand = {
      type: 'PublishListing',
      actor: context.actor,
      listingId,
      manifest: manifest.state,
      priceMinor,
      description,
    };
    const decided = await decideStream(
      deps.store,
      streams.listing(listingId),
      listingDecider,
      LISTING_EVENT_TYPES,
      command,
    );
    // A listing without text has nothing to inspect; one with text gets one decision record (docs/DOMAIN.md, "Content inspection").
    if (description === undefined || manifest.state.status === 'absent') return [decided];
    const submission = textSubmission(
      'listing',
      listingId,
      manifest.state.manifest.publisherId,
      'text/plain',
      description,
    );
    if (screening === undefined) {
      screening = await screen(deps, context, submission);
      await refuseUnlessClear(deps, context, screening, submission);
    }
    return [decided, screening.append];
  });
  return { ...result, listingId };
}

function run(
  deps: CommandDeps,
  context: CommandContext,
  request: CommandRequest,
  listingId: string,
  command: ListingCommand,
  expectedVersion?: number,
): Promise<CommandResult> {
  return execute(
    deps,
    context,
    request,
    async () => [
      await decideStream(deps.store, streams.listing(listingId), listingDecider, LISTING_EVENT_TYPES, command, {
        expectedVersion,
      }),
    ],
    expectedVersion !== undefined,
  );
}

export function changeListingPrice(deps: CommandDeps, input: unknown, context: CommandContext): Promise<CommandResult> {
  const { listingId, priceMinor, expectedVersion } = parseInput(changeListingPriceInputSchema, input);
  return run(
    deps,
    context,
    { operation: 'changeListingPrice', input },
    listingId,
    { type: 'ChangeListingPrice', actor: context.actor, priceMinor },
    expectedVersion,
  );
}

export function delistListing(deps: CommandDeps, input: unknown, context: CommandContext): Promise<CommandResult> {
  const { listingId, reason, expectedVersion } = parseInput(delistListingInputSchema, input);
  return run(
    deps,
    context,
    { operation: 'delistListing', input },
    listingId,
    { type: 'DelistListing', actor: context.actor, reason },
    expectedVersion,
  );
}
