/**
 * One remote signing call as every backend makes it: through the circuit
 * breaker, with bounded retries, timed into kms_sign_latency_seconds and
 * counted into kms_errors_total when it fails.
 */
import { signErrorsTotal, signLatencySeconds } from '../metrics.ts';
import {
  CircuitBreaker,
  DEFAULT_BREAKER,
  DEFAULT_RETRY,
  SignerUnavailableError,
  withRetry,
  type BreakerPolicy,
  type RetryPolicy,
} from './resilience.ts';

export type SigningBackendName = 'kms' | 'pkcs11' | 'proxy';

export interface RemoteCallOptions {
  /** Per attempt. */
  timeoutMs?: number;
  retry?: RetryPolicy;
  breaker?: BreakerPolicy;
}

/** Default time one attempt may take before it counts as failed and is retried. */
export const DEFAULT_SIGN_TIMEOUT_MS = 2000;

export interface RemoteCaller {
  readonly breaker: CircuitBreaker;
  readonly timeoutMs: number;
  call<T>(attempt: (timeoutMs: number) => Promise<T>): Promise<T>;
}

function reasonOf(error: unknown): string {
  if (error instanceof SignerUnavailableError) return error.reason;
  return 'unavailable';
}

export function remoteCaller(
  backend: SigningBackendName,
  isRetryable: (error: unknown) => boolean,
  options: RemoteCallOptions = {},
): RemoteCaller {
  const breaker = new CircuitBreaker(`signing backend ${backend}`, options.breaker ?? DEFAULT_BREAKER);
  const retry = options.retry ?? DEFAULT_RETRY;
  const timeoutMs = options.timeoutMs ?? DEFAULT_SIGN_TIMEOUT_MS;
  return {
    breaker,
    timeoutMs,
    async call(attempt) {
      const stop = signLatencySeconds.startTimer({ backend });
      try {
        const result = await breaker.run(() =>
          withRetry(retry, isRetryable, async () => {
            try {
              return await attempt(timeoutMs);
            } catch (error) {
              signErrorsTotal.inc({ backend, reason: reasonOf(error) });
              throw error;
            }
          }),
        );
        stop();
        return result;
      } catch (error) {
        if (reasonOf(error) === 'circuit-open') signErrorsTotal.inc({ backend, reason: 'circuit-open' });
        throw error;
      }
    },
  };
}
