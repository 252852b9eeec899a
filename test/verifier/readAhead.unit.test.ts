/**
 * The verifier reads pages ahead of the one it checks (verifier/verify.ts,
 * checkPages). When it stops early, at a finding, nothing it started may go
 * on after it returned: no page is read from the source and none is handed to
 * the checker, whose workers the caller closes next (a check still pending
 * then rejects, unobserved).
 */
import test from 'ava';
import type { LineCheck } from '../../verifier/line.ts';
import type { LineChecker, RecordReader } from '../../verifier/reader.ts';
import { verify } from '../../verifier/verify.ts';

const PAGES = 20;
const PAGE_LINES = 10;
const READ_MS = 5;

function slowReader(onRead: () => void): RecordReader {
  return {
    description: 'slow pages',
    chains: async () => ['main'],
    lastSeq: async () => PAGES * PAGE_LINES,
    async *pages() {
      for (let page = 0; page < PAGES; page++) {
        await new Promise((resolve) => setTimeout(resolve, READ_MS));
        onRead();
        yield Array.from({ length: PAGE_LINES }, (_, index) => `not a record ${page * PAGE_LINES + index}`);
      }
    },
    hashAt: async () => undefined,
    close: async () => undefined,
  };
}

/** Every line malformed: the first line of the first page is a finding. Each check takes READ_MS. */
function countingChecker(onCheck: () => void, pending: { count: number }): LineChecker {
  return {
    check: async (lines) => {
      onCheck();
      pending.count++;
      await new Promise((resolve) => setTimeout(resolve, READ_MS));
      pending.count--;
      return lines.map((): LineCheck => ({ ok: false, malformed: 'not JSON' }));
    },
    learnDelegation: () => undefined,
    recheck: () => ({ ok: false, malformed: 'not JSON' }),
    isRegistered: () => false,
    documentSignatureProblem: () => undefined,
    close: async () => undefined,
  };
}

test('a verifier stopped at a finding reads no page and starts no check after it returned', async (t) => {
  let returned = false;
  let readsAfter = 0;
  let checksAfter = 0;
  const pending = { count: 0 };
  const report = await verify(
    slowReader(() => {
      if (returned) readsAfter++;
    }),
    countingChecker(() => {
      if (returned) checksAfter++;
    }, pending),
  );
  returned = true;
  t.is(pending.count, 0, 'every check started is settled when verify returns (the caller closes the checker next)');
  t.false(report.ok);
  t.is(report.finding?.seq, 1);
  await new Promise((resolve) => setTimeout(resolve, READ_MS * 10));
  t.is(readsAfter, 0, 'no page read after verify returned');
  t.is(checksAfter, 0, 'no check started after verify returned');
});
