/**
 * The verifier's view of a JSON Lines file (`chainbook dump` output, golden
 * vectors): one JCS record per line, chains in contiguous blocks, seq order.
 * The file is held in memory (at most MAX_FILE_BYTES); the archive reader
 * streams instead.
 */
import { readFileSync } from 'node:fs';
import { CodedError } from '../../../domain/errors.ts';
import { HASH_PATTERN } from '../../../chain/record.ts';
import type { RecordReader } from '../../../verifier/reader.ts';

export const MAX_FILE_BYTES = 1024 * 1024 * 1024;
const PAGE_RECORDS = 1000;

interface Line {
  text: string;
  chain: string;
  /** The line's seq, or for a line that does not parse or is out of place, the seq it stands in for. */
  seq: number;
  hash: string | undefined;
}

interface LineFacts {
  chain: string | undefined;
  seq: number | undefined;
  hash: string | undefined;
}

function factsOf(text: string): LineFacts {
  try {
    const parsed = JSON.parse(text) as { chain?: unknown; seq?: unknown; hash?: unknown };
    return {
      chain: typeof parsed.chain === 'string' ? parsed.chain : undefined,
      seq: Number.isSafeInteger(parsed.seq) ? (parsed.seq as number) : undefined,
      hash: typeof parsed.hash === 'string' && HASH_PATTERN.test(parsed.hash) ? parsed.hash : undefined,
    };
  } catch {
    return { chain: undefined, seq: undefined, hash: undefined };
  }
}

/**
 * Assigns each line to a chain's block. A line naming another chain belongs
 * to the block it sits in (so the verifier reports it as wrong-chain there)
 * when its chain already had a block, or when the block it interrupts goes on
 * right after it: a chain's records are contiguous, so either way it was
 * spliced in. Any other line naming a new chain starts that chain's block.
 */
function index(texts: readonly string[]): Line[] {
  const facts = texts.map(factsOf);
  const closed = new Set<string>();
  let chain = '';
  let seq = 0;
  return texts.map((text, position) => {
    const line = facts[position]!;
    const named = line.chain;
    const stray = named !== undefined && named !== chain && (closed.has(named) || facts[position + 1]?.chain === chain);
    if (named !== undefined && named !== chain && !stray) {
      closed.add(chain);
      chain = named;
      seq = 0;
    }
    seq = !stray && line.seq !== undefined ? line.seq : seq + 1;
    return { text, chain, seq, hash: stray ? undefined : line.hash };
  });
}

export function readLinesText(text: string): string[] {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

export function linesReader(description: string, texts: readonly string[]): RecordReader {
  const lines = index(texts);
  const ofChain = (chain: string): Line[] => lines.filter((line) => line.chain === chain);
  return {
    description,
    chains: async () => [...new Set(lines.map((line) => line.chain))].sort(),
    async lastSeq(chain) {
      const mine = ofChain(chain);
      if (mine.length === 0)
        throw new CodedError('UNKNOWN_CHAIN', `chain ${JSON.stringify(chain)} is not in ${description}`, { chain });
      return mine[mine.length - 1]!.seq;
    },
    async *pages(chain, fromSeq, toSeq) {
      // By position: from the first line at or after fromSeq to the last at or
      // before toSeq, so swapped or repeated seqs are still read and reported.
      const mine = ofChain(chain);
      const start = mine.findIndex((line) => line.seq >= fromSeq);
      const end = mine.findLastIndex((line) => line.seq <= toSeq) + 1;
      for (let offset = Math.max(start, 0); start >= 0 && offset < end; offset += PAGE_RECORDS) {
        yield mine.slice(offset, Math.min(offset + PAGE_RECORDS, end)).map((line) => line.text);
      }
    },
    hashAt: async (chain, seq) => ofChain(chain).find((line) => line.seq === seq)?.hash,
    close: async () => undefined,
  };
}

/**
 * The lines of a file's bytes. A line that is not valid UTF-8 is not the text
 * of any record: decoding it with replacement characters could turn altered
 * bytes into a record's very text. It is served with a prefix that makes it
 * malformed (it does not parse), so the verifier reports it at its seq.
 */
export function readLinesBytes(bytes: Uint8Array): string[] {
  const strict = new TextDecoder('utf-8', { fatal: true });
  const lossy = new TextDecoder('utf-8');
  const lines: string[] = [];
  for (let start = 0; start < bytes.length;) {
    const end = bytes.indexOf(0x0a, start);
    const line = bytes.subarray(start, end < 0 ? bytes.length : end);
    try {
      lines.push(strict.decode(line));
    } catch {
      lines.push(`${NOT_UTF8_PREFIX}${lossy.decode(line)}`);
    }
    if (end < 0) break;
    start = end + 1;
  }
  return lines;
}

/** What a line that is not UTF-8 is served as, before its bytes decoded with replacement characters. */
export const NOT_UTF8_PREFIX = 'line is not valid UTF-8: ';

/** A file path, or `-` for standard input. */
export function fileReader(path: string): RecordReader {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path === '-' ? 0 : path);
  } catch (error) {
    throw new CodedError('SOURCE_UNREADABLE', `cannot read ${path}: ${(error as Error).message}`, { path });
  }
  if (bytes.length > MAX_FILE_BYTES) {
    throw new CodedError(
      'SOURCE_TOO_LARGE',
      `${path} is larger than ${MAX_FILE_BYTES} bytes; export an archive and verify that instead`,
      { path },
    );
  }
  return linesReader(path === '-' ? 'standard input' : `file ${path}`, readLinesBytes(bytes));
}
