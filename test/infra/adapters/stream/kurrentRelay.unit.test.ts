/**
 * The KurrentDB mirror's own logic, with an in-process fake client that
 * keeps streams and enforces the expected revision as the server does
 * (unit: no server, no database): where each record goes, a page sent again
 * after a restart, and the gap, duplicate and fork that the expected
 * revision turns into refusals. The same code against a real server:
 * kurrentRelay.contract.int.test.ts.
 */
import test from 'ava';
import {
  AccessDeniedError,
  NO_STREAM,
  StreamDeletedError,
  WrongExpectedVersionError,
  type EventData,
} from '@kurrent/kurrentdb-client';
import type { StoredRecord } from '../../../../chain/record.ts';
import { kurrentEvent, kurrentSink, type KurrentClient } from '../../../../infra/adapters/stream/kurrentRelay.ts';
import { runRelay } from '../../../../infra/adapters/stream/relay.ts';
import { happyMain, memoryPositions, memoryStore, pollingWakeups } from '../../../helpers/relays.ts';

const records = happyMain();

interface Kept {
  id: string;
  type: string;
  revision: bigint;
  contentType: string;
  data: unknown;
  metadata: unknown;
}

/** Streams in memory; an append whose expected state is not the stream's is refused with WrongExpectedVersion. */
function fakeKurrent() {
  const streams = new Map<string, Kept[]>();
  const fake = {
    streams,
    appends: 0,
    failNext: 0,
    async appendToStream(stream: string, events: EventData | EventData[], options?: { streamState?: unknown }) {
      fake.appends += 1;
      if (fake.failNext > 0) {
        fake.failNext -= 1;
        throw new Error('14 UNAVAILABLE: No connection established');
      }
      const kept = streams.get(stream);
      const current = kept === undefined ? NO_STREAM : BigInt(kept.length - 1);
      if (options?.streamState !== current)
        throw new WrongExpectedVersionError(undefined, {
          streamName: stream,
          expected: options?.streamState as bigint,
          current,
        });
      const list = kept ?? [];
      for (const event of [events].flat())
        list.push({
          id: event.id,
          type: event.type,
          revision: BigInt(list.length),
          contentType: event.contentType,
          data: event.data,
          metadata: event.metadata,
        });
      streams.set(stream, list);
      return { success: true, nextExpectedRevision: BigInt(list.length - 1) };
    },
    async *readStream(stream: string, options?: { fromRevision?: unknown; maxCount?: number | bigint }) {
      const from = Number(options?.fromRevision ?? 0n);
      for (const event of (streams.get(stream) ?? []).slice(from, from + Number(options?.maxCount ?? 1e9)))
        yield { event };
    },
    dispose: async () => undefined,
  };
  return fake;
}

function relay(client: ReturnType<typeof fakeKurrent>, overrides: Partial<Parameters<typeof runRelay>[0]> = {}) {
  return runRelay({
    store: memoryStore(records),
    wakeups: pollingWakeups,
    positions: memoryPositions(),
    sink: kurrentSink(client as unknown as KurrentClient, 'chainbook-'),
    chain: 'main',
    signal: new AbortController().signal,
    pageRecords: 5,
    pollMs: 20,
    retryFirstMs: 5,
    retryMaxMs: 20,
    untilSeq: 20,
    ...overrides,
  });
}

const textOf = (kept: Kept) =>
  kept.contentType === 'application/json' ? JSON.stringify(kept.data) : String(kept.data);

test('seq N of chain main is event revision N - 1 of stream chainbook-main: its id, type, exact text and {chain, seq, hash}', async (t) => {
  const client = fakeKurrent();
  t.deepEqual(await relay(client), { lastSeq: 20 });
  const kept = client.streams.get('chainbook-main')!;
  t.is(kept.length, 20);
  kept.forEach((event, index) => {
    const { record, text } = records[index]!;
    t.is(event.revision, BigInt(record.seq - 1));
    t.is(event.id, record.id);
    t.is(event.type, record.type);
    t.is(textOf(event), text, 'the exact JCS text');
    t.deepEqual(event.metadata, { chain: 'main', seq: record.seq, hash: record.hash });
  });
  t.is(client.appends, 4, 'a page per append, each stating the revision before it');
});

test('a page the stream already holds (sent again after a restart) is taken as acknowledged; the rest goes after it, once', async (t) => {
  const client = fakeKurrent();
  const positions = memoryPositions();
  await relay(client, { positions, untilSeq: 10 });
  // Killed after KurrentDB took 11..15 and before the position moved: the mirror is ahead of the position.
  await client.appendToStream('chainbook-main', records.slice(10, 13).map(kurrentEvent), { streamState: 9n });
  t.deepEqual(await relay(client, { positions }), { lastSeq: 20 });
  t.deepEqual(
    client.streams.get('chainbook-main')!.map((event) => event.id),
    records.map((stored) => stored.record.id),
    'each record once, in order',
  );
});

test('a fork (another event at a revision) or a gap (the stream behind the page) stops the mirror with the seq', async (t) => {
  const forked = fakeKurrent();
  await relay(forked, { untilSeq: 5 });
  forked.streams
    .get('chainbook-main')!
    .push({ ...forked.streams.get('chainbook-main')![0]!, id: 'other', revision: 5n });
  await t.throwsAsync(relay(forked), {
    code: 'RELAY_TARGET_DIVERGED',
    message: /chainbook-main at seq 6: the stream holds event other there, not record/,
  });

  const behind = fakeKurrent();
  const positions = memoryPositions();
  await positions.reset('eventstore:chainbook', 'main', { seq: 8, hash: records[7]!.record.hash });
  await behind.appendToStream('chainbook-main', records.slice(0, 3).map(kurrentEvent), { streamState: NO_STREAM });
  await t.throwsAsync(relay(behind, { positions }), {
    code: 'RELAY_TARGET_DIVERGED',
    message:
      /at seq 9: the stream ends at seq 3, before the page: records are missing there \(reset the relay with --from-seq 4\)/,
  });
  t.is(behind.streams.get('chainbook-main')!.length, 3, 'nothing appended past the gap');
});

test('an append that fails is tried again until the server takes it', async (t) => {
  const client = fakeKurrent();
  client.failNext = 2;
  t.deepEqual(await relay(client), { lastSeq: 20 });
  t.is(client.streams.get('chainbook-main')!.length, 20);
  t.is(client.appends, 6);
});

test('a record whose text JSON.stringify would not give back is a binary event of its exact bytes', (t) => {
  const text =
    '{"chain":"main","data":{"10":1,"9":2},"id":"0e3c9b2e-8a5e-4b4a-9d55-3a1c2f0e9b11","seq":1,"type":"quote.recorded"}';
  const stored = { record: JSON.parse(text), text } as StoredRecord;
  const event = kurrentEvent(stored);
  t.is(event.contentType, 'application/octet-stream');
  t.is(Buffer.from(event.data as Uint8Array).toString('utf8'), text);
  t.is(kurrentEvent(records[0]!).contentType, 'application/json');
});

test('a deleted stream or a refused account stops the mirror (RELAY_TARGET_REFUSED) instead of retrying forever', async (t) => {
  for (const refusal of [StreamDeletedError.fromStreamName('chainbook-main'), new AccessDeniedError()]) {
    const client = fakeKurrent();
    client.appendToStream = async () => {
      client.appends += 1;
      throw refusal;
    };
    await t.throwsAsync(relay(client), { code: 'RELAY_TARGET_REFUSED', message: /chainbook-main from seq 1/ });
    t.is(client.appends, 1, 'not tried again');
  }
});
