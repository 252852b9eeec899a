/**
 * The OpenTelemetry SDK (@opentelemetry/sdk-node) behind chain/tracing.ts:
 * started when OTEL_COLLECTOR_URL is set, it records the spans of HTTP
 * requests, commands and the chain (canonicalize, hash, sign, append),
 * proofs, export and reconciliation, and sends them over OTLP/HTTP to
 * `<OTEL_COLLECTOR_URL>/v1/traces`. W3C trace context (traceparent) is the
 * propagator. Unset, nothing is started and chain/tracing.ts does nothing.
 *
 * Tests start it with span processors of their own (the SDK's in-memory
 * exporter) instead of a collector.
 */
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { NodeSDK, tracing } from '@opentelemetry/sdk-node';
import { setTracingEnabled } from '../../chain/tracing.ts';

/** One export to the collector, its retries included: an unreachable collector holds a command's end no longer. */
export const EXPORT_TIMEOUT_MS = 2000;

export interface TracingOptions {
  /** The collector's base URL (OTEL_COLLECTOR_URL), e.g. http://otel-collector:4318. */
  collectorUrl?: string | undefined;
  serviceName?: string | undefined;
  /** Span processors of the caller's own (tests: a SimpleSpanProcessor over an InMemorySpanExporter). */
  spanProcessors?: tracing.SpanProcessor[] | undefined;
}

export interface Tracing {
  /** Sends what is left and stops recording. */
  shutdown(): Promise<void>;
}

/** Where OTLP/HTTP traces go for a collector's base URL (a URL that already names /v1/traces is kept). */
export function collectorTracesUrl(base: string): string {
  if (!/^https?:\/\//.test(base) || !URL.canParse(base))
    throw new Error(`OTEL_COLLECTOR_URL must be an http:// or https:// URL (got ${JSON.stringify(base)})`);
  return /\/v1\/traces\/?$/.test(base) ? base : `${base.replace(/\/+$/, '')}/v1/traces`;
}

/** Starts the SDK when there is somewhere to send spans; undefined (nothing started) otherwise. */
export function startTracing(options: TracingOptions): Tracing | undefined {
  const processors = [...(options.spanProcessors ?? [])];
  if (options.collectorUrl !== undefined && options.collectorUrl !== '')
    processors.push(
      new tracing.BatchSpanProcessor(
        new OTLPTraceExporter({ url: collectorTracesUrl(options.collectorUrl), timeoutMillis: EXPORT_TIMEOUT_MS }),
      ),
    );
  if (processors.length === 0) return undefined;
  const sdk = new NodeSDK({
    serviceName: options.serviceName ?? 'chainbook',
    spanProcessors: processors,
    instrumentations: [],
  });
  sdk.start();
  setTracingEnabled(true);
  return {
    async shutdown() {
      setTracingEnabled(false);
      await sdk.shutdown();
    },
  };
}
