/**
 * Sorted runs of text lines kept outside memory, and their merge: how the
 * verifier checks more ids and stream versions than its memory budget holds
 * (verifier/seenRecords.ts). The runs live wherever the caller's SpillArea
 * puts them (infra/adapters/files/spillFolder.ts: a temporary folder).
 */

/** One run: lines in the order they were written. */
export interface SpillRun {
  lines(): AsyncIterable<string>;
  remove(): Promise<void>;
}

/** Where runs are written. Lines never contain a line feed. */
export interface SpillArea {
  write(lines: Iterable<string> | AsyncIterable<string>): Promise<SpillRun>;
  /** Removes every run still there. */
  close(): Promise<void>;
}

/** Runs merged at once; more are merged in rounds, so open files stay bounded. */
export const MAX_MERGE_FAN_IN = 32;

interface Source {
  iterator: AsyncIterator<string>;
  line: string;
}

/** Restores the heap order below `index` (the smallest line at the root). */
function siftDown(heap: Source[], index: number): void {
  for (;;) {
    const left = 2 * index + 1;
    const right = left + 1;
    let smallest = index;
    if (left < heap.length && heap[left]!.line < heap[smallest]!.line) smallest = left;
    if (right < heap.length && heap[right]!.line < heap[smallest]!.line) smallest = right;
    if (smallest === index) return;
    [heap[index], heap[smallest]] = [heap[smallest]!, heap[index]!];
    index = smallest;
  }
}

/** The lines of sorted runs in one sorted sequence (code-unit order, as Array.prototype.sort). */
async function* mergeRuns(runs: readonly SpillRun[]): AsyncGenerator<string> {
  const heap: Source[] = [];
  try {
    for (const run of runs) {
      const iterator = run.lines()[Symbol.asyncIterator]();
      const first = await iterator.next();
      if (first.done) continue;
      heap.push({ iterator, line: first.value });
    }
    for (let index = Math.floor(heap.length / 2) - 1; index >= 0; index--) siftDown(heap, index);
    while (heap.length > 0) {
      const top = heap[0]!;
      yield top.line;
      const next = await top.iterator.next();
      if (next.done) {
        heap[0] = heap[heap.length - 1]!;
        heap.pop();
      } else top.line = next.value;
      siftDown(heap, 0);
    }
  } finally {
    await Promise.allSettled(heap.map((source) => source.iterator.return?.()));
  }
}

/** Every line of `runs` in sorted order, merging at most MAX_MERGE_FAN_IN runs at once; the runs are removed. */
export async function* mergedLines(area: SpillArea, runs: readonly SpillRun[]): AsyncGenerator<string> {
  let pending = [...runs];
  while (pending.length > MAX_MERGE_FAN_IN) {
    const round = pending.slice(0, MAX_MERGE_FAN_IN);
    const merged = await area.write(mergeRuns(round));
    await Promise.all(round.map((run) => run.remove()));
    pending = [...pending.slice(MAX_MERGE_FAN_IN), merged];
  }
  try {
    yield* mergeRuns(pending);
  } finally {
    await Promise.all(pending.map((run) => run.remove()));
  }
}
