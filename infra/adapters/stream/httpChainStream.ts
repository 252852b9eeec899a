/**
 * A consumer of another instance's GET /chain/stream (NDJSON): the records
 * from a seq on, each checked before it is given (docs/FORMAT.md sections 2
 * and 3): canonical form, its hash recomputed, the signature against the
 * signer registry, the next seq, and its prevHash the hash of the record
 * given before (the record before `fromSeq` anchors the first link when the
 * caller knows it). A record that fails is never given: the iterator throws
 * STREAM_DISCONTINUITY or STREAM_RECORD_INVALID with its seq, and so does an
 * error line the server sent. Bounded: a line longer than MAX_STREAM_LINE_BYTES
 * is refused, not buffered.
 *
 * What this does not check: session signers' delegations (docs/FORMAT.md
 * section 4b) are not followed, so a record signed by a session key is
 * refused (`unknown-signer`); embedded documents' signatures, stream versions
 * and duplicate ids, which need the chain before `fromSeq`, are
 * `chainbook audit-verify`'s.
 */
import { ChainContinuity } from '../../../chain/subscription.ts';
import type { SignerRegistry } from '../../../chain/registry.ts';
import type { StoredRecord } from '../../../chain/record.ts';
import { CodedError } from '../../../domain/errors.ts';
import { checkLine } from '../../../verifier/line.ts';
import { storedRecord } from '../sql/sqlEventStore.ts';

/** A record line is at most a few hundred KiB (chain/limits.ts); past this the stream is refused. */
export const MAX_STREAM_LINE_BYTES = 4 * 1024 * 1024;

export interface HttpChainStreamOptions {
  /** The API's origin, e.g. `http://127.0.0.1:8080`. */
  url: string;
  token: string;
  chain: string;
  fromSeq: number;
  /** The hash of record `fromSeq - 1`, when known: the first record must link to it. */
  anchorHash?: string | undefined;
  registry: SignerRegistry;
  signal?: AbortSignal | undefined;
}

function invalid(chain: string, seq: number, reason: string): CodedError {
  return new CodedError('STREAM_RECORD_INVALID', `chain ${chain} at seq ${seq}: ${reason}`, { chain, seq, reason });
}

/** Lines of a byte stream, without their newline, each at most MAX_STREAM_LINE_BYTES. */
async function* linesOf(body: AsyncIterable<Uint8Array>): AsyncGenerator<string, void, undefined> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let pending = '';
  for await (const chunk of body) {
    pending += decoder.decode(chunk, { stream: true });
    let newline = pending.indexOf('\n');
    while (newline >= 0) {
      yield pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      newline = pending.indexOf('\n');
    }
    if (pending.length > MAX_STREAM_LINE_BYTES)
      throw new CodedError(
        'STREAM_LINE_TOO_LONG',
        `a line of the stream is longer than ${MAX_STREAM_LINE_BYTES} bytes`,
      );
  }
  pending += decoder.decode();
  if (pending !== '') yield pending;
}

/**
 * Checks record lines one after the other as the next of `chain` from
 * `fromSeq` (canonical form, hash, signature, seq, link) and gives each as
 * stored; throws STREAM_RECORD_INVALID or STREAM_DISCONTINUITY with its seq.
 * Every consumer of the stream (this one, the Kafka one) checks through it.
 */
export function recordChecker(
  chain: string,
  fromSeq: number,
  anchorHash: string | undefined,
  registry: SignerRegistry,
): { (line: string): StoredRecord; readonly nextSeq: number } {
  const continuity = new ChainContinuity(chain, fromSeq, anchorHash);
  const check = (line: string): StoredRecord => {
    const checked = checkLine(line, registry);
    const seq = checked.ok ? checked.facts.seq : continuity.nextSeq;
    if (!checked.ok) throw invalid(chain, seq, checked.malformed);
    if (!checked.hashOk) throw invalid(chain, seq, 'its hash does not recompute from its payload and prevHash');
    if (!checked.signature.ok) throw invalid(chain, seq, `signature: ${checked.signature.message}`);
    const stored = storedRecord(line);
    const problem = continuity.problem(stored.record);
    if (problem !== undefined)
      throw new CodedError('STREAM_DISCONTINUITY', `chain ${chain} at seq ${seq}: ${problem}`, {
        chain,
        seq,
        reason: problem,
      });
    return stored;
  };
  return Object.defineProperty(check, 'nextSeq', { get: () => continuity.nextSeq }) as ReturnType<typeof recordChecker>;
}

export async function* readHttpChainStream(
  options: HttpChainStreamOptions,
): AsyncGenerator<StoredRecord, void, undefined> {
  const { chain, fromSeq } = options;
  const response = await fetch(`${options.url}/chain/stream?from=${fromSeq}&format=ndjson`, {
    headers: { authorization: `Bearer ${options.token}`, accept: 'application/x-ndjson' },
    redirect: 'error',
    ...(options.signal ? { signal: options.signal } : {}),
  });
  if (response.status !== 200 || response.body === null) {
    const text = (await response.text().catch(() => '')).slice(0, 500);
    throw new CodedError('STREAM_REFUSED', `GET /chain/stream answered ${response.status}: ${text}`, {
      status: response.status,
    });
  }
  const check = recordChecker(chain, fromSeq, options.anchorHash, options.registry);
  for await (const line of linesOf(response.body as unknown as AsyncIterable<Uint8Array>)) {
    if (line === '') continue; // a keep-alive
    if (line.startsWith('{"error":')) {
      const { error } = JSON.parse(line) as { error: { code: string; message: string; details: object } };
      throw new CodedError(error.code, `the stream's server: ${error.message}`, error.details as never);
    }
    yield check(line);
  }
}
