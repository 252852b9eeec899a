/**
 * Stripe's events about the transfers stripePayoutProvider.ts creates,
 * translated into a payout's answer (docs/DOMAIN.md, "Payouts"):
 *
 * - `transfer.created`: settled. A Connect transfer moves the money from the
 *   platform's balance to the connected account's when it is created; there
 *   is nothing later to wait for (the connected account's own payout to its
 *   bank is its business, not ours).
 * - `transfer.reversed`, fully reversed (`amount_reversed` equal to
 *   `amount`): reversed, a failure while the payout is initiated and a
 *   reversal once it settled (the money owed to the party again, and a
 *   discrepancy holding it until finance looks). Partly reversed: a
 *   discrepancy, nothing posted.
 * - `transfer.failed`: failed, with Stripe's failure message. The pinned API
 *   version does not send it (transfers to connected accounts do not fail
 *   after creation); an endpoint on an older version might.
 *
 * Every answer names the transfer (`tr_…`) as the provider's reference, the
 * party its metadata names, and whether the transfer went where this
 * service sends that party's money (STRIPE_CONNECTED_ACCOUNTS): a payout
 * paid by another transfer, or to another account, is a discrepancy, never
 * a settlement. Only transfers whose `metadata.payoutId` names a payout are
 * ours; every other event is ignored, and so is an event of the other mode
 * (a test-mode event at a live-mode service, or the reverse), logged for
 * finance. The event id is the answer's provider event id, its underscore
 * written as a hyphen (our ids have no underscore; Stripe's have no hyphen,
 * so two events never share one).
 */
import { z } from 'zod';
import { ID_PATTERN, MAX_TEXT_LENGTH } from '../../../domain/ids.ts';
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
  outcome: 'settled' | 'failed' | 'reversed' | 'partially_reversed';
  providerEventId: string;
  /** The transfer: `tr_…`. */
  providerReference: string;
  amountMinor: number;
  currency: string;
  reason?: string;
  /** The party the transfer's metadata names, when it names one. */
  partyId?: string;
  /** Why the transfer is not where that party's money goes. */
  mismatch?: string;
  amountReversedMinor?: number;
}

/** What the translation compares an event with: this service's Stripe configuration. */
export interface StripeExpectations {
  /** Party id → its connected account (STRIPE_CONNECTED_ACCOUNTS). */
  connectedAccounts: ReadonlyMap<string, string>;
  /** Whether STRIPE_SECRET_KEY is a live-mode key (`sk_live_…`, `rk_live_…`). */
  livemode: boolean;
}

/** Whether a Stripe secret or restricted key is a live-mode one. */
export function isLiveModeKey(secretKey: string): boolean {
  return /^(sk|rk)_live_/.test(secretKey);
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

const TRANSFER_ID = /^tr_[A-Za-z0-9]{1,100}$/;
const STRIPE_ACCOUNT = /^acct_[A-Za-z0-9]{1,64}$/;

/** Why the transfer is not where the party's money goes, or undefined. */
function destinationMismatch(
  transfer: Record<string, unknown>,
  partyId: string | undefined,
  expected: StripeExpectations,
): string | undefined {
  const destination = typeof transfer['destination'] === 'string' ? transfer['destination'] : undefined;
  const shown = destination !== undefined && STRIPE_ACCOUNT.test(destination) ? destination : 'an unreadable account';
  if (partyId === undefined) return `the transfer to ${shown} names no party in its metadata`;
  const account = expected.connectedAccounts.get(partyId);
  if (account === undefined) return `party ${partyId} has no connected account here, the transfer went to ${shown}`;
  if (destination !== account)
    return `the transfer went to ${shown}, party ${partyId}'s connected account is ${account}`;
  return undefined;
}

function outcomeOf(
  type: (typeof STRIPE_TRANSFER_EVENTS)[number],
  transfer: Record<string, unknown>,
  amountMinor: number,
): Pick<StripePayoutAnswer, 'outcome' | 'amountReversedMinor'> {
  if (type === 'transfer.created') return { outcome: 'settled' };
  if (type === 'transfer.failed') return { outcome: 'failed' };
  const reversed = transfer['amount_reversed'];
  if (reversed === amountMinor) return { outcome: 'reversed' };
  return {
    outcome: 'partially_reversed',
    ...(Number.isSafeInteger(reversed) && (reversed as number) > 0 ? { amountReversedMinor: reversed as number } : {}),
  };
}

export function translateStripeEvent(event: StripeEvent, expected: StripeExpectations): StripeTranslation {
  const type = event.type as (typeof STRIPE_TRANSFER_EVENTS)[number];
  if (!STRIPE_TRANSFER_EVENTS.includes(type)) return { ignored: `event type ${event.type} is not a payout's answer` };
  const transfer = event.data.object;
  const metadata =
    typeof transfer['metadata'] === 'object' && transfer['metadata'] !== null
      ? (transfer['metadata'] as Record<string, unknown>)
      : {};
  const payoutId = metadata['payoutId'];
  if (transfer['object'] !== 'transfer' || typeof payoutId !== 'string')
    return { ignored: 'not a transfer with metadata.payoutId' };
  if (event['livemode'] !== expected.livemode)
    return {
      ignored: `a ${event['livemode'] === true ? 'live' : 'test'}-mode event at a ${expected.livemode ? 'live' : 'test'}-mode service`,
      notify: true,
    };
  const transferId = transfer['id'];
  if (typeof transferId !== 'string' || !TRANSFER_ID.test(transferId))
    return { ignored: `the transfer of payout ${payoutId.slice(0, 100)} has no transfer id`, notify: true };
  const amountMinor = transfer['amount'];
  const currency = typeof transfer['currency'] === 'string' ? transfer['currency'].toUpperCase() : '';
  if (typeof amountMinor !== 'number' || !CURRENCY_PATTERN.test(currency))
    return { ignored: 'the transfer has no amount or currency' };
  const named = metadata['partyId'];
  const partyId = typeof named === 'string' && ID_PATTERN.test(named) ? named : undefined;
  const mismatch = destinationMismatch(transfer, partyId, expected);
  const outcome = outcomeOf(type, transfer, amountMinor);
  return {
    answer: {
      payoutId,
      ...outcome,
      providerEventId: stripeProviderEventId(event.id),
      providerReference: transferId,
      amountMinor,
      currency,
      ...(partyId === undefined ? {} : { partyId }),
      ...(mismatch === undefined ? {} : { mismatch }),
      ...(outcome.outcome === 'failed' || outcome.outcome === 'reversed'
        ? { reason: failureReason(type, transfer) }
        : {}),
    },
  };
}
