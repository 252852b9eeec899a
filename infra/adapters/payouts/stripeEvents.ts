/**
 * Stripe's events about the transfers stripePayoutProvider.ts creates,
 * translated into a payout's answer (docs/DOMAIN.md, "Payouts"):
 *
 * - `transfer.created`: settled. A Connect transfer moves the money from the
 *   platform's balance to the connected account's when it is created; there
 *   is nothing later to wait for (the connected account's own payout to its
 *   bank is its business, not ours).
 * - `transfer.reversed`, fully reversed (`amount_reversed` equal to
 *   `amount`): failed, the money back on the platform's balance. A partial
 *   reversal is not a failure of the payout and has no answer in the domain:
 *   it is ignored, and the route logs it for finance.
 * - `transfer.failed`: failed, with Stripe's failure message. The pinned API
 *   version does not send it (transfers to connected accounts do not fail
 *   after creation); an endpoint on an older version might.
 *
 * Only transfers whose `metadata.payoutId` names a payout are ours; every
 * other event is ignored. The event id is the answer's provider event id,
 * its underscore written as a hyphen (our ids have no underscore; Stripe's
 * have no hyphen, so two events never share one).
 */
import { z } from 'zod';
import { MAX_TEXT_LENGTH } from '../../../domain/ids.ts';
import { CURRENCY_PATTERN } from '../../../domain/money.ts';

const STRIPE_EVENT_ID = /^evt_[A-Za-z0-9]{1,95}$/;

/** What the route reads of an event; the rest of Stripe's fields pass through unread. */
export const stripeEventSchema = z.looseObject({
  id: z.string().regex(STRIPE_EVENT_ID).describe("Stripe's event id: redeliveries carry the same one"),
  type: z.string().min(1).max(100),
  data: z.looseObject({ object: z.looseObject({}) }),
});
export type StripeEvent = z.infer<typeof stripeEventSchema>;

export interface StripePayoutAnswer {
  payoutId: string;
  outcome: 'settled' | 'failed';
  providerEventId: string;
  amountMinor: number;
  currency: string;
  reason?: string;
}

/** An answer to record, or why the event is none (`notify`: finance should look at it). */
export type StripeTranslation = { answer: StripePayoutAnswer } | { ignored: string; notify?: true };

export const STRIPE_TRANSFER_EVENTS = ['transfer.created', 'transfer.reversed', 'transfer.failed'] as const;

/** The provider event id of a Stripe event id: `evt_1Ab` → `evt-1Ab`. */
export function stripeProviderEventId(eventId: string): string {
  return eventId.replace('_', '-');
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.slice(0, MAX_TEXT_LENGTH) : undefined;
}

function failureReason(type: string, transfer: Record<string, unknown>): string {
  const id = text(transfer['id']) ?? 'unknown';
  if (type === 'transfer.reversed') return `Stripe transfer ${id} was reversed`;
  const detail = text(transfer['failure_message']) ?? text(transfer['failure_code']);
  return (detail === undefined ? `Stripe transfer ${id} failed` : `Stripe transfer ${id} failed: ${detail}`).slice(
    0,
    MAX_TEXT_LENGTH,
  );
}

export function translateStripeEvent(event: StripeEvent): StripeTranslation {
  const type = event.type as (typeof STRIPE_TRANSFER_EVENTS)[number];
  if (!STRIPE_TRANSFER_EVENTS.includes(type)) return { ignored: `event type ${event.type} is not a payout's answer` };
  const transfer = event.data.object;
  const metadata = transfer['metadata'];
  const payoutId =
    typeof metadata === 'object' && metadata !== null ? (metadata as Record<string, unknown>)['payoutId'] : undefined;
  if (transfer['object'] !== 'transfer' || typeof payoutId !== 'string')
    return { ignored: 'not a transfer with metadata.payoutId' };
  const amountMinor = transfer['amount'];
  const currency = typeof transfer['currency'] === 'string' ? transfer['currency'].toUpperCase() : '';
  if (typeof amountMinor !== 'number' || !CURRENCY_PATTERN.test(currency))
    return { ignored: 'the transfer has no amount or currency' };
  if (type === 'transfer.reversed' && transfer['amount_reversed'] !== amountMinor)
    return { ignored: `a partial reversal of payout ${payoutId}'s transfer`, notify: true };
  const outcome = type === 'transfer.created' ? 'settled' : 'failed';
  return {
    answer: {
      payoutId,
      outcome,
      providerEventId: stripeProviderEventId(event.id),
      amountMinor,
      currency,
      ...(outcome === 'failed' ? { reason: failureReason(type, transfer) } : {}),
    },
  };
}
