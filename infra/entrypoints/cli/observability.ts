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
  // Nothing to trace or report in printing the version or the help.
  if (args.length === 0 || ['--version', '-V', '--help', '-h', 'help'].includes(args[0]!)) return undefined;
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
    close: () => (closing ??= closeWithin(CLOSE_TIMEOUT_MS, [tracing?.shutdown(), flushErrorReports()])),
  };
  return current;
}

let current: Observability | undefined;

/** How long a command's end waits for its spans and error reports to be sent: an unreachable collector does not hold it. */
const CLOSE_TIMEOUT_MS = 2500;

/** Waits for `sending` at most `timeoutMs`; a failure to send is a line on stderr, never the command's failure. */
async function closeWithin(timeoutMs: number, sending: readonly (Promise<unknown> | undefined)[]): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`not sent within ${timeoutMs} ms`), timeoutMs);
    timer.unref();
  });
  const sent = Promise.all(sending).then(
    () => undefined,
    (error: unknown) => (error instanceof Error ? error.message : String(error)),
  );
  const problem = await Promise.race([sent, late]);
  clearTimeout(timer);
  if (problem !== undefined) process.stderr.write(`chainbook: traces or error reports: ${problem}\n`);
}

/** For a command that ends the process itself (`serve`, `relay`): sends what is left first. */
export async function closeObservability(): Promise<void> {
  await current?.close();
}
