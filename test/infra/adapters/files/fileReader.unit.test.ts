import test from 'ava';
import { isTimestamp } from '../../../../chain/record.ts';
import { linesReader } from '../../../../infra/adapters/files/fileReader.ts';
import type { RecordReader } from '../../../../verifier/reader.ts';

/** Stand-ins for record lines: the reader looks only at chain, seq and hash. */
function line(chain: string, seq: number): string {
  return JSON.stringify({ chain, seq, hash: seq.toString(16).padStart(64, '0') });
}

async function blocks(reader: RecordReader): Promise<Record<string, string[]>> {
  const result: Record<string, string[]> = {};
  for (const chain of await reader.chains()) {
    result[chain] = [];
    for await (const page of reader.pages(chain, 1, await reader.lastSeq(chain))) {
      result[chain].push(
        ...page.map((text) => {
          const { chain: c, seq } = JSON.parse(text) as { chain: string; seq: number };
          return `${c}/${seq}`;
        }),
      );
    }
  }
  return result;
}

test('a record of another chain spliced into a block is read as part of that block, so it is reported there', async (t) => {
  const reader = linesReader('test', [
    line('a', 1),
    line('a', 2),
    line('b', 1),
    line('b', 2),
    line('a', 2),
    line('b', 4),
  ]);
  t.deepEqual(await blocks(reader), { a: ['a/1', 'a/2'], b: ['b/1', 'b/2', 'a/2', 'b/4'] });
  t.is(await reader.hashAt('b', 3), undefined, 'a spliced record anchors nothing');
});

test('a record of a chain not seen yet, between two records of one block, is spliced in', async (t) => {
  const reader = linesReader('test', [line('a', 1), line('b', 1), line('a', 2)]);
  t.deepEqual(await blocks(reader), { a: ['a/1', 'b/1', 'a/2'] });
});

test('a chain of one record between two other chains is a block of its own', async (t) => {
  const reader = linesReader('test', [line('a', 1), line('b', 1), line('c', 1), line('c', 2)]);
  t.deepEqual(await blocks(reader), { a: ['a/1'], b: ['b/1'], c: ['c/1', 'c/2'] });
});

test('a record time must be a real instant, not just look like one', (t) => {
  t.true(isTimestamp('2028-02-29T23:59:59.999Z'));
  t.false(isTimestamp('2026-02-29T00:00:00.000Z'), 'no 29 February in 2026');
  t.false(isTimestamp('2026-11-31T10:00:00.000Z'));
  t.false(isTimestamp('2026-11-23T24:00:00.000Z'));
  t.false(isTimestamp('2026-11-23T10:00:00Z'), 'milliseconds are required');
});
