/**
 * The relay's position survives SIGKILL: a real child process relays a
 * PostgreSQL chain (positions and leases in that database) through the fake
 * producer, which writes each message it acknowledges to a file before the
 * send resolves; it is killed with SIGKILL mid-stream while appends go on,
 * and a second process resumes. The stored position was never ahead of what
 * was acknowledged, nothing after it is skipped, and the consumer's
 * deduplication by (chain, seq) gives every record exactly once, verified.
 * Integration with PostgreSQL and real processes only: no broker is
 * involved (the producer is fake; kafkaRelayContract.int.test.ts is the one
 * against a broker).
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { sqlRelayPositions } from '../../../../infra/adapters/sql/relayPositions.ts';
import { checkedKafkaRecords, type KafkaDelivery } from '../../../../infra/adapters/stream/kafkaChainStream.ts';
import { appendQuotes } from '../../../helpers/quotes.ts';
import type { ProducedMessage } from '../../../helpers/relays.ts';
import { testRuntime } from '../../../helpers/runtime.ts';

function relayProcess(url: string, file: string, delayMs: number, untilSeq?: number) {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'test/helpers/relayProcess.ts',
      url,
      file,
      String(delayMs),
      ...(untilSeq ? [String(untilSeq)] : []),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, output })),
  );
  return { child, exited };
}

function produced(file: string): ProducedMessage[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as ProducedMessage);
}

const seqOf = (message: ProducedMessage) => Number(message.headers['seq']);

test('a relay killed with SIGKILL resumes from its stored position: never ahead of the broker, nothing skipped', async (t) => {
  const runtime = await testRuntime(t, 'postgres');
  await appendQuotes(runtime.store, 0, 600);
  const file = join(runtime.dataDir, 'broker.jsonl');
  const positions = sqlRelayPositions(runtime.db);

  const first = relayProcess(runtime.test.location, file, 4);
  // Appends go on while it relays: the relay never holds them.
  const appending = appendQuotes(runtime.store, 600, 200, { perAppend: 20 });
  while (produced(file).length < 250) await new Promise((resolve) => setTimeout(resolve, 10));
  first.child.kill('SIGKILL');
  t.is((await first.exited).signal, 'SIGKILL');
  await appending;

  const beforeRestart = produced(file);
  const lastAcknowledged = Math.max(...beforeRestart.map(seqOf));
  const stored = (await positions.read('kafka:audit-events', 'main'))!;
  t.true(stored.seq >= 10, `the position moved while it ran (at ${stored.seq})`);
  t.true(stored.seq <= lastAcknowledged, `position ${stored.seq} never ahead of the broker (${lastAcknowledged})`);
  t.deepEqual(
    beforeRestart.map(seqOf),
    Array.from({ length: beforeRestart.length }, (_, i) => i + 1),
    'in order, none skipped',
  );
  const [atPosition] = await runtime.store.readChain('main', { fromSeq: stored.seq, toSeq: stored.seq });
  t.is(stored.hash, atPosition!.record.hash);

  // The killed process's lease lapses (15 s) unless released: the new one would wait. Its row says who held it.
  await runtime.db.query("UPDATE relay_positions SET lease_until = now() - interval '1 second'");
  const second = relayProcess(runtime.test.location, file, 0, 800);
  const { code, output } = await second.exited;
  t.is(code, 0);
  t.is(output.trim(), '800');

  const all = produced(file);
  const resent = all.slice(beforeRestart.length).map(seqOf);
  t.is(resent[0], stored.seq + 1, 'the second process starts right after the stored position');
  t.deepEqual(
    resent,
    Array.from({ length: 800 - stored.seq }, (_, i) => stored.seq + 1 + i),
  );

  async function* deliveries(): AsyncGenerator<KafkaDelivery> {
    for (const message of all)
      yield {
        value: Buffer.from(message.value),
        headers: Object.fromEntries(Object.entries(message.headers).map(([k, v]) => [k, Buffer.from(v)])),
      };
  }
  const consumed: number[] = [];
  let duplicates = 0;
  for await (const record of checkedKafkaRecords(deliveries(), {
    chain: 'main',
    fromSeq: 1,
    registry: runtime.registry,
    onDuplicate: () => (duplicates += 1),
  }))
    consumed.push(record.record.seq);
  t.deepEqual(
    consumed,
    Array.from({ length: 800 }, (_, i) => i + 1),
    'every record once, verified, after deduplication',
  );
  t.is(duplicates, lastAcknowledged - stored.seq);
  t.deepEqual(await positions.read('kafka:audit-events', 'main'), {
    seq: 800,
    hash: (await runtime.store.head('main')).hash,
  });
});
