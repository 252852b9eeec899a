/**
 * Reading a payment provider's balance report (docs/FORMAT.md section 12),
 * streamed: bytes arrive in chunks, are hashed (SHA-256 of the report as
 * received), cut into lines and checked one at a time, so memory does not
 * grow with the report except for one table of the transaction ids seen (8
 * bytes of hash and 4 of line number per id). A bad line stops the read with
 * REPORT_INVALID naming the line and why; nothing is recorded then.
 */
import { createHash } from 'node:crypto';
import { CodedError } from '../../domain/errors.ts';
import { ID_PATTERN } from '../../domain/ids.ts';
import { isKnownCurrency, MAX_AMOUNT_MINOR } from '../../domain/money.ts';
import type { ReportLine } from '../../domain/reconciliation/lineClassifier.ts';
import { REPORT_LINE_TYPES, type ReportLineType } from '../../domain/reconciliation/reconciliationEvents.ts';

/** Bytes of one report (a larger one is refused whole: split it by period). */
export const MAX_REPORT_BYTES = 128 * 1024 * 1024;
/** Lines of data in one report. */
export const MAX_REPORT_LINES = 2_000_000;
/** Bytes of one line. */
export const MAX_REPORT_LINE_BYTES = 4096;

export const REPORT_FORMATS = ['csv', 'jsonl'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

/** The CSV columns, in any order; `fee` may be left out (0). */
export const CSV_COLUMNS = ['id', 'type', 'amount', 'fee', 'currency', 'created', 'reference'] as const;
const REQUIRED_COLUMNS = ['id', 'type', 'amount', 'currency', 'created'] as const;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z$/;
const DIGITS = /^\d{1,15}$/;

function invalid(line: number, why: string): CodedError {
  return new CodedError('REPORT_INVALID', `report line ${line}: ${why}`, { line, problem: why });
}

/** Transaction ids seen so far: open addressing over two 32-bit FNV-1a hashes, doubling up to the line bound. */
class SeenIds {
  private hashes = new Uint32Array(2 * 65_536);
  private lines = new Uint32Array(65_536);
  private size = 0;

  /** The line that already had this id, or 0 after remembering it at `line`. */
  firstLineOf(id: string, line: number): number {
    if ((this.size + 1) * 2 > this.lines.length) this.grow();
    let a = 0x811c9dc5;
    let b = 0x01000193 ^ id.length;
    for (let index = 0; index < id.length; index++) {
      const code = id.charCodeAt(index);
      a = Math.imul(a ^ code, 0x01000193) >>> 0;
      b = Math.imul(b ^ code, 0x5bd1e995) >>> 0;
    }
    const mask = this.lines.length - 1;
    for (let slot = a & mask; ; slot = (slot + 1) & mask) {
      const seenLine = this.lines[slot]!;
      if (seenLine === 0) {
        this.hashes[2 * slot] = a;
        this.hashes[2 * slot + 1] = b;
        this.lines[slot] = line;
        this.size += 1;
        return 0;
      }
      if (this.hashes[2 * slot] === a && this.hashes[2 * slot + 1] === b) return seenLine;
    }
  }

  private grow(): void {
    const { hashes, lines } = this;
    this.hashes = new Uint32Array(hashes.length * 2);
    this.lines = new Uint32Array(lines.length * 2);
    const mask = this.lines.length - 1;
    for (let old = 0; old < lines.length; old++) {
      if (lines[old] === 0) continue;
      let slot = hashes[2 * old]! & mask;
      while (this.lines[slot] !== 0) slot = (slot + 1) & mask;
      this.hashes[2 * slot] = hashes[2 * old]!;
      this.hashes[2 * slot + 1] = hashes[2 * old + 1]!;
      this.lines[slot] = lines[old]!;
    }
  }
}

interface RawLine {
  id: unknown;
  type: unknown;
  amount: unknown;
  fee: unknown;
  currency: unknown;
  created: unknown;
  reference: unknown;
}

function amountOf(value: unknown, line: number, what: string, optional: boolean): number {
  if (optional && (value === undefined || value === null || value === '')) return 0;
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text !== 'string' || !DIGITS.test(text) || Number(text) > MAX_AMOUNT_MINOR)
    throw invalid(
      line,
      `${what} must be a whole number of minor units from 0 to ${MAX_AMOUNT_MINOR} (got ${JSON.stringify(value)})`,
    );
  return Number(text);
}

function checkedLine(raw: RawLine, line: number): ReportLine {
  const { id, type, created, reference } = raw;
  if (typeof id !== 'string' || !ID_PATTERN.test(id)) throw invalid(line, `id must match ${ID_PATTERN.source}`);
  if (typeof type !== 'string' || !(REPORT_LINE_TYPES as readonly string[]).includes(type))
    throw invalid(line, `unknown type ${JSON.stringify(type)}: one of ${REPORT_LINE_TYPES.join(', ')}`);
  const amountMinor = amountOf(raw.amount, line, 'amount', false);
  if (amountMinor === 0) throw invalid(line, 'amount must be positive');
  const currency = typeof raw.currency === 'string' ? raw.currency.toUpperCase() : '';
  if (!isKnownCurrency(currency))
    throw invalid(line, `currency ${JSON.stringify(raw.currency)} is not an ISO 4217 code of traded money`);
  if (typeof created !== 'string' || !TIMESTAMP.test(created) || Number.isNaN(Date.parse(created)))
    throw invalid(
      line,
      `created must be an RFC 3339 UTC time like 2025-11-01T09:30:00Z (got ${JSON.stringify(created)})`,
    );
  const given = reference === undefined || reference === null || reference === '' ? null : reference;
  if (given !== null && (typeof given !== 'string' || !ID_PATTERN.test(given)))
    throw invalid(line, `reference must match ${ID_PATTERN.source}`);
  return {
    line,
    transactionId: id,
    type: type as ReportLineType,
    amountMinor,
    currency,
    createdAt: created,
    reference: given,
    feeMinor: amountOf(raw.fee, line, 'fee', true),
  };
}

/** One CSV line's fields (RFC 4180 quoting within a line; a quoted field does not span lines). */
function csvFields(text: string, line: number): string[] {
  const fields: string[] = [];
  let index = 0;
  for (;;) {
    if (text[index] === '"') {
      let value = '';
      index += 1;
      for (;;) {
        const quote = text.indexOf('"', index);
        if (quote < 0) throw invalid(line, 'a quoted field is not closed on its line');
        value += text.slice(index, quote);
        index = quote + 1;
        if (text[index] !== '"') break;
        value += '"';
        index += 1;
      }
      fields.push(value);
      if (index === text.length) return fields;
      if (text[index] !== ',') throw invalid(line, 'a quoted field must be followed by a comma');
      index += 1;
    } else {
      const comma = text.indexOf(',', index);
      fields.push(comma < 0 ? text.slice(index) : text.slice(index, comma));
      if (comma < 0) return fields;
      index = comma + 1;
    }
  }
}

function csvHeader(text: string): string[] {
  const columns = csvFields(text.replace(/^\uFEFF/, ''), 1).map((column) => column.trim().toLowerCase());
  const missing = REQUIRED_COLUMNS.filter((column) => !columns.includes(column));
  if (missing.length > 0) throw invalid(1, `the header lacks the column(s) ${missing.join(', ')}`);
  const unknown = columns.filter((column) => !(CSV_COLUMNS as readonly string[]).includes(column));
  if (unknown.length > 0)
    throw invalid(1, `unknown column(s) ${unknown.join(', ')}: the columns are ${CSV_COLUMNS.join(', ')}`);
  if (new Set(columns).size !== columns.length) throw invalid(1, 'a column appears twice');
  return columns;
}

function rawOf(format: ReportFormat, text: string, line: number, columns: readonly string[]): RawLine {
  if (format === 'csv') {
    const fields = csvFields(text, line);
    if (fields.length !== columns.length)
      throw invalid(line, `${fields.length} fields where the header has ${columns.length}`);
    return Object.fromEntries(columns.map((column, index) => [column, fields[index]])) as unknown as RawLine;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw invalid(line, 'not a JSON object');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw invalid(line, 'not a JSON object');
  const unknown = Object.keys(parsed).filter((key) => !(CSV_COLUMNS as readonly string[]).includes(key));
  if (unknown.length > 0) throw invalid(line, `unknown field(s) ${unknown.join(', ')}`);
  return parsed as RawLine;
}

export interface ReportDigest {
  sha256: string;
  bytes: number;
  lines: number;
}

/**
 * The report's lines, checked, in order; `digest` is filled in when the
 * last chunk has been read. Line numbers are the file's (a CSV's header is
 * line 1); blank lines are skipped.
 */
export async function* reportLines(
  chunks: AsyncIterable<Uint8Array | string>,
  format: ReportFormat,
  digest: Partial<ReportDigest>,
): AsyncGenerator<ReportLine> {
  const hash = createHash('sha256');
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const seen = new SeenIds();
  let columns: string[] | undefined;
  let pending = '';
  let bytes = 0;
  let fileLine = 0;
  let dataLines = 0;
  function* take(text: string): Generator<ReportLine> {
    fileLine += 1;
    if (Buffer.byteLength(text) > MAX_REPORT_LINE_BYTES)
      throw invalid(fileLine, `longer than ${MAX_REPORT_LINE_BYTES} bytes`);
    // Blank lines count too: a report of newlines is bounded like any other.
    if (fileLine > MAX_REPORT_LINES + 1)
      throw new CodedError('REPORT_TOO_LARGE', `a report has at most ${MAX_REPORT_LINES} lines: split it by period`, {
        maxLines: MAX_REPORT_LINES,
      });
    const trimmed = text.endsWith('\r') ? text.slice(0, -1) : text;
    if (trimmed.trim() === '') return;
    if (format === 'csv' && columns === undefined) {
      columns = csvHeader(trimmed);
      return;
    }
    dataLines += 1;
    const line = checkedLine(rawOf(format, trimmed, fileLine, columns ?? []), fileLine);
    const first = seen.firstLineOf(line.transactionId, fileLine);
    if (first !== 0) throw invalid(fileLine, `transaction id ${line.transactionId} repeats the one of line ${first}`);
    yield line;
  }
  for await (const chunk of chunks) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    bytes += buffer.length;
    if (bytes > MAX_REPORT_BYTES)
      throw new CodedError('REPORT_TOO_LARGE', `a report has at most ${MAX_REPORT_BYTES} bytes: split it by period`, {
        maxBytes: MAX_REPORT_BYTES,
      });
    hash.update(buffer);
    let text: string;
    try {
      text = decoder.decode(buffer, { stream: true });
    } catch {
      throw invalid(fileLine + 1, 'not UTF-8');
    }
    pending += text;
    let newline = pending.indexOf('\n');
    let start = 0;
    while (newline >= 0) {
      yield* take(pending.slice(start, newline));
      start = newline + 1;
      newline = pending.indexOf('\n', start);
    }
    pending = pending.slice(start);
    if (Buffer.byteLength(pending) > MAX_REPORT_LINE_BYTES)
      throw invalid(fileLine + 1, `longer than ${MAX_REPORT_LINE_BYTES} bytes`);
  }
  if (pending !== '') yield* take(pending);
  if (format === 'csv' && columns === undefined)
    throw invalid(1, 'the report is empty: a CSV report starts with its header');
  digest.sha256 = hash.digest('hex');
  digest.bytes = bytes;
  digest.lines = dataLines;
}
