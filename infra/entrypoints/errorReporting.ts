/**
 * Unexpected errors to Sentry (SENTRY_DSN): answers 500 of the HTTP API,
 * runs of long-running loops that failed (`export --every`, relays), and
 * commands that ended on an error that is not one of ours. Expected
 * rejections (every CodedError: 4xx, SIGNING_UNAVAILABLE, …) are not
 * reported.
 *
 * What is sent is the error, its stack and the few tags given (request id,
 * trace id, route pattern, method, command): never a request body, header,
 * cookie or query string. The SDK runs without its default integrations (no
 * request data, breadcrumbs, local variables or module hooks), and
 * `scrubEvent`, its beforeSend, removes them again should anything add them,
 * and cuts query strings and bearer tokens out of every message.
 *
 * @sentry/node is imported only when SENTRY_DSN is set.
 */
import type { ErrorEvent } from '@sentry/node';
import { TOKEN_PREFIX } from './http/auth/tokens.ts';

export interface ErrorContext {
  requestId?: string | undefined;
  traceId?: string | undefined;
  route?: string | undefined;
  method?: string | undefined;
  command?: string | undefined;
}

type Capture = (error: unknown, context: ErrorContext) => void;

let capture: Capture | undefined;
let flush: ((timeoutMs: number) => Promise<boolean>) | undefined;

/** Credentials in text: an Authorization value, one of our API tokens, a query string. */
const SECRETS: readonly (readonly [RegExp, string])[] = [
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, '$1 [scrubbed]'],
  [new RegExp(`${TOKEN_PREFIX}[A-Za-z0-9_-]{20,}`, 'g'), '[scrubbed token]'],
  [/\?[^\s"'#]+/g, '?[scrubbed]'],
];

export function scrubText(text: string): string {
  return SECRETS.reduce((scrubbed, [pattern, replacement]) => scrubbed.replace(pattern, replacement), text);
}

/** beforeSend: what leaves the process carries no request data, header, cookie, query string or token. */
export function scrubEvent(event: ErrorEvent): ErrorEvent {
  if (event.request) {
    const url = event.request.url === undefined ? undefined : event.request.url.split('?')[0];
    event.request = {
      ...(url === undefined ? {} : { url }),
      ...(event.request.method ? { method: event.request.method } : {}),
    };
  }
  delete event.breadcrumbs;
  delete event.user;
  if (event.message !== undefined) event.message = scrubText(event.message);
  for (const exception of event.exception?.values ?? []) {
    if (exception.value !== undefined) exception.value = scrubText(exception.value);
    for (const frame of exception.stacktrace?.frames ?? []) delete frame.vars;
  }
  delete event.extra;
  return event;
}

/** Starts reporting to `dsn`; idempotent per process. */
export async function startErrorReporting(
  dsn: string,
  options: { environment: string; release: string },
): Promise<void> {
  if (capture) return;
  const Sentry = await import('@sentry/node');
  Sentry.init({
    dsn,
    environment: options.environment,
    release: options.release,
    defaultIntegrations: false,
    integrations: [],
    enableRuntimeChannelInjection: false,
    includeLocalVariables: false,
    beforeSend: scrubEvent,
    beforeBreadcrumb: () => null,
  });
  capture = (error, context) => {
    Sentry.withScope((scope) => {
      for (const [key, value] of Object.entries(context)) if (value !== undefined) scope.setTag(key, value);
      Sentry.captureException(error);
    });
  };
  flush = (timeoutMs) => Sentry.flush(timeoutMs);
}

/** Reports an unexpected error; nothing when SENTRY_DSN is unset. */
export function reportError(error: unknown, context: ErrorContext = {}): void {
  capture?.(error, context);
}

/** Waits (at most `timeoutMs`) for reported errors to be sent: before a process exits. */
export async function flushErrorReports(timeoutMs = 2000): Promise<void> {
  await flush?.(timeoutMs);
}
