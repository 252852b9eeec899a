/**
 * PostLedgerTransaction: a finance post (adjustment, payout, settlement).
 * Idempotent by transaction id; the "must not go negative" accounts are
 * checked against current balances in the append transaction (projections/ledger).
 */
import { z } from 'zod';
import { ledgerDecider } from '../../domain/ledger/ledgerDecider.ts';
import {
  ledgerEntrySchema,
  MAX_LEDGER_ENTRIES,
  ledgerEventSchemas,
  type LedgerTransaction,
} from '../../domain/ledger/ledgerEvents.ts';
import { idSchema, textSchema } from '../../domain/schemas.ts';
import { streams } from '../../domain/streams.ts';
import type { Actor } from '../../domain/actor.ts';
import {
  entityId,
  execute,
  parseInput,
  type CommandContext,
  type CommandDeps,
  type CommandResult,
} from '../command.ts';
import {
  decideStream,
  entityIdSchema,
  typesOf,
  type DecidedStream,
  type DecideStreamOptions,
} from '../decideStream.ts';

/** ledger.posted only: a transaction stream holds nothing else. */
const LEDGER_TRANSACTION_TYPES = typesOf(ledgerEventSchemas).filter((type) => type === 'ledger.posted');

export const postLedgerTransactionInputSchema = z.strictObject({
  transactionId: entityIdSchema.optional(),
  entries: z.array(ledgerEntrySchema).min(2).max(MAX_LEDGER_ENTRIES),
  reason: textSchema,
  orderId: idSchema.optional(),
});

/** The decision to post one transaction on its own stream (used by the order handlers too). */
export function decidePosting(
  deps: CommandDeps,
  actor: Actor,
  transaction: LedgerTransaction,
  options: Pick<DecideStreamOptions, 'assumeNew'> = {},
): Promise<DecidedStream<unknown>> {
  const command = { type: 'PostLedgerTransaction' as const, actor, transaction };
  return decideStream(
    deps.store,
    streams.ledgerTransaction(transaction.transactionId),
    ledgerDecider,
    LEDGER_TRANSACTION_TYPES,
    command,
    options,
  );
}

export async function postLedgerTransaction(
  deps: CommandDeps,
  input: unknown,
  context: CommandContext,
): Promise<CommandResult & { transactionId: string }> {
  const { transactionId: given, orderId, ...rest } = parseInput(postLedgerTransactionInputSchema, input);
  const transactionId = entityId(context, given, 'ledger-transaction');
  const transaction: LedgerTransaction = { transactionId, ...rest, ...(orderId === undefined ? {} : { orderId }) };
  const result = await execute(deps, context, { operation: 'postLedgerTransaction', input }, async () => [
    await decidePosting(deps, context.actor, transaction),
  ]);
  return { ...result, transactionId };
}
