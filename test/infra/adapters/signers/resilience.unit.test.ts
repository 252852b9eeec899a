import test from 'ava';
import { CircuitBreaker, SignerUnavailableError, withRetry } from '../../../../infra/adapters/signers/resilience.ts';

test('the breaker opens after the threshold, refuses at once while open, and lets one trial through after openMs while others wait for it', async (t) => {
  let nowMs = 0;
  const breaker = new CircuitBreaker('test', { failureThreshold: 2, openMs: 1000 }, () => nowMs);
  const fail = () => Promise.reject(new Error('down'));
  await t.throwsAsync(breaker.run(fail), { message: 'down' });
  t.is(breaker.state, 'closed');
  await t.throwsAsync(breaker.run(fail), { message: 'down' });
  t.is(breaker.state, 'open');
  let calls = 0;
  await t.throwsAsync(
    breaker.run(async () => ++calls),
    { instanceOf: SignerUnavailableError, message: /circuit open/ },
  );
  t.is(calls, 0);
  nowMs = 1000;
  let release: () => void = () => undefined;
  const trial = breaker.run(() => new Promise<number>((resolve) => (release = () => resolve(++calls))));
  const waiting = breaker.run(async () => ++calls);
  await Promise.resolve();
  t.is(calls, 0, 'the second call waits for the trial');
  release();
  t.deepEqual(await Promise.all([trial, waiting]), [1, 2]);
  t.is(breaker.state, 'closed');
});

test('a failed trial opens the circuit again and fails the calls that waited', async (t) => {
  let nowMs = 0;
  const breaker = new CircuitBreaker('test', { failureThreshold: 1, openMs: 100 }, () => nowMs);
  await t.throwsAsync(breaker.run(() => Promise.reject(new Error('down'))));
  nowMs = 100;
  const trial = breaker.run(() => Promise.reject(new Error('still down')));
  const waiting = breaker.run(async () => 'never');
  await t.throwsAsync(trial, { message: 'still down' });
  await t.throwsAsync(waiting, { message: /circuit open/ });
  t.is(breaker.state, 'open');
});

test('withRetry stops at maxAttempts and does not retry what is not retryable', async (t) => {
  let attempts = 0;
  const policy = { maxAttempts: 4, baseDelayMs: 1, maxDelayMs: 2 };
  await t.throwsAsync(
    withRetry(
      policy,
      () => true,
      async () => {
        attempts += 1;
        throw new Error('x');
      },
    ),
  );
  t.is(attempts, 4);
  attempts = 0;
  await t.throwsAsync(
    withRetry(
      policy,
      () => false,
      async () => {
        attempts += 1;
        throw new Error('x');
      },
    ),
  );
  t.is(attempts, 1);
  t.is(
    await withRetry(
      policy,
      () => true,
      async (attempt) => {
        if (attempt < 3) throw new Error('x');
        return attempt;
      },
    ),
    3,
  );
});
