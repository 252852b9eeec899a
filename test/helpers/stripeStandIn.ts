/**
 * A stand-in for Stripe's API on a loopback port: it is not Stripe, and a
 * test that uses it checks our side only (what we send, how we read the
 * answers). It keeps every request it gets, answers `POST /v1/transfers` as
 * Stripe documents it (one transfer per Idempotency-Key: the same key
 * answers the same transfer again), or as a test tells it to.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ExecutionContext } from 'ava';
import { webhookSignature } from '../../infra/entrypoints/http/routes/webhooks.ts';

/** A secret key of the stand-in's only: shaped like Stripe's, it opens nothing. */
export const STAND_IN_SECRET_KEY = 'sk_test_standin_not_a_key';
export const STAND_IN_WEBHOOK_SECRET = 'whsec_standin_0123456789abcdef';

export interface StandInRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  form: [string, string][];
}

/** What the stand-in answers: a status, a JSON body or raw text, after a delay. */
export interface StandInAnswer {
  status: number;
  body?: unknown;
  raw?: string;
  delayMs?: number;
}

export interface StripeStandIn {
  url: string;
  requests: StandInRequest[];
  /** Overrides the answer of the next requests while set; undefined answers as Stripe. */
  answer: ((request: StandInRequest) => StandInAnswer) | undefined;
  /** The transfers it made, by Idempotency-Key. */
  transfers: Map<string, Record<string, unknown>>;
}

function transferOf(form: URLSearchParams, id: string): Record<string, unknown> {
  return {
    id,
    object: 'transfer',
    amount: Number(form.get('amount')),
    amount_reversed: 0,
    currency: form.get('currency'),
    destination: form.get('destination'),
    transfer_group: form.get('transfer_group'),
    metadata: { payoutId: form.get('metadata[payoutId]'), partyId: form.get('metadata[partyId]') },
    reversed: false,
  };
}

export async function stripeStandIn(t: ExecutionContext): Promise<StripeStandIn> {
  const transfers = new Map<string, Record<string, unknown>>();
  const standIn: StripeStandIn = { url: '', requests: [], answer: undefined, transfers };
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const recorded = { method: request.method!, path: request.url!, headers: request.headers, form: [...form] };
      standIn.requests.push(recorded);
      let answer: StandInAnswer;
      if (standIn.answer) answer = standIn.answer(recorded);
      else {
        const key = String(request.headers['idempotency-key']);
        if (!transfers.has(key)) transfers.set(key, transferOf(form, `tr_standin${transfers.size + 1}`));
        answer = { status: 200, body: transfers.get(key) };
      }
      const send = () =>
        response
          .writeHead(answer.status, { 'content-type': 'application/json', 'request-id': 'req_standin1' })
          .end(answer.raw ?? JSON.stringify(answer.body ?? {}));
      if (answer.delayMs) setTimeout(send, answer.delayMs);
      else send();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  standIn.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return standIn;
}

/** A Stripe event about one transfer, as Stripe would deliver it, and its Stripe-Signature headers. */
export function stripeEvent(
  id: string,
  type: string,
  object: Record<string, unknown>,
  options: { secret?: string; nowMs?: number } = {},
): { raw: string; headers: Record<string, string> } {
  const raw = JSON.stringify({
    id,
    object: 'event',
    api_version: '2024-06-20',
    created: Math.floor((options.nowMs ?? Date.now()) / 1000),
    data: { object },
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type,
  });
  const t = Math.floor((options.nowMs ?? Date.now()) / 1000);
  const signature = webhookSignature(options.secret ?? STAND_IN_WEBHOOK_SECRET, t, raw);
  return { raw, headers: { 'content-type': 'application/json', 'stripe-signature': `t=${t},v1=${signature}` } };
}
