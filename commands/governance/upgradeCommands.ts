/**
 * Multisig kernel upgrades: ProposeUpgrade, ApproveUpgrade (the k-th distinct
 * approval also applies it), RejectUpgrade, ExpireUpgrade. Four small use
 * cases over one stream, kept together.
 */
import { z } from 'zod';
import { upgradeDecider, type UpgradeCommand } from '../../domain/governance/upgradeDecider.ts';
import { MAX_UPGRADE_APPROVERS, upgradeEventSchemas } from '../../domain/governance/upgradeEvents.ts';
import { idSchema, sha256Schema, textSchema, timestampSchema } from '../../domain/schemas.ts';
import { streams } from '../../domain/streams.ts';
import {
  entityId,
  execute,
  expectedVersionSchema,
  parseInput,
  type CommandContext,
  type CommandDeps,
  type CommandResult,
} from '../command.ts';
import { decideStream, entityIdSchema, typesOf } from '../decideStream.ts';
import type { CommandRequest } from '../idempotency.ts';

const UPGRADE_EVENT_TYPES = typesOf(upgradeEventSchemas);

export const proposeUpgradeInputSchema = z.strictObject({
  upgradeId: entityIdSchema.optional(),
  description: textSchema,
  payloadSha256: sha256Schema,
  threshold: z.number().int().positive().max(MAX_UPGRADE_APPROVERS),
  approvers: z.array(idSchema).min(1).max(MAX_UPGRADE_APPROVERS),
  /** An instant, not a duration, so that a retried proposal is the same request. */
  expiresAt: timestampSchema,
});
export const upgradeDecisionInputSchema = z.strictObject({
  upgradeId: entityIdSchema,
  expectedVersion: expectedVersionSchema,
});
export const rejectUpgradeInputSchema = upgradeDecisionInputSchema.extend({ reason: textSchema });

function run(
  deps: CommandDeps,
  context: CommandContext,
  request: CommandRequest,
  upgradeId: string,
  command: UpgradeCommand,
  expectedVersion?: number,
): Promise<CommandResult> {
  return execute(
    deps,
    context,
    request,
    async () => [
      await decideStream(deps.store, streams.upgrade(upgradeId), upgradeDecider, UPGRADE_EVENT_TYPES, command, {
        expectedVersion,
      }),
    ],
    expectedVersion !== undefined,
  );
}

export async function proposeUpgrade(
  deps: CommandDeps,
  input: unknown,
  context: CommandContext,
): Promise<CommandResult & { upgradeId: string }> {
  const { upgradeId: given, ...proposal } = parseInput(proposeUpgradeInputSchema, input);
  const upgradeId = entityId(context, given, 'upgrade');
  const result = await run(deps, context, { operation: 'proposeUpgrade', input }, upgradeId, {
    type: 'ProposeUpgrade',
    actor: context.actor,
    now: context.now,
    proposal: { upgradeId, ...proposal },
  });
  return { ...result, upgradeId };
}

export function approveUpgrade(deps: CommandDeps, input: unknown, context: CommandContext): Promise<CommandResult> {
  const { upgradeId, expectedVersion } = parseInput(upgradeDecisionInputSchema, input);
  return run(
    deps,
    context,
    { operation: 'approveUpgrade', input },
    upgradeId,
    { type: 'ApproveUpgrade', actor: context.actor, now: context.now },
    expectedVersion,
  );
}

export function rejectUpgrade(deps: CommandDeps, input: unknown, context: CommandContext): Promise<CommandResult> {
  const { upgradeId, reason, expectedVersion } = parseInput(rejectUpgradeInputSchema, input);
  return run(
    deps,
    context,
    { operation: 'rejectUpgrade', input },
    upgradeId,
    { type: 'RejectUpgrade', actor: context.actor, now: context.now, reason },
    expectedVersion,
  );
}

export function expireUpgrade(deps: CommandDeps, input: unknown, context: CommandContext): Promise<CommandResult> {
  const { upgradeId, expectedVersion } = parseInput(upgradeDecisionInputSchema, input);
  return run(
    deps,
    context,
    { operation: 'expireUpgrade', input },
    upgradeId,
    { type: 'ExpireUpgrade', actor: context.actor, now: context.now },
    expectedVersion,
  );
}
