/**
 * Spans around the work the kernel guide and the finance runbook ask to
 * trace (canonicalize, hash, sign, append, proofs, export, reconciliation),
 * through the OpenTelemetry API alone: it holds no exporter and does no I/O;
 * infra/adapters/tracing.ts starts the SDK that records and sends them.
 *
 * Until that SDK is started (OTEL_COLLECTOR_URL unset) `traced` calls its
 * function and nothing else: no span object, no context, so the append path
 * costs one boolean test per call.
 */
import {
  context,
  ROOT_CONTEXT,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
} from '@opentelemetry/api';

export type { Attributes, Context, Span };

/** The instrumentation scope every span of ours carries. */
export const TRACER_NAME = 'chainbook';

let enabled = false;

/** Called by the tracing SDK's start and shutdown (infra/adapters/tracing.ts). */
export function setTracingEnabled(value: boolean): void {
  enabled = value;
}

export function tracingEnabled(): boolean {
  return enabled;
}

function tracer() {
  return trace.getTracer(TRACER_NAME);
}

/** Ends `span` as failed with `error`. */
export function failSpan(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
}

/** Runs `work` in a span named `name`, a child of the active span; failures mark the span failed. */
export async function traced<T>(
  name: string,
  attributes: Attributes,
  work: (span: Span | undefined) => Promise<T>,
): Promise<T> {
  if (!enabled) return work(undefined);
  return tracer().startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      failSpan(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

/** The synchronous `traced`. */
export function tracedSync<T>(name: string, attributes: Attributes, work: () => T): T {
  if (!enabled) return work();
  return tracer().startActiveSpan(name, { attributes }, (span) => {
    try {
      return work();
    } catch (error) {
      failSpan(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

/** The active context, to start a span under it later (a batch started on behalf of queued appends); undefined when off. */
export function activeContext(): Context | undefined {
  return enabled ? context.active() : undefined;
}

/**
 * A span started under `parent` (or the active context) and ended by the
 * caller, linked to `linked` (the other appends of one batch): for work that
 * does not fit one function call. Undefined when tracing is off.
 */
export function startSpan(
  name: string,
  attributes: Attributes,
  parent: Context | undefined,
  linked: readonly (Context | undefined)[] = [],
): Span | undefined {
  if (!enabled) return undefined;
  const links: Link[] = [];
  for (const other of linked) {
    const spanContext = other === undefined ? undefined : trace.getSpanContext(other);
    if (spanContext) links.push({ context: spanContext });
  }
  return tracer().startSpan(name, { attributes, links }, parent ?? context.active());
}

/** Runs `work` with `span` as the active span (its children are its). */
export function withSpan<T>(span: Span | undefined, work: () => T): T {
  if (!span) return work();
  return context.with(trace.setSpan(context.active(), span), work);
}

/** A context with no span in it: spans started under it begin their own trace. */
export const NO_PARENT: Context = ROOT_CONTEXT;
