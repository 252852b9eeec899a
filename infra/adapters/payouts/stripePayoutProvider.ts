/**
 * The Stripe payout provider (PAYOUT_PROVIDER=stripe): each payout is one
 * Stripe Connect transfer from the platform's balance to the party's
 * connected account, `POST /v1/transfers`, sent with the idempotency key
 * `chainbook-payout-<payoutId>`, so the same payout handed over again (a
 * resubmission) is the same transfer. Stripe's answer about the money comes
 * later, as an event on `POST /webhooks/stripe` (stripeEvents.ts beside this
 * file). docs/DOMAIN.md, "Payouts", says what we rely on and its limits.
 *
 * The secret key is sent in the Authorization header and nowhere else: no
 * error this file throws repeats it, or repeats Stripe's own message (it may
 * quote the key's tail); an error names the HTTP status, Stripe's error type
 * and code, and its request id. So every error it throws is a PayoutRefusal,
 * whose message finance may read.
 */
import { PayoutRefusal, type PayoutProvider } from '../../../commands/payouts/payoutProvider.ts';
import type { PayoutInitiated } from '../../../domain/payouts/payoutEvents.ts';

/** The API version every request is pinned to, so a change of the account's default changes nothing here. */
export const STRIPE_API_VERSION = '2024-06-20';
/** Per request to Stripe (docs/STYLE.md rule 7): a payout not accepted in time stays initiated and can be resubmitted. */
export const STRIPE_REQUEST_TIMEOUT_MS = 10_000;
/** Largest response body read from Stripe; a transfer is a few kilobytes. */
export const MAX_STRIPE_RESPONSE_BYTES = 256 * 1024;
/**
 * Consecutive failures of Stripe itself (unreachable, timed out, 5xx) after
 * which the provider stops calling it for STRIPE_PAUSE_MS: a run hands its
 * payouts over one by one, and 10,000 timeouts would hold it for a day. The
 * payouts not sent stay initiated, to be resubmitted.
 */
export const MAX_CONSECUTIVE_STRIPE_FAILURES = 3;
export const STRIPE_PAUSE_MS = 30_000;

export interface StripePayoutOptions {
  secretKey: string;
  /** `https://api.stripe.com`, or a stand-in's origin; no trailing slash. */
  apiBase: string;
  /** Party id → connected account id (`acct_…`). */
  connectedAccounts: ReadonlyMap<string, string>;
  timeoutMs?: number;
  /** The clock of the pause after repeated failures (tests move it). */
  nowMs?: () => number;
}

/** An error of Stripe's side, which counts towards the pause; a refusal or a wrong answer does not. */
class StripeUnavailableError extends PayoutRefusal {}
/** Nothing was sent: the pause is not Stripe's business. */
class NoConnectedAccountError extends PayoutRefusal {}

/** The idempotency key of a payout's transfer: the payout id, as the PayoutProvider interface asks. */
/** How long after a payout's initiation it may be handed to Stripe again under the same idempotency key. */
export const STRIPE_IDEMPOTENCY_WINDOW_SECONDS = 23 * 3600;

export function stripeIdempotencyKey(payoutId: string): string {
  return `chainbook-payout-${payoutId}`;
}

/** The form of `POST /v1/transfers` for one payout. */
export function transferForm(payout: PayoutInitiated, destination: string): URLSearchParams {
  return new URLSearchParams([
    ['amount', String(payout.amountMinor)],
    ['currency', payout.currency.toLowerCase()],
    ['destination', destination],
    ['transfer_group', payout.runId],
    ['metadata[payoutId]', payout.payoutId],
    ['metadata[partyId]', payout.partyId],
  ]);
}

/** The body, read up to the bound; longer is an error (Stripe never sends that much). */
async function boundedText(response: Response): Promise<string> {
  const reader = response.body?.getReader();
  if (reader === undefined) return '';
  const chunks: Uint8Array[] = [];
  let sizeBytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    sizeBytes += value.byteLength;
    if (sizeBytes > MAX_STRIPE_RESPONSE_BYTES) {
      await reader.cancel();
      throw new PayoutRefusal(`Stripe answered ${response.status} with more than ${MAX_STRIPE_RESPONSE_BYTES} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parsedJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A short printable token of Stripe's (an error type, a code), or `?`: never free text. */
function token(value: unknown): string {
  return typeof value === 'string' && /^[A-Za-z0-9_.-]{1,100}$/.test(value) ? value : '?';
}

/** Why Stripe refused, in its own words' codes only: status, type, code, decline code, request id. */
export function stripeRefusal(status: number, body: unknown, requestId: string | null): string {
  const error =
    typeof body === 'object' && body !== null && 'error' in body && typeof body.error === 'object' && body.error
      ? (body.error as Record<string, unknown>)
      : undefined;
  const parts = [
    `Stripe refused the transfer: HTTP ${status}`,
    error === undefined ? 'no error object' : `type ${token(error['type'])}`,
  ];
  if (error?.['code'] !== undefined) parts.push(`code ${token(error['code'])}`);
  if (error?.['decline_code'] !== undefined) parts.push(`decline code ${token(error['decline_code'])}`);
  if (requestId !== null) parts.push(`request ${token(requestId)}`);
  return parts.join(', ');
}

/** The created transfer must be this payout's: a `tr_` id, its amount and currency; its id. */
function checkTransfer(payout: PayoutInitiated, body: unknown): string {
  const transfer = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : undefined;
  if (transfer === undefined) throw new PayoutRefusal('Stripe answered 2xx with a body that is not a JSON object');
  const id = transfer['id'];
  if (typeof id !== 'string' || !/^tr_[A-Za-z0-9]{1,100}$/.test(id))
    throw new PayoutRefusal(`Stripe answered 2xx without a transfer id (tr_…) for payout ${payout.payoutId}`);
  if (transfer['amount'] !== payout.amountMinor || transfer['currency'] !== payout.currency.toLowerCase())
    throw new PayoutRefusal(
      `Stripe's transfer ${id} is ${token(String(transfer['amount']))} ${token(transfer['currency'])}, ` +
        `not payout ${payout.payoutId}'s ${payout.amountMinor} ${payout.currency.toLowerCase()}`,
    );
  return id;
}

/** fetch's own failures (refused, reset, timed out) without the request it was given. */
function networkFailure(error: unknown, timeoutMs: number): Error {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError'))
    return new StripeUnavailableError(`Stripe did not answer within ${timeoutMs} ms`);
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : undefined;
  const code = cause !== undefined && 'code' in cause ? token(cause.code) : 'unknown';
  return new StripeUnavailableError(`Stripe could not be reached (${code})`);
}

/** Creates (or, under the same payout id, finds again) the payout's transfer; its id. */
export async function createStripeTransfer(options: StripePayoutOptions, payout: PayoutInitiated): Promise<string> {
  const timeoutMs = options.timeoutMs ?? STRIPE_REQUEST_TIMEOUT_MS;
  const destination = options.connectedAccounts.get(payout.partyId);
  if (destination === undefined)
    throw new NoConnectedAccountError(
      `party ${payout.partyId} has no Stripe connected account (STRIPE_CONNECTED_ACCOUNTS): payout ${payout.payoutId} was not sent`,
    );
  let response: Response;
  let text: string;
  try {
    response = await fetch(`${options.apiBase}/v1/transfers`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${options.secretKey}`,
        'content-type': 'application/x-www-form-urlencoded',
        'stripe-version': STRIPE_API_VERSION,
        'idempotency-key': stripeIdempotencyKey(payout.payoutId),
      },
      body: transferForm(payout, destination),
      redirect: 'error',
      signal: AbortSignal.timeout(timeoutMs),
    });
    text = await boundedText(response);
  } catch (error) {
    throw error instanceof Error && error.message.startsWith('Stripe answered')
      ? error
      : networkFailure(error, timeoutMs);
  }
  const body = parsedJson(text);
  if (response.status < 200 || response.status > 299) {
    const refusal = stripeRefusal(response.status, body, response.headers.get('request-id'));
    throw response.status >= 500 ? new StripeUnavailableError(refusal) : new PayoutRefusal(refusal);
  }
  return checkTransfer(payout, body);
}

export function stripePayoutProvider(options: StripePayoutOptions): PayoutProvider {
  const nowMs = options.nowMs ?? Date.now;
  let failures = 0;
  let pausedUntilMs = 0;
  return {
    name: 'stripe',
    accepting: true,
    // Stripe keeps idempotency keys at least 24 hours: an hour's margin.
    idempotencyWindowSeconds: STRIPE_IDEMPOTENCY_WINDOW_SECONDS,
    async submit(payout) {
      if (nowMs() < pausedUntilMs)
        throw new PayoutRefusal(
          `Stripe failed ${MAX_CONSECUTIVE_STRIPE_FAILURES} times in a row: payout ${payout.payoutId} was not sent, ` +
            `Stripe is called again in ${Math.ceil((pausedUntilMs - nowMs()) / 1000)} s`,
        );
      let transferId: string;
      try {
        transferId = await createStripeTransfer(options, payout);
      } catch (error) {
        if (error instanceof NoConnectedAccountError) throw error;
        if (!(error instanceof StripeUnavailableError)) {
          // Stripe answered: it is up.
          failures = 0;
          pausedUntilMs = 0;
          throw error;
        }
        // The one call let through after a pause failed too: pause again at once.
        failures = pausedUntilMs > 0 ? MAX_CONSECUTIVE_STRIPE_FAILURES : failures + 1;
        if (failures >= MAX_CONSECUTIVE_STRIPE_FAILURES) pausedUntilMs = nowMs() + STRIPE_PAUSE_MS;
        throw error;
      }
      failures = 0;
      pausedUntilMs = 0;
      return { reference: transferId };
    },
  };
}
