/**
 * What keeps a remote signer from hurting the writer when it is slow or down
 * (docs/SIGNING.md, "Fail closed"): a timeout on every call, a bounded number
 * of retries with exponential backoff for errors worth retrying (throttling,
 * timeouts, 5xx), and a circuit breaker that fails calls at once while the
 * backend is known to be down instead of letting them pile up.
 */
import { CodedError } from '../../../domain/errors.ts';

export interface RetryPolicy {
  /** Attempts per call, the first included. */
  maxAttempts: number;
  /** Delay before the second attempt; doubles each time, with full jitter. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 3, baseDelayMs: 25, maxDelayMs: 400 };

export interface BreakerPolicy {
  /** Consecutive failed calls that open the circuit. */
  failureThreshold: number;
  /** How long an open circuit refuses calls before letting one trial through. */
  openMs: number;
}

export const DEFAULT_BREAKER: BreakerPolicy = { failureThreshold: 5, openMs: 5000 };

export class SignerUnavailableError extends CodedError {
  /** Whether another attempt may succeed (throttling, timeout, a 5xx). */
  readonly retryable: boolean;
  readonly reason: string;
  constructor(message: string, reason: string, retryable: boolean, details: Record<string, unknown> = {}) {
    super('SIGNING_UNAVAILABLE', message, { reason, ...details });
    this.retryable = retryable;
    this.reason = reason;
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs `attempt` until it succeeds, fails for good, or the policy's attempts are spent. */
export async function withRetry<T>(
  policy: RetryPolicy,
  isRetryable: (error: unknown) => boolean,
  attempt: (attemptNumber: number) => Promise<T>,
): Promise<T> {
  for (let attemptNumber = 1; ; attemptNumber++) {
    try {
      return await attempt(attemptNumber);
    } catch (error) {
      if (attemptNumber >= policy.maxAttempts || !isRetryable(error)) throw error;
      const ceilingMs = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attemptNumber - 1));
      await delay(Math.random() * ceilingMs);
    }
  }
}

type BreakerState = { name: 'closed'; failures: number } | { name: 'open'; untilMs: number } | { name: 'half-open' };

/**
 * Closed: calls go through; `failureThreshold` consecutive failures open it.
 * Open: calls fail at once with SIGNING_UNAVAILABLE (reason circuit-open)
 * until `openMs` have passed. Then one trial call goes through (half-open)
 * while the others wait for it: success closes the circuit and lets them
 * through, failure opens it again and fails them.
 */
export class CircuitBreaker {
  readonly #policy: BreakerPolicy;
  readonly #nowMs: () => number;
  readonly #name: string;
  #state: BreakerState = { name: 'closed', failures: 0 };
  /** Settles when the half-open trial call does. */
  #trial: Promise<void> = Promise.resolve();

  constructor(name: string, policy: BreakerPolicy = DEFAULT_BREAKER, nowMs: () => number = Date.now) {
    this.#name = name;
    this.#policy = policy;
    this.#nowMs = nowMs;
  }

  get state(): BreakerState['name'] {
    if (this.#state.name === 'open' && this.#nowMs() >= this.#state.untilMs) return 'half-open';
    return this.#state.name;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    // Calls arriving during the trial wait for its outcome instead of failing:
    // a whole group-commit batch then goes through once the backend is back.
    if (this.#state.name === 'half-open') await this.#trial;
    const state = this.#state;
    if (state.name === 'half-open' || (state.name === 'open' && this.#nowMs() < state.untilMs)) {
      throw new SignerUnavailableError(
        `${this.#name} is failing; calls are refused for up to ${this.#policy.openMs} ms (circuit open)`,
        'circuit-open',
        false,
      );
    }
    if (state.name === 'closed') return this.#observe(work);
    this.#state = { name: 'half-open' };
    const trial = this.#observe(work);
    this.#trial = trial.then(
      () => undefined,
      () => undefined,
    );
    return trial;
  }

  async #observe<T>(work: () => Promise<T>): Promise<T> {
    try {
      const result = await work();
      this.#state = { name: 'closed', failures: 0 };
      return result;
    } catch (error) {
      this.#recordFailure();
      throw error;
    }
  }

  #recordFailure(): void {
    const state = this.#state;
    const failures = state.name === 'closed' ? state.failures + 1 : this.#policy.failureThreshold;
    this.#state =
      failures >= this.#policy.failureThreshold
        ? { name: 'open', untilMs: this.#nowMs() + this.#policy.openMs }
        : { name: 'closed', failures };
  }
}

/** Rejects with a retryable timeout when `work` has not settled within `timeoutMs` (for calls that take no AbortSignal). */
export async function withTimeout<T>(work: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new SignerUnavailableError(`${what} did not answer within ${timeoutMs} ms`, 'timeout', true)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
