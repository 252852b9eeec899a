/**
 * The indexer's other source: the audit topic the Kafka relay produces to
 * (kafkaRelay.ts). Delivery is at least once, so the same record may come
 * again (a relay restarted before it stored its position, a replay from a
 * seq, the consumer group's offsets behind the index): a record of a seq
 * already taken is dropped, deduplicated by (chain, seq), once its hash,
 * recomputed from its text, is the one taken (a copy that differs stops the
 * indexer: STREAM_RECORD_INVALID). Every other record
 * is checked as the HTTP stream's are (recordChecker: canonical form, hash,
 * signature, next seq, link) before it is given; a seq that skips ahead is a
 * lost record, reported as STREAM_DISCONTINUITY at the seq that was next.
 * Records of other chains in the topic are passed over.
 */
import type { Consumer, IHeaders } from 'kafkajs';
import type { SignerRegistry } from '../../../chain/registry.ts';
import { hashPayload } from '../../../chain/hash.ts';
import { payloadOf, type StoredRecord } from '../../../chain/record.ts';
import { CodedError } from '../../../domain/errors.ts';
import { storedRecord } from '../sql/sqlEventStore.ts';
import { recordChecker } from './httpChainStream.ts';

/** One message of the topic, as kafkajs gives it. */
export interface KafkaDelivery {
  value: Buffer | null;
  headers?: IHeaders | undefined;
}

export interface KafkaRecordsOptions {
  chain: string;
  /** The first seq wanted; those below are duplicates. */
  fromSeq: number;
  /** The hash of record `fromSeq - 1`, when known: the first record must link to it. */
  anchorHash?: string | undefined;
  registry: SignerRegistry;
  /**
   * The hash of the record already taken at `seq` (the indexer's row). A
   * copy of a seq below `fromSeq`, or taken in this reading, is dropped only
   * when its recomputed hash is that one; a copy that differs is a finding.
   */
  indexedHash?: ((seq: number) => Promise<string | undefined>) | undefined;
  /** Called for each record dropped as a duplicate. */
  onDuplicate?: ((seq: number) => void) | undefined;
}

function header(headers: IHeaders | undefined, name: string): string | undefined {
  const value = headers?.[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined ? undefined : first.toString();
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A copy of a record already taken must be that record: its hash, recomputed from its text, the one taken. */
function sameAsTaken(chain: string, seq: number, text: string, takenHash: string): void {
  let hash: string | undefined;
  try {
    const { record } = storedRecord(text);
    if (record.chain === chain && record.seq === seq)
      hash = hashPayload(payloadOf(record), record.prevHash).hash.toString('hex');
  } catch {
    hash = undefined;
  }
  if (hash !== takenHash)
    throw new CodedError(
      'STREAM_RECORD_INVALID',
      `chain ${chain} at seq ${seq}: a copy of a record already indexed differs from it (${hash === undefined ? 'not a record of that seq' : `hash ${hash}`}, indexed ${takenHash})`,
      { chain, seq, reason: 'copy differs from the indexed record' },
    );
}

/** The records of `chain` from `fromSeq` on, deduplicated and checked, from the topic's messages in order. */
export async function* checkedKafkaRecords(
  messages: AsyncIterable<KafkaDelivery>,
  options: KafkaRecordsOptions,
): AsyncGenerator<StoredRecord, void, undefined> {
  const { chain } = options;
  const check = recordChecker(chain, options.fromSeq, options.anchorHash, options.registry);
  for await (const message of messages) {
    if (header(message.headers, 'chain') !== chain) continue;
    const seq = Number(header(message.headers, 'seq'));
    if (!Number.isSafeInteger(seq) || message.value === null)
      throw new CodedError(
        'STREAM_RECORD_INVALID',
        `chain ${chain} at seq ${check.nextSeq}: a message without a seq header or a value`,
        { chain, seq: check.nextSeq, reason: 'message without seq or value' },
      );
    let text: string;
    try {
      text = utf8.decode(message.value);
    } catch {
      throw new CodedError('STREAM_RECORD_INVALID', `chain ${chain} at seq ${seq}: not UTF-8`, {
        chain,
        seq,
        reason: 'not UTF-8',
      });
    }
    if (seq < check.nextSeq) {
      const taken = options.indexedHash ? await options.indexedHash(seq) : undefined;
      if (taken !== undefined) sameAsTaken(chain, seq, text, taken);
      options.onDuplicate?.(seq);
      continue;
    }
    // A header that lies about the seq is caught here: the record's own seq must be the next one.
    yield check(text);
  }
}

/**
 * The topic's messages through a kafkajs consumer of the indexer's group,
 * one at a time: a message is handed over only when the one before was
 * taken and processed (kafkajs commits its offset after that), so at most
 * one is held; one given but not processed when the reading stops is
 * failed back to kafkajs, so its offset is not committed. Reads from the beginning when the group has no offsets.
 * Ends when the signal aborts; throws when the consumer crashes.
 */
export async function* kafkaDeliveries(
  consumer: Consumer,
  topic: string,
  signal: AbortSignal,
): AsyncGenerator<KafkaDelivery, void, undefined> {
  const waiting: { message: KafkaDelivery; taken: () => void; dropped: (error: Error) => void }[] = [];
  let current: (typeof waiting)[number] | undefined;
  let wake: (() => void) | undefined;
  let crashed: Error | undefined;
  const nudge = () => {
    wake?.();
    wake = undefined;
  };
  signal.addEventListener('abort', nudge, { once: true });
  const stopCrashListener = consumer.on(consumer.events.CRASH, (event) => {
    crashed = event.payload.error;
    nudge();
  });
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: ({ message }) =>
        new Promise<void>((taken, dropped) => {
          waiting.push({ message: { value: message.value, headers: message.headers }, taken, dropped });
          nudge();
        }),
    });
    while (!signal.aborted) {
      if (crashed) throw crashed;
      const next = waiting.shift();
      if (next === undefined) {
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      current = next;
      yield next.message;
      current = undefined;
      next.taken();
    }
  } finally {
    signal.removeEventListener('abort', nudge);
    stopCrashListener();
    // Not processed: kafkajs must not commit their offsets, so they come again (and are deduplicated then).
    const stopped = new Error('the indexer stopped before this message was indexed');
    for (const left of [...(current ? [current] : []), ...waiting.splice(0)]) left.dropped(stopped);
    await consumer.disconnect();
  }
}
