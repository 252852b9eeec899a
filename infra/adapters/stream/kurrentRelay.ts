/**
 * The KurrentDB (formerly EventStoreDB) mirror: a RelaySink (relay.ts) that
 * appends each record of chain C to the stream `<prefix>C` (default prefix
 * `chainbook-`), seq N at the stream's revision N - 1, every append stating
 * the revision the stream must be at: NO_STREAM before seq 1, else the
 * revision of the record before the page. KurrentDB itself then refuses a
 * gap (the stream behind the page), a duplicate or a fork (the stream ahead
 * of it): WrongExpectedVersion.
 *
 * At least once, the relay may send again a page KurrentDB already holds
 * (killed after the append, before its position moved). On
 * WrongExpectedVersion the sink reads what the stream holds from the page's
 * first revision: the records it holds that are ours (same event id, the
 * record's id, and the same hash in the metadata) are taken as acknowledged
 * and the rest appended after them; anything else (another record at a
 * revision, or the stream behind the page) is RELAY_TARGET_DIVERGED, which
 * stops the relay: the mirror is not the chain, and someone must look.
 *
 * Each event's data is the record's exact JCS text: a JSON event when the
 * client's JSON.stringify gives those bytes back (it does for every record
 * whose data has no integer-like keys, which JavaScript would reorder), a
 * binary event of the same bytes otherwise. Its metadata is
 * `{chain, seq, hash}`; its type the record's type.
 */
import {
  binaryEvent,
  jsonEvent,
  KurrentDBClient,
  AccessDeniedError,
  NO_STREAM,
  StreamDeletedError,
  WrongExpectedVersionError,
  type EventData,
} from '@kurrent/kurrentdb-client';
import type { StoredRecord } from '../../../chain/record.ts';
import { CodedError } from '../../../domain/errors.ts';
import type { RelaySink } from './relay.ts';
import type { KurrentSettings } from './relaySettings.ts';

/** How long one append or read may take before it counts as failed (and is tried again by the relay). */
export const EVENTSTORE_DEADLINE_MS = 10_000;

/** What the sink needs of a KurrentDB client (a fake one in the unit tests). */
export type KurrentClient = Pick<KurrentDBClient, 'appendToStream' | 'readStream' | 'dispose'>;

/** The event of a record: its id, its type, its exact text, and `{chain, seq, hash}` as metadata. */
export function kurrentEvent(stored: StoredRecord): EventData {
  const { record, text } = stored;
  const metadata = { chain: record.chain, seq: record.seq, hash: record.hash };
  const parsed = JSON.parse(text) as Record<string, unknown>;
  if (JSON.stringify(parsed) === text) return jsonEvent({ id: record.id, type: record.type, data: parsed, metadata });
  return binaryEvent({ id: record.id, type: record.type, data: Buffer.from(text, 'utf8'), metadata });
}

function diverged(stream: string, seq: number, reason: string): CodedError {
  return new CodedError('RELAY_TARGET_DIVERGED', `KurrentDB stream ${stream} at seq ${seq}: ${reason}`, {
    stream,
    seq,
    reason,
  });
}

/** How many of `records` the stream already holds as they are; throws RELAY_TARGET_DIVERGED when it holds others. */
async function heldAlready(
  client: KurrentClient,
  stream: string,
  records: readonly StoredRecord[],
  actual: bigint | typeof NO_STREAM,
): Promise<number> {
  const first = records[0]!.record.seq;
  const lastRevision = actual === NO_STREAM ? -1 : Number(actual);
  if (lastRevision < first - 2)
    throw diverged(
      stream,
      first,
      `the stream ends at seq ${lastRevision + 1}, before the page: records are missing there (reset the relay with --from-seq ${lastRevision + 2})`,
    );
  let held = 0;
  for await (const resolved of client.readStream(stream, {
    fromRevision: BigInt(first - 1),
    maxCount: records.length,
    deadline: EVENTSTORE_DEADLINE_MS,
  })) {
    const event = resolved.event;
    const expected = records[held]!.record;
    const metadata = event?.metadata as { hash?: unknown } | undefined;
    if (event?.id !== expected.id || metadata?.hash !== expected.hash)
      throw diverged(
        stream,
        expected.seq,
        `the stream holds event ${event?.id ?? '(none)'} there, not record ${expected.id}`,
      );
    held += 1;
  }
  return held;
}

/** A RelaySink appending to `<prefix><chain>` with the expected revision of each page. */
export function kurrentSink(client: KurrentClient, streamPrefix: string): RelaySink {
  return {
    name: `eventstore:${streamPrefix.replace(/-+$/, '') || 'streams'}`,
    async send(records) {
      const stream = `${streamPrefix}${records[0]!.record.chain}`;
      let pending = records;
      // At most twice: a conflict is resolved by reading once, then the rest is appended where the stream ends.
      for (let attempt = 1; pending.length > 0; attempt += 1) {
        const first = pending[0]!.record.seq;
        try {
          await client.appendToStream(stream, pending.map(kurrentEvent), {
            streamState: first === 1 ? NO_STREAM : BigInt(first - 2),
            deadline: EVENTSTORE_DEADLINE_MS,
          });
          return;
        } catch (error) {
          if (error instanceof StreamDeletedError || error instanceof AccessDeniedError)
            // No retry cures a deleted (tombstoned) stream or a refused account: the relay stops and says so.
            throw new CodedError(
              'RELAY_TARGET_REFUSED',
              `KurrentDB refuses appends to ${stream} from seq ${first}: ${error.message}`,
              { stream, seq: first },
            );
          if (!(error instanceof WrongExpectedVersionError) || attempt > 1) throw error;
          const actual = error.actualState;
          pending = pending.slice(await heldAlready(client, stream, pending, actual));
        }
      }
    },
    close: () => client.dispose(),
  };
}

export function kurrentClient(settings: KurrentSettings): KurrentDBClient {
  return KurrentDBClient.connectionString(settings.connectionString);
}
