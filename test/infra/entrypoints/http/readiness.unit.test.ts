/**
 * The cached checks of /ready (infra/entrypoints/http/readiness.ts): a burst of
 * probes runs a costly check (yara, an S3 write) once, not once per request.
 */
import test from 'ava';
import { cachedCheck, READY_CACHE_MS } from '../../../../infra/entrypoints/http/readiness.ts';

test('concurrent probes share one run of a cached check, and its verdict is reused for READY_CACHE_MS', async (t) => {
  let runs = 0;
  const check = cachedCheck(async () => {
    runs += 1;
    await new Promise((resolve) => setTimeout(resolve, 50));
    return { ok: true };
  }, 'a slow check');
  const answers = await Promise.all(Array.from({ length: 20 }, () => check()));
  t.true(answers.every((answer) => answer.ok));
  t.is(runs, 1, 'one run for the burst');
  await check();
  t.is(runs, 1, `reused within ${READY_CACHE_MS} ms`);
});

test('a failing cached check answers not ok with its message and does not stay running', async (t) => {
  let runs = 0;
  const check = cachedCheck(async () => {
    runs += 1;
    throw new Error('store down');
  }, 'the store');
  const [first, second] = await Promise.all([check(), check()]);
  t.deepEqual(first, { ok: false, message: 'the store: store down' });
  t.deepEqual(second, first);
  t.is(runs, 1);
});
