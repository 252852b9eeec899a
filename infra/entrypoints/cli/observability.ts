/**
 * Tracing (OTEL_COLLECTOR_URL) and error reporting (SENTRY_DSN) for a CLI
 * run, each started only when its variable is set, and its SDK imported only
 * then: `chainbook --version` loads neither. A command that runs and ends is
 * one span, `cli <command>`, with its work (chain appends, proofs, export)
 * below it; the long-running ones (`serve`, `signing-proxy`, `witness`,
 * `relay`, `index`, `export --every`) have no span of their own, so that each
 * request or run begins its own trace.
 */
import { UsageError } from './io.ts';
import { VERSION } from '../../wiring/version.ts';

const LONG_RUNNING: ReadonlySet<string> = new Set(['serve', 'signing-proxy', 'witness', 'relay', 'index']);

export interface Observability {
  /** Runs the command, in its span when there is one. */
  run<T>(work: () => Promise<T>): Promise<T>;
  /** Sends what is left (spans, error reports) and stops. */
  close(): Promise<void>;
}

function isLongRunning(args: readonly string[]): boolean {
  return LONG_RUNNING.has(args[0] ?? '') || (args[0] === 'export' && args.some((arg) => arg.startsWith('--every')));
}

export async function startObservability(
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<Observability | undefined> {
  const collectorUrl = env['OTEL_COLLECTOR_URL'] || undefined;
  const dsn = env['SENTRY_DSN'] || undefined;
  if (collectorUrl === undefined && dsn === undefined) return undefined;
  if (dsn !== undefined) {
    if (!URL.canParse(dsn)) throw new UsageError('SENTRY_DSN must be a DSN URL (https://<key>@<host>/<project>)');
    const { startErrorReporting } = await import('../errorReporting.ts');
    await startErrorReporting(dsn, { environment: env['NODE_ENV'] || 'development', release: `chainbook@${VERSION}` });
  }
  const { startTracing } =
    collectorUrl === undefined ? { startTracing: undefined } : await import('../../adapters/tracing.ts');
  let tracing: Awaited<ReturnType<NonNullable<typeof startTracing>>>;
  try {
    tracing = startTracing?.({ collectorUrl, serviceName: env['OTEL_SERVICE_NAME'] || 'chainbook' });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const { traced } = await import('../../../chain/tracing.ts');
  const { flushErrorReports } = await import('../errorReporting.ts');
  const command = args.find((arg) => !arg.startsWith('-')) ?? 'chainbook';
  let closing: Promise<void> | undefined;
  current = {
    run: (work) =>
      tracing && !isLongRunning(args) ? traced(`cli ${command}`, { 'chainbook.command': command }, work) : work(),
    close: () => (closing ??= Promise.all([tracing?.shutdown(), flushErrorReports()]).then(() => undefined)),
  };
  return current;
}

let current: Observability | undefined;

/** For a command that ends the process itself (`serve`, `relay`): sends what is left first. */
export async function closeObservability(): Promise<void> {
  await current?.close();
}
