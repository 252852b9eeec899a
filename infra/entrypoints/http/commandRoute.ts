/**
 * A command as a POST route: the body is the handler's input schema (minus
 * the ids the path carries); `If-Match` is the stream version the client
 * decided on (expectedVersion); `Idempotency-Key` makes retries safe. The
 * response is what was appended: seqs, the new version of each stream, the
 * events, and the ids the command created.
 */
import { traced, tracingEnabled } from '../../../chain/tracing.ts';
import { v7 as uuidv7 } from 'uuid';
import { z } from 'zod';
import type { CommandContext, CommandDeps, CommandResult } from '../../../commands/command.ts';
import type { Actor, Role } from '../../../domain/actor.ts';
import { CodedError } from '../../../domain/errors.ts';
import {
  checkoutLatencySeconds,
  ledgerPostFailuresTotal,
  ledgerPostLatencySeconds,
  ledgerPostsTotal,
  ordersTotal,
  proofGenerationDurationSeconds,
  royaltyPayoutsTotal,
} from '../../adapters/metrics.ts';
import { HttpError } from './errors.ts';
import { parseIdempotencyKey } from './idempotency.ts';
import {
  COMMAND_ERRORS,
  defineRoute,
  type HeaderParameter,
  type HttpServices,
  type RouteRequest,
  type RouteSpec,
} from './route.ts';

/** The handlers' own result types differ by command: any extra fields. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
type AnyFields = Record<string, any>;
type Handler = (
  deps: CommandDeps,
  input: unknown,
  context: CommandContext,
  /** The request body, on routes that stream it. */
  body: AsyncIterable<Uint8Array>,
) => Promise<CommandResult & AnyFields>;

export const appendedEventSchema = z.object({
  seq: z.number().int(),
  id: z.string(),
  stream: z.string(),
  version: z.number().int(),
  type: z.string(),
  hash: z.string(),
});

/** What every command answers; commands that create something add its id. */
export const commandResponseSchema = z.object({
  chain: z.string(),
  seqs: z
    .array(z.number().int())
    .describe('seqs of the appended records; empty when the command changed nothing (a repeated payment)'),
  versions: z.record(z.string(), z.number().int()).describe('version of each stream the command decided on, after it'),
  events: z.array(appendedEventSchema),
  replayed: z
    .boolean()
    .describe(
      'true on a retry under the same Idempotency-Key: the first response again, with the header Idempotent-Replayed: true',
    ),
});

export interface CommandRouteOptions {
  operationId: string;
  path: string;
  summary: string;
  tag: string;
  roles: readonly Role[];
  /** The handler's exported input schema. */
  input: z.ZodObject;
  /** Input fields taken from the path. */
  pathKeys?: readonly string[];
  handler: Handler;
  /** Fields the handler adds to the result (created ids…). */
  extra?: z.ZodRawShape;
  /**
   * The body is bytes streamed to the handler (its 4th argument) instead of
   * JSON input; the input is the path's ids, If-Match, and the declared
   * Content-Length as `declaredBytes`.
   */
  streamedBody?: { contentTypes: readonly string[]; description: string };
}

const IF_MATCH = /^(?:W\/)?"?(\d{1,15})"?$/;

/** If-Match `"3"`, `3` or `W/"3"`: the stream version the client read. */
export function parseIfMatch(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const match = IF_MATCH.exec(header.trim());
  if (!match)
    throw new HttpError('INVALID_HEADER', 'If-Match must be the stream version the request was decided on, e.g. "3"', {
      header: 'If-Match',
    });
  return Number(match[1]);
}

function commandHeaders(versioned: boolean): HeaderParameter[] {
  const headers: HeaderParameter[] = [
    {
      name: 'Idempotency-Key',
      required: false,
      schema: { type: 'string', maxLength: 200 },
      description:
        'A retry with the same key and body returns the first response and appends nothing; the same key with another body is 422 IDEMPOTENCY_KEY_REUSED.',
    },
  ];
  if (versioned)
    headers.push({
      name: 'If-Match',
      required: false,
      schema: { type: 'string' },
      description:
        'The stream version the request was decided on (as expectedVersion): 409 STREAM_VERSION_CONFLICT when the stream moved.',
    });
  return headers;
}

function inputOf(
  request: RouteRequest<Record<string, string>, unknown, Record<string, unknown> | undefined>,
  versioned: boolean,
): Record<string, unknown> {
  const input: Record<string, unknown> = { ...request.body, ...request.params };
  const ifMatch = versioned ? parseIfMatch(request.header('if-match')) : undefined;
  if (ifMatch !== undefined) {
    if (input['expectedVersion'] !== undefined && input['expectedVersion'] !== ifMatch) {
      throw new CodedError(
        'INVALID_INPUT',
        `If-Match (${ifMatch}) and expectedVersion (${String(input['expectedVersion'])}) differ`,
        { problems: ['expectedVersion: differs from If-Match'] },
      );
    }
    input['expectedVersion'] = ifMatch;
  }
  return input;
}

export function commandContext(
  services: HttpServices,
  actor: Actor,
  request: { requestId: string; traceId: string },
  idempotencyKey: string | undefined,
): CommandContext {
  return {
    actor,
    now: services.now(),
    newId: uuidv7,
    correlationId: request.requestId,
    traceId: request.traceId,
    ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
  };
}

/** The response body: the result without internals, ids the command created kept. */
export function commandBody(result: CommandResult & Record<string, unknown>): Record<string, unknown> {
  const { chain, seqs, events, versions, replayed, ...extra } = result;
  return { chain, seqs, versions, events, replayed, ...extra };
}

/** Payouts by event and currency: the currency is in the run's answer, or in the webhook's input. */
function countPayouts(result: CommandResult & Record<string, unknown>, input: Record<string, unknown>): void {
  const currencyOf = new Map<string, string>();
  for (const payout of (result['payouts'] as { payoutId: string; currency: string }[] | undefined) ?? [])
    currencyOf.set(`payout-${payout.payoutId}`, payout.currency);
  for (const event of result.events) {
    // A payout's life (initiated, submitted, settled, failed, reversed); its discrepancies are counted apart.
    if (!event.type.startsWith('payout.') || event.type.startsWith('payout.discrepancy_')) continue;
    const currency = currencyOf.get(event.stream) ?? (typeof input['currency'] === 'string' ? input['currency'] : '');
    royaltyPayoutsTotal.inc({ event: event.type.slice('payout.'.length), currency });
  }
}

/** The commands that post to the ledger (ledger.posted): their failures are failed ledger posts. */
const LEDGER_POSTING_COMMANDS: ReadonlySet<string> = new Set([
  'recordPayment',
  'finalizeOrder',
  'refundOrder',
  'postLedgerTransaction',
]);

function observe(operationId: string, result: CommandResult | undefined, outcome: string, seconds: number): void {
  if (operationId === 'checkout') checkoutLatencySeconds.observe({ outcome }, seconds);
  if (operationId === 'issueLedgerProof') proofGenerationDurationSeconds.observe({ outcome }, seconds);
  if (!result) {
    if (LEDGER_POSTING_COMMANDS.has(operationId)) ledgerPostFailuresTotal.inc({ command: operationId, code: outcome });
    return;
  }
  let posted = 0;
  for (const event of result.events) {
    if (event.type.startsWith('order.')) ordersTotal.inc({ event: event.type.slice('order.'.length) });
    if (event.type === 'ledger.posted') posted += 1;
  }
  if (posted > 0) {
    ledgerPostsTotal.inc({ command: operationId }, posted);
    ledgerPostLatencySeconds.observe({ command: operationId }, seconds);
  }
}

/**
 * Runs a command for `actor` with an optional Idempotency-Key, passed down as
 * given: the command answers a retry with its first result, which is sent
 * again with `replayed: true` and the header Idempotent-Replayed. Shared by the command routes and the payment webhook.
 */
export async function runCommand(
  services: HttpServices,
  options: {
    operationId: string;
    handler: Handler;
    actor: Actor;
    input: Record<string, unknown>;
    idempotencyKey: string | undefined;
    request: { requestId: string; traceId: string };
    body?: AsyncIterable<Uint8Array> | undefined;
  },
): Promise<{ status: number; body: unknown; headers?: Record<string, string> }> {
  const { operationId, actor, idempotencyKey } = options;
  const started = performance.now();
  let result: (CommandResult & Record<string, unknown>) | undefined;
  try {
    const run = (): Promise<CommandResult & Record<string, unknown>> =>
      options.handler(
        services.deps,
        options.input,
        commandContext(services, actor, options.request, idempotencyKey),
        options.body ?? (async function* () {})(),
      );
    result = tracingEnabled()
      ? await traced(`command.${operationId}`, { 'chainbook.command': operationId }, run)
      : await run();
  } catch (error) {
    observe(
      operationId,
      undefined,
      error instanceof CodedError ? error.code : 'error',
      (performance.now() - started) / 1000,
    );
    throw error;
  }
  if (result.replayed)
    return {
      status: 200,
      body: commandBody(result),
      headers: { 'Idempotent-Replayed': 'true' },
    };
  observe(operationId, result, 'ok', (performance.now() - started) / 1000);
  countPayouts(result, options.input);
  return { status: 200, body: commandBody(result) };
}

export function commandRoute(options: CommandRouteOptions): RouteSpec {
  const pathKeys = options.pathKeys ?? [];
  const omitted = Object.fromEntries(pathKeys.map((key) => [key, true])) as Record<string, true>;
  const body = options.streamedBody ? undefined : pathKeys.length === 0 ? options.input : options.input.omit(omitted);
  const params = z.object(Object.fromEntries(pathKeys.map((key) => [key, options.input.shape[key] as z.ZodType])));
  const versioned = 'expectedVersion' in options.input.shape;
  return defineRoute({
    method: 'post',
    path: options.path,
    operationId: options.operationId,
    summary: options.summary,
    tag: options.tag,
    routeClass: 'command',
    roles: options.roles,
    params,
    ...(body ? { body: body.optional() } : {}),
    ...(options.streamedBody ? { streamedBody: options.streamedBody } : {}),
    headers: commandHeaders(versioned),
    response: options.extra ? commandResponseSchema.extend(options.extra) : commandResponseSchema,
    errors: COMMAND_ERRORS,
    async handle(request, services) {
      const input = inputOf(
        request as RouteRequest<Record<string, string>, unknown, Record<string, unknown> | undefined>,
        versioned,
      );
      const idempotencyKey = parseIdempotencyKey(request.header('idempotency-key'));
      if (options.streamedBody) {
        const length = request.header('content-length');
        if (length !== undefined && /^\d{1,16}$/.test(length)) input['declaredBytes'] = Number(length);
        // The declared type, without parameters: the content inspector checks the bytes against it.
        const type = request.header('content-type')?.split(';')[0]?.trim().toLowerCase();
        if (type !== undefined && type !== '') input['contentType'] = type;
      }
      return runCommand(services, {
        operationId: options.operationId,
        handler: options.handler,
        actor: request.actor!,
        input,
        idempotencyKey,
        request,
        body: request.stream,
      });
    },
  });
}
