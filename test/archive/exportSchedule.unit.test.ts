import test from 'ava';
import { runExportSchedule } from '../../archive/exportSchedule.ts';

/** A schedule of `outcomes` (ok, integrity failure, thrown error) with no pause between runs. */
async function schedule(outcomes: ('ok' | 'bad' | 'error')[]): Promise<{ result: boolean; ran: number }> {
  let ran = 0;
  const result = await runExportSchedule({
    intervalMs: 0,
    runs: outcomes.length,
    runOnce() {
      const outcome = outcomes[ran++];
      if (outcome === 'error') return Promise.reject(new Error('target unreachable'));
      return Promise.resolve({ ok: outcome === 'ok' });
    },
    onReport() {},
    isFatal: () => false,
    onError() {},
    signal: new AbortController().signal,
    nowMs: Date.now,
  });
  return { result, ran };
}

test('a bounded schedule whose every run failed with an error fails (cron sees it)', async (t) => {
  t.deepEqual(await schedule(['error']), { result: false, ran: 1 });
  t.deepEqual(await schedule(['error', 'error', 'error']), { result: false, ran: 3 });
});

test('a run that succeeds after failed ones leaves the archive current: the schedule succeeds', async (t) => {
  t.deepEqual(await schedule(['error', 'ok']), { result: true, ran: 2 });
  t.deepEqual(await schedule(['ok', 'ok']), { result: true, ran: 2 });
});

test('a failure after a success is what the schedule ends on', async (t) => {
  t.deepEqual(await schedule(['ok', 'error']), { result: false, ran: 2 });
});

test('an integrity failure stops the schedule at once', async (t) => {
  t.deepEqual(await schedule(['ok', 'bad', 'ok']), { result: false, ran: 2 });
});

test('a schedule stopped before its first run did not export: it fails', async (t) => {
  const stopped = new AbortController();
  stopped.abort();
  const result = await runExportSchedule({
    intervalMs: 0,
    runs: Number.POSITIVE_INFINITY,
    runOnce: () => Promise.resolve({ ok: true }),
    onReport() {},
    isFatal: () => false,
    onError() {},
    signal: stopped.signal,
    nowMs: Date.now,
  });
  t.false(result);
});
