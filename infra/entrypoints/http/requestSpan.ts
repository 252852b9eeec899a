/**
 * The span of one HTTP request (kind SERVER), when tracing is on: it
 * continues the caller's W3C `traceparent` or begins a trace, never under
 * the span of the process that listens. Its attributes are the method, the
 * route pattern and the status: never the URL (a query string may hold a
 * token), a header or a body.
 */
import {
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
  type Span,
} from '@opentelemetry/api';
import type { IncomingHttpHeaders } from 'node:http';
import { TRACER_NAME, tracingEnabled } from '../../../chain/tracing.ts';

export interface RequestSpan {
  span: Span;
  /** The context with the span in it: the route's handler runs in it. */
  context: Context;
  traceId: string;
}

export function startRequestSpan(method: string, headers: IncomingHttpHeaders): RequestSpan | undefined {
  if (!tracingEnabled()) return undefined;
  const parent = propagation.extract(ROOT_CONTEXT, headers);
  const span = trace
    .getTracer(TRACER_NAME)
    .startSpan(`${method}`, { kind: SpanKind.SERVER, attributes: { 'http.request.method': method } }, parent);
  return { span, context: trace.setSpan(parent, span), traceId: span.spanContext().traceId };
}

export function endRequestSpan(request: RequestSpan, method: string, route: string, status: number): void {
  request.span.updateName(`${method} ${route}`);
  request.span.setAttributes({ 'http.route': route, 'http.response.status_code': status });
  if (status >= 500) request.span.setStatus({ code: SpanStatusCode.ERROR });
  request.span.end();
}
