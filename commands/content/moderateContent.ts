/**
 * Moderation of quarantined content (docs/DOMAIN.md, "Content inspection"):
 * a moderator (a human admin role: COMMAND_ROLES.ModerateContent) releases or
 * deletes it with a reason, and the expiry job shreds what was held past
 * QUARANTINE_EXPIRY_HOURS. Each action is a record on the content's stream
 * (`content.released`, `content.deleted`, `content.expired`) with its actor;
 * then the encrypted copy is shredded (object and wrapped key deleted). The
 * record comes first: a shred that fails after it is done again by the next
 * expiry pass, which also shreds copies whose decision was never recorded
 * (a process stopped between the two).
 */
import { z } from 'zod';
import { contentDeciderFor, type ContentCommand, type ContentState } from '../../domain/content/contentDecider.ts';
import { contentEventSchemas } from '../../domain/content/contentEvents.ts';
import { CodedError } from '../../domain/errors.ts';
import { textSchema } from '../../domain/schemas.ts';
import { streams } from '../../domain/streams.ts';
import {
  execute,
  loadStream,
  parseInput,
  type CommandContext,
  type CommandDeps,
  type CommandResult,
} from '../command.ts';
import { entityIdSchema, typesOf } from '../decideStream.ts';
import type { QuarantineStore } from './screenContent.ts';

export const CONTENT_EVENT_TYPES = typesOf(contentEventSchemas);
/** Records one expiry pass shreds (docs/STYLE.md rule 7); the job runs again for the rest. */
export const MAX_EXPIRED_PER_PASS = 100;

export const moderateContentInputSchema = z.strictObject({
  inspectionId: entityIdSchema,
  reason: textSchema,
});
export const expireQuarantineInputSchema = z.strictObject({});

function quarantineOf(deps: CommandDeps): QuarantineStore {
  const quarantine = deps.content.quarantine;
  if (quarantine === undefined)
    throw new CodedError('QUARANTINE_DISABLED', 'quarantine is off (QUARANTINE_ENABLED=false): nothing is held');
  return quarantine;
}

async function loadContent(deps: CommandDeps, inspectionId: string) {
  return loadStream(deps.store, streams.content(inspectionId), contentDeciderFor(inspectionId), CONTENT_EVENT_TYPES);
}

async function moderate(
  deps: CommandDeps,
  input: unknown,
  context: CommandContext,
  type: 'ReleaseContent' | 'DeleteContent',
): Promise<CommandResult> {
  const { inspectionId, reason } = parseInput(moderateContentInputSchema, input);
  const quarantine = quarantineOf(deps);
  const operation = type === 'ReleaseContent' ? 'releaseContent' : 'deleteContent';
  const result = await execute(deps, context, { operation, input }, async () => {
    const loaded = await loadContent(deps, inspectionId);
    const command: ContentCommand = { type, actor: context.actor, reason };
    const events = contentDeciderFor(inspectionId).decide(command, loaded.state);
    return [{ stream: loaded.stream, expectedVersion: loaded.version, events }];
  });
  if (!result.replayed)
    await quarantine.shred(
      inspectionId,
      type === 'ReleaseContent' ? 'released' : 'deleted',
      context.actor.id,
      Date.parse(context.now),
    );
  return result;
}

/** Releases held content: the publisher may submit the same content again, once, and it passes as released. */
export function releaseContent(deps: CommandDeps, input: unknown, context: CommandContext): Promise<CommandResult> {
  return moderate(deps, input, context, 'ReleaseContent');
}

/** Deletes held content for good: the submission stays refused. */
export function deleteContent(deps: CommandDeps, input: unknown, context: CommandContext): Promise<CommandResult> {
  return moderate(deps, input, context, 'DeleteContent');
}

function statusAfter(state: ContentState): 'released' | 'deleted' | 'expired' | undefined {
  if (state.status === 'released' || state.status === 'deleted' || state.status === 'expired') return state.status;
  return undefined;
}

/**
 * One expiry pass: each held record past its expiry gets `content.expired`
 * and is shredded. Returns the seqs appended and the inspection ids shredded.
 */
export async function expireQuarantine(
  deps: CommandDeps,
  input: unknown,
  context: CommandContext,
): Promise<CommandResult & { expired: string[] }> {
  parseInput(expireQuarantineInputSchema, input ?? {});
  const quarantine = quarantineOf(deps);
  const nowMs = Date.parse(context.now);
  const expired: string[] = [];
  const seqs: number[] = [];
  const events: CommandResult['events'] = [];
  const versions: Record<string, number> = {};
  for (const inspectionId of await quarantine.expired(nowMs, MAX_EXPIRED_PER_PASS)) {
    const loaded = await loadContent(deps, inspectionId);
    if (loaded.state.status === 'quarantined') {
      const result = await execute(
        deps,
        { ...context, idempotencyKey: undefined },
        { operation: 'expireContent', input: { inspectionId } },
        async () => {
          const again = await loadContent(deps, inspectionId);
          const command: ContentCommand = { type: 'ExpireContent', actor: context.actor, nowMs };
          return [
            {
              stream: again.stream,
              expectedVersion: again.version,
              events: contentDeciderFor(inspectionId).decide(command, again.state),
            },
          ];
        },
      );
      seqs.push(...result.seqs);
      events.push(...result.events);
      Object.assign(versions, result.versions);
    }
    // A copy whose decision was never recorded (absent), or whose moderation's shred failed, is shredded as what the chain says.
    await quarantine.shred(inspectionId, statusAfter(loaded.state) ?? 'expired', context.actor.id, nowMs);
    expired.push(inspectionId);
  }
  return { chain: deps.chain, seqs, events, versions, replayed: false, expired };
}
