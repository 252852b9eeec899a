/** ResolveDiscrepancy: a finance role closes one discrepancy with a reason, recorded in the chain; its hold on payouts lifts. */
import { z } from 'zod';
import { reconciliationDecider } from '../../domain/reconciliation/reconciliationDecider.ts';
import { textSchema } from '../../domain/schemas.ts';
import { streams } from '../../domain/streams.ts';
import { execute, parseInput, type CommandContext, type CommandDeps, type CommandResult } from '../command.ts';
import { decideStream, entityIdSchema } from '../decideStream.ts';
import { RECONCILIATION_EVENT_TYPES } from './reconcile.ts';

export const resolveDiscrepancyInputSchema = z.strictObject({
  reconciliationId: entityIdSchema,
  discrepancyId: z.string().regex(/^d[1-9][0-9]{0,5}$/, 'd1, d2, …'),
  reason: textSchema,
});

export function resolveDiscrepancy(deps: CommandDeps, input: unknown, context: CommandContext): Promise<CommandResult> {
  const { reconciliationId, discrepancyId, reason } = parseInput(resolveDiscrepancyInputSchema, input);
  return execute(deps, context, { operation: 'resolveDiscrepancy', input }, async () => [
    await decideStream(
      deps.store,
      streams.reconciliation(reconciliationId),
      reconciliationDecider,
      RECONCILIATION_EVENT_TYPES,
      { type: 'ResolveDiscrepancy', actor: context.actor, discrepancyId, reason },
    ),
  ]);
}
