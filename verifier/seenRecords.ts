/**
 * What audit-verify remembers from one record to the next for the checks of
 * docs/FORMAT.md section 5 that look back: each stream's last version (per
 * chain) and every event id (across chains). Kept in memory while it fits a
 * budget, ids at 16 bytes each (UuidSet); past the budget, what is held is
 * written out, later records are buffered and written as sorted runs to a
 * spill area, and the two checks are made by merging the runs: stream
 * versions at the end of each chain, ids at the end of the run. Each finding
 * found so is the one the in-memory check would have made at the same seq;
 * verify() puts it in chain order with the findings made on the way.
 *
 * Without a budget everything stays in memory, as before.
 */
import { mergedLines, type SpillArea, type SpillRun } from './spill.ts';
import { UuidSet, uuidHex } from './uuidSet.ts';

export interface Bookkeeping {
  /** Memory for ids, stream versions and the buffers before a spill, in bytes. */
  budgetBytes: number;
  spill: SpillArea;
}

/** A finding of check 5 or 6 made by merging spilled runs. */
export interface DeferredFinding {
  chainIndex: number;
  seq: number;
  reason: 'stream-version-gap' | 'duplicate-id';
  message: string;
}

/** V8's cost of a Map entry besides its key's characters (hash table slots, string header, number). */
const STREAM_ENTRY_BYTES = 80;
/** V8's cost of a buffered line besides its characters (array slot, string header). */
const LINE_BYTES = 40;
const SEQ_DIGITS = 16;
const CHAIN_INDEX_DIGITS = 6;

const pad = (value: number, digits: number): string => String(value).padStart(digits, '0');

/** Sorted by stream, then seq: a stream's entries are contiguous, in chain order. `a` is a version held when the spill began. */
function streamLine(stream: string, seq: number, kind: 'a' | 'r', version: number): string {
  return `${JSON.stringify(stream)}\t${pad(seq, SEQ_DIGITS)}\t${kind}${version}`;
}

/** Sorted by id, then chain order; ids held when the spill began sort first. The id's own text ends the line, for the message. */
function idLine(hex: string, chainIndex: number, seq: number, id: string): string {
  return `${hex}\t${pad(chainIndex, CHAIN_INDEX_DIGITS)}${pad(seq, SEQ_DIGITS)}\t${id}`;
}
const HELD_ID_ORDER = '0'.repeat(CHAIN_INDEX_DIGITS + SEQ_DIGITS);

class LineBuffer {
  lines: string[] = [];
  bytes = 0;
  runs: SpillRun[] = [];

  add(line: string): void {
    this.lines.push(line);
    this.bytes += line.length + LINE_BYTES;
  }

  async flush(spill: SpillArea): Promise<void> {
    if (this.lines.length === 0) return;
    const lines = this.lines.sort();
    this.lines = [];
    this.bytes = 0;
    this.runs.push(await spill.write(lines));
  }

  /** Flushes what is buffered and hands over every run. */
  async take(spill: SpillArea): Promise<SpillRun[]> {
    await this.flush(spill);
    const runs = this.runs;
    this.runs = [];
    return runs;
  }
}

export class SeenRecords {
  readonly #bookkeeping: Bookkeeping | undefined;
  #ids = new UuidSet();
  #streams = new Map<string, number>();
  #streamBytes = 0;
  #chainIndex = 0;
  #fromSeq = 1;
  /** Set once memory would pass the budget: from then on records are buffered and merged at the end. */
  #spilling = false;
  /** What was held in memory when the spill began, not written yet. */
  #heldToWrite = false;
  readonly #idLines = new LineBuffer();
  readonly #streamLines = new LineBuffer();
  #peakBytes = 0;

  constructor(bookkeeping?: Bookkeeping) {
    this.#bookkeeping = bookkeeping;
  }

  /** Whether records went to the spill area. */
  get spilled(): boolean {
    return this.#spilling;
  }

  /** The most the bookkeeping held in memory at once, by its own count, in bytes. */
  get peakBytes(): number {
    return this.#peakBytes;
  }

  startChain(chainIndex: number, fromSeq: number): void {
    this.#chainIndex = chainIndex;
    this.#fromSeq = fromSeq;
    this.#streams = new Map();
    this.#streamBytes = 0;
  }

  /** Check 5 for a record: a message when its version does not follow its stream's; undefined when it does or is left to the merge. */
  version(stream: string, version: number, seq: number): string | undefined {
    if (this.#spilling) {
      this.#streamLines.add(streamLine(stream, seq, 'r', version));
      return undefined;
    }
    const previous = this.#streams.get(stream);
    this.#streams.set(stream, version);
    if (previous === undefined) {
      this.#streamBytes += STREAM_ENTRY_BYTES + stream.length;
      this.#spillPastBudget(this.#ids.sizeBytes);
    }
    return versionProblem(stream, previous, version, this.#fromSeq);
  }

  /** Check 6 for a record: false when its id was seen before; true when not or left to the merge. */
  id(id: string, seq: number): boolean {
    this.#spillPastBudget(this.#ids.sizeBytesOnNextAdd);
    if (this.#spilling) {
      this.#idLines.add(idLine(uuidHex(id), this.#chainIndex, seq, id));
      return true;
    }
    return this.#ids.add(id);
  }

  /** Called between pages: writes what the budget no longer holds. */
  async settle(): Promise<void> {
    const spill = this.#bookkeeping?.spill;
    if (!spill || !this.#spilling) return;
    if (this.#heldToWrite) await this.#writeHeld(spill);
    const buffered = this.#idLines.bytes + this.#streamLines.bytes;
    this.#peakBytes = Math.max(this.#peakBytes, buffered);
    // Half the budget, so that the records of one more page (added between two calls) fit the other half.
    if (buffered < this.#bookkeeping.budgetBytes / 2) return;
    await this.#idLines.flush(spill);
    await this.#streamLines.flush(spill);
  }

  /** The first stream-version finding of the chain left to the merge, once the chain's records were given. */
  async endChain(): Promise<DeferredFinding | undefined> {
    const spill = this.#bookkeeping?.spill;
    if (!spill || !this.#spilling) return undefined;
    await this.settle();
    const runs = await this.#streamLines.take(spill);
    let first: DeferredFinding | undefined;
    let stream: string | undefined;
    let previous: number | undefined;
    let failed = false;
    for await (const line of mergedLines(spill, runs)) {
      const [name, seqText, entry] = line.split('\t') as [string, string, string];
      if (name !== stream) [stream, previous, failed] = [name, undefined, false];
      if (failed) continue;
      const version = Number(entry.slice(1));
      const seq = Number(seqText);
      const problem =
        entry[0] === 'a' ? undefined : versionProblem(JSON.parse(name) as string, previous, version, this.#fromSeq);
      previous = version;
      if (!problem) continue;
      failed = true;
      if (!first || seq < first.seq)
        first = { chainIndex: this.#chainIndex, seq, reason: 'stream-version-gap', message: problem };
    }
    return first;
  }

  /** The first duplicate id left to the merge, in chain order, once every chain's records were given. */
  async end(): Promise<DeferredFinding | undefined> {
    const spill = this.#bookkeeping?.spill;
    if (!spill || !this.#spilling) return undefined;
    await this.settle();
    const runs = await this.#idLines.take(spill);
    let first: { order: string; finding: DeferredFinding } | undefined;
    let previousHex: string | undefined;
    for await (const line of mergedLines(spill, runs)) {
      const [hex, order, id] = line.split('\t') as [string, string, string];
      if (hex !== previousHex) {
        previousHex = hex;
        continue;
      }
      if (first && first.order <= order) continue;
      first = {
        order,
        finding: {
          chainIndex: Number(order.slice(0, CHAIN_INDEX_DIGITS)),
          seq: Number(order.slice(CHAIN_INDEX_DIGITS)),
          reason: 'duplicate-id',
          message: `event id ${id} appears twice`,
        },
      };
    }
    return first?.finding;
  }

  async close(): Promise<void> {
    await this.#bookkeeping?.spill.close();
  }

  /**
   * Starts spilling when holding `idBytes` of ids and the streams would pass
   * half the budget: the other half holds their lines while they are written.
   */
  #spillPastBudget(idBytes: number): void {
    if (this.#spilling || !this.#bookkeeping) return;
    const bytes = idBytes + this.#streamBytes;
    if (bytes <= this.#bookkeeping.budgetBytes / 2) {
      this.#peakBytes = Math.max(this.#peakBytes, bytes);
      return;
    }
    this.#spilling = true;
    this.#heldToWrite = true;
  }

  /**
   * Writes the ids and versions held in memory as runs of at most half the
   * budget each, and lets them go. Held versions take seq 0: they sort before
   * every record of their stream read after them.
   */
  async #writeHeld(spill: SpillArea): Promise<void> {
    this.#heldToWrite = false;
    const half = this.#bookkeeping!.budgetBytes / 2;
    const buffered = [this.#idLines.lines, this.#streamLines.lines];
    [this.#idLines.lines, this.#streamLines.lines, this.#idLines.bytes, this.#streamLines.bytes] = [[], [], 0, 0];
    for (const hex of this.#ids.hexKeys()) {
      this.#idLines.add(`${hex}\t${HELD_ID_ORDER}\t`);
      if (this.#idLines.bytes >= half) await this.#idLines.flush(spill);
    }
    await this.#idLines.flush(spill);
    this.#ids = new UuidSet();
    for (const [stream, version] of this.#streams) {
      this.#streamLines.add(streamLine(stream, 0, 'a', version));
      if (this.#streamLines.bytes >= half) await this.#streamLines.flush(spill);
    }
    await this.#streamLines.flush(spill);
    this.#streams = new Map();
    this.#streamBytes = 0;
    // The records buffered since the spill began (at most a page).
    for (const line of buffered[0]!) this.#idLines.add(line);
    for (const line of buffered[1]!) this.#streamLines.add(line);
  }
}

/** Check 5 given the stream's previous version (undefined: none seen). A range starting after seq 1 cannot know a stream's earlier versions: its first one is taken as is. */
function versionProblem(
  stream: string,
  previous: number | undefined,
  version: number,
  fromSeq: number,
): string | undefined {
  if (previous === undefined)
    return version === 1 || fromSeq > 1 ? undefined : `stream ${stream} starts at version ${version}, not 1`;
  return version === previous + 1 ? undefined : `stream ${stream} goes from version ${previous} to ${version}`;
}
