/**
 * GET /chain/stream: the chain from a seq on, the records already there and
 * then each one as it is appended, for as long as the client reads
 * (chain/subscription.ts; docs/DESIGN.md, "The audit stream"). Each record
 * is sent as stored, its exact JCS text, so that a consumer can check its
 * hash and link without our code:
 *
 * - `text/event-stream` (Server-Sent Events): `id: <seq>`, `event: record`,
 *   `data: <record>`; a reconnecting EventSource sends `Last-Event-ID` and
 *   the stream goes on after it. `: keep-alive` comments while idle.
 * - `application/x-ndjson`: one record per line; blank lines while idle.
 *
 * A record that does not follow the one before (a gap or a broken link, which
 * a correct store never shows) ends the stream with an error event (SSE,
 * `event: stream-error`) or line (`{"error": {...}}`), never a record past it.
 * Backpressure is the socket's: the next page is read only when the last was
 * taken, so a slow client holds one page here.
 */
import { z } from 'zod';
import { followChain } from '../../../../chain/subscription.ts';
import { READ_ROLES } from '../../../../domain/authorization.ts';
import { CodedError } from '../../../../domain/errors.ts';
import { auditStreamRecordsSentTotal, auditStreamSubscribers } from '../../../adapters/metrics.ts';
import { HttpError } from '../errors.ts';
import { defineRoute, QUERY_ERRORS, type HttpServices, type RouteSpec } from '../route.ts';

/** Subscriptions one API process serves at once; more are refused (503, retry later). */
export const MAX_STREAM_SUBSCRIBERS = 100;
/**
 * Subscriptions one caller (actor) may hold open at once in a process; more
 * are refused (429), so that one client reconnecting without closing cannot
 * take every subscription of MAX_STREAM_SUBSCRIBERS from the others.
 */
export const MAX_STREAMS_PER_ACTOR = 10;
/** How long a subscription may send nothing before a keep-alive (well under the 60 s idle cut, server.ts). */
export const STREAM_KEEPALIVE_MS = 15_000;
export const SSE_RETRY_MS = 1000;
/** Records read at once for one subscriber: at most about 3 MiB of the largest records (chain/limits.ts). */
export const STREAM_PAGE_RECORDS = 50;

let subscribers = 0;
const subscribersByActor = new Map<string, number>();

function release(actorId: string): void {
  const held = (subscribersByActor.get(actorId) ?? 1) - 1;
  if (held <= 0) subscribersByActor.delete(actorId);
  else subscribersByActor.set(actorId, held);
}

const seqSchema = z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
const LAST_EVENT_ID = /^\d{1,16}$/;

type Format = 'sse' | 'ndjson';

function formatOf(asked: Format | undefined, accept: string | undefined): Format {
  if (asked !== undefined) return asked;
  return accept !== undefined && /text\/event-stream/i.test(accept) ? 'sse' : 'ndjson';
}

/** The seq after Last-Event-ID, when the client sent one. */
function resumedFrom(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const value = header.trim();
  if (!LAST_EVENT_ID.test(value) || Number(value) >= Number.MAX_SAFE_INTEGER)
    throw new HttpError('INVALID_HEADER', 'Last-Event-ID must be the seq of the last record received', {
      header: 'Last-Event-ID',
    });
  return Number(value) + 1;
}

function errorText(format: Format, error: unknown): string {
  const body =
    error instanceof CodedError
      ? { code: error.code, message: error.message, details: error.details }
      : { code: 'STREAM_FAILED', message: 'the stream failed; reconnect with Last-Event-ID', details: {} };
  // Not `event: error`, which an EventSource takes for its own connection error.
  return format === 'sse'
    ? `event: stream-error\ndata: ${JSON.stringify(body)}\n\n`
    : `${JSON.stringify({ error: body })}\n`;
}

async function* streamBody(
  services: HttpServices,
  chain: string,
  fromSeq: number,
  format: Format,
  actorId: string,
  closed: AbortSignal,
): AsyncGenerator<Uint8Array, void, undefined> {
  const encoder = new TextEncoder();
  try {
    // The first chunk goes at once (the answer's headers wait for it), even at the head with nothing to send.
    yield encoder.encode(format === 'sse' ? `retry: ${SSE_RETRY_MS}\n: chain ${chain} from seq ${fromSeq}\n\n` : '\n');
    let lastSentMs = Date.now();
    try {
      for await (const page of followChain(services.app.runtime.store, services.app.wakeups, chain, {
        fromSeq,
        pageRecords: STREAM_PAGE_RECORDS,
        // Shutdown, or the client gone: an idle subscription gives its place back at once, not at its next keep-alive.
        signal: AbortSignal.any([services.streams.signal, closed]),
      })) {
        if (page.length === 0) {
          if (Date.now() - lastSentMs < STREAM_KEEPALIVE_MS) continue;
          yield encoder.encode(format === 'sse' ? ': keep-alive\n\n' : '\n');
        }
        // One chunk a record: the socket's backpressure stops the reading after the record it could not take.
        for (const stored of page) {
          yield encoder.encode(
            format === 'sse' ? `id: ${stored.record.seq}\nevent: record\ndata: ${stored.text}\n\n` : `${stored.text}\n`,
          );
          auditStreamRecordsSentTotal.inc({ format });
        }
        lastSentMs = Date.now();
      }
    } catch (error) {
      services.logger.error(
        { chain, err: error instanceof Error ? error.message : String(error) },
        'chain stream ended on an error',
      );
      yield encoder.encode(errorText(format, error));
    }
  } finally {
    subscribers -= 1;
    release(actorId);
    auditStreamSubscribers.set(subscribers);
  }
}

export const chainStreamRoutes: readonly RouteSpec[] = [
  defineRoute({
    method: 'get',
    path: '/chain/stream',
    operationId: 'streamChain',
    summary:
      'The chain from seq `from` on (or after Last-Event-ID), the records there and then each one appended, as Server-Sent Events or NDJSON, until the client goes',
    tag: 'chain',
    routeClass: 'query',
    roles: READ_ROLES.stream,
    query: z.object({
      from: seqSchema.optional().describe('the first seq sent (default 1); Last-Event-ID, when sent, wins'),
      format: z
        .enum(['sse', 'ndjson'])
        .optional()
        .describe('default: sse when Accept names text/event-stream, else ndjson'),
    }),
    headers: [
      {
        name: 'Last-Event-ID',
        required: false,
        schema: { type: 'string', pattern: '^[0-9]{1,16}$' },
        description: 'the seq of the last record received: the stream goes on after it',
      },
    ],
    responseContentType: 'text/event-stream',
    response: z.string().describe('SSE (id: seq, event: record, data: the record) or one record per line (NDJSON)'),
    responseDescription: 'the records, as they come',
    errors: [...QUERY_ERRORS, 404, 503],
    async handle({ actor, query, header, closed }, services) {
      const chain = services.deps.chain;
      const fromSeq = resumedFrom(header('last-event-id')) ?? query.from ?? 1;
      const format = formatOf(query.format, header('accept'));
      await services.app.runtime.store.head(chain); // UNKNOWN_CHAIN: an answer, not a cut stream
      if (subscribers >= MAX_STREAM_SUBSCRIBERS)
        throw new CodedError(
          'STREAMS_BUSY',
          `${MAX_STREAM_SUBSCRIBERS} subscriptions are open in this process; try again shortly`,
        );
      const actorId = actor?.id ?? '';
      const held = subscribersByActor.get(actorId) ?? 0;
      if (held >= MAX_STREAMS_PER_ACTOR)
        throw new HttpError(
          'STREAMS_PER_CLIENT_EXCEEDED',
          `${MAX_STREAMS_PER_ACTOR} subscriptions of yours are open in this process; close one first`,
          { limit: MAX_STREAMS_PER_ACTOR },
          { 'Retry-After': '5' },
        );
      subscribers += 1;
      subscribersByActor.set(actorId, held + 1);
      auditStreamSubscribers.set(subscribers);
      return {
        stream: {
          contentType: format === 'sse' ? 'text/event-stream' : 'application/x-ndjson',
          body: streamBody(services, chain, fromSeq, format, actorId, closed),
        },
        headers: { 'X-Accel-Buffering': 'no' },
      };
    },
  }),
];
