/** Deciding on an order stream, and posting what the decision implies to the ledger, in one append. */
import type { Actor } from '../../domain/actor.ts';
import type { LedgerTransaction } from '../../domain/ledger/ledgerEvents.ts';
import { orderDecider, type OrderCommand, type OrderState } from '../../domain/orders/orderDecider.ts';
import { orderEventSchemas } from '../../domain/orders/orderEvents.ts';
import { streams } from '../../domain/streams.ts';
import { execute, type CommandContext, type CommandDeps, type CommandResult, type StreamAppend } from '../command.ts';
import { decideStream, typesOf } from '../decideStream.ts';
import { decidePosting } from '../ledger/postLedgerTransaction.ts';
import type { CommandRequest } from '../idempotency.ts';

export const ORDER_EVENT_TYPES = typesOf(orderEventSchemas);

export interface OrderCommandOptions {
  /** The client's expected version of the order stream, when it sent one. */
  expectedVersion?: number | undefined;
  postings?: (state: OrderState, actor: Actor) => LedgerTransaction[] | Promise<LedgerTransaction[]>;
  /** The order stream is being created by this command (checkout). */
  creates?: boolean;
  /** Appends to other streams the decision implies besides the ledger's (a refund revokes the delivery). */
  alongside?: (state: OrderState) => Promise<StreamAppend[]>;
}

/**
 * Runs an order command; `postings` says which ledger transactions the
 * decision implies (none when the order's events are empty: a repeated
 * payment changes nothing, and posts nothing).
 */
export function runOrderCommand(
  deps: CommandDeps,
  context: CommandContext,
  request: CommandRequest,
  orderId: string,
  command: OrderCommand,
  { expectedVersion, postings = () => [], creates = false, alongside }: OrderCommandOptions = {},
): Promise<CommandResult> {
  return execute(
    deps,
    context,
    request,
    async (attempt) => {
      // First attempt: a new order and the order's postings (ids derived from the order) are new streams.
      const order = await decideStream(deps.store, streams.order(orderId), orderDecider, ORDER_EVENT_TYPES, command, {
        expectedVersion,
        assumeNew: creates && attempt === 0,
      });
      if (order.events.length === 0) return [order];
      const ledger: StreamAppend[] = [];
      for (const transaction of await postings(order.state, context.actor))
        ledger.push(await decidePosting(deps, context.actor, transaction, { assumeNew: attempt === 0 }));
      return [order, ...ledger, ...(alongside ? await alongside(order.state) : [])];
    },
    expectedVersion !== undefined,
  );
}
