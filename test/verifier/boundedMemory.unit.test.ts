/**
 * audit-verify under a memory budget (verifier/seenRecords.ts): past it the
 * ids and stream versions go to sorted runs and checks 5 and 6 are made by a
 * merge, with the very report the in-memory check gives: same verdict, same
 * finding at the same seq, same summaries and break-glass list.
 */
import test from 'ava';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateAppend, type AppendEventInput } from '../../chain/input.ts';
import { parseRegistryText } from '../../chain/registry.ts';
import { ZERO_HASH, type ChainHead } from '../../chain/record.ts';
import { attachSignatures, sealBatch } from '../../chain/seal.ts';
import { inProcessChecker } from '../../verifier/inProcessChecker.ts';
import { SeenRecords } from '../../verifier/seenRecords.ts';
import { mergedLines, MAX_MERGE_FAN_IN, type SpillArea, type SpillRun } from '../../verifier/spill.ts';
import { verify, type VerifyOptions, type VerifyReport } from '../../verifier/verify.ts';
import { linesReader, readLinesText } from '../../infra/adapters/files/fileReader.ts';
import { spillFolder } from '../../infra/adapters/files/spillFolder.ts';
import { createKeySigner } from '../../infra/adapters/signers/local.ts';
import { KEY_V1 } from '../vectors/chains.ts';
import { VECTORS_DIRECTORY, type IndexEntry } from '../vectors/generate.ts';
import { INDEX_FILE } from '../vectors/generate.ts';

/** A spill area in memory, counting its runs. */
function memorySpill(): SpillArea & { written: number; held: () => number } {
  const runs = new Set<string[]>();
  const area = {
    written: 0,
    held: () => runs.size,
    async write(lines: Iterable<string> | AsyncIterable<string>): Promise<SpillRun> {
      const stored: string[] = [];
      for await (const line of lines) stored.push(line);
      runs.add(stored);
      area.written += 1;
      return {
        lines: async function* () {
          yield* stored;
        },
        remove: async () => void runs.delete(stored),
      };
    },
    close: async () => runs.clear(),
  };
  return area;
}

/** The UuidSet's first table is 69,632 bytes: budgets around it spill at once or after a few streams. */
const BUDGETS = [1, 2 * 69_632 + 2 * 5 * 90, 2 * 69_632 + 2 * 40 * 90];

function withoutTime(report: VerifyReport): Omit<VerifyReport, 'elapsedMs'> {
  const { elapsedMs: _elapsedMs, ...rest } = report;
  return rest;
}

async function bothWays(
  t: { deepEqual: (a: unknown, b: unknown, message?: string) => void; true: (a: boolean, m?: string) => void },
  name: string,
  lines: readonly string[],
  signers: string,
  options: VerifyOptions,
): Promise<VerifyReport> {
  const registry = parseRegistryText(signers);
  const inMemory = await verify(linesReader(name, lines), inProcessChecker(registry), options);
  for (const budgetBytes of BUDGETS) {
    const spill = memorySpill();
    const bounded = await verify(linesReader(name, lines), inProcessChecker(registry), {
      ...options,
      bookkeeping: { budgetBytes, spill },
    });
    t.deepEqual(withoutTime(bounded), withoutTime(inMemory), `${name} with a budget of ${budgetBytes} bytes`);
    t.true(spill.held() === 0, 'every run is removed');
  }
  return inMemory;
}

const index = (JSON.parse(readFileSync(join(VECTORS_DIRECTORY, INDEX_FILE), 'utf8')) as { cases: IndexEntry[] }).cases;

test('every golden vector gives the in-memory report when the budget forces a spill', async (t) => {
  for (const entry of index) {
    const lines = readLinesText(readFileSync(join(VECTORS_DIRECTORY, entry.records), 'utf8'));
    const signers = readFileSync(join(VECTORS_DIRECTORY, entry.signers), 'utf8');
    const options: VerifyOptions = { reportBreakglass: true };
    for (let at = 0; at < entry.args.length; at += 2) {
      const value = entry.args[at + 1]!;
      if (entry.args[at] === '--limit') options.limit = Number(value);
      if (entry.args[at] === '--from') options.fromSeq = Number(value);
      if (entry.args[at] === '--prev-hash') options.prevHash = value;
      if (entry.args[at] === '--chain') options.chains = [value];
    }
    const report = await bothWays(t, entry.name, lines, signers, options);
    t.deepEqual(report.finding?.reason ?? null, entry.expected.finding?.reason ?? null, entry.name);
  }
});

const SIGNERS = readFileSync(join(VECTORS_DIRECTORY, 'cases', 'happy', 'signers.json'), 'utf8');
const TS = '2026-06-01T00:00:00.000Z';
const RECORDS_PER_CHAIN = 700;
const EVENTS_PER_BATCH = 100;

interface Spec {
  stream: string;
  version: number;
  id: string;
}

const uuid = (n: number): string => `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;

/** Each record its own stream (a hostile number of streams), but every tenth on `cart-<n % 7>`, versions in order. */
function specs(chainNumber: number): Spec[] {
  const versions = new Map<string, number>();
  return Array.from({ length: RECORDS_PER_CHAIN }, (_, offset) => {
    const stream = offset % 10 === 0 ? `cart-${offset % 7}` : `order-${chainNumber}-${offset}`;
    const version = (versions.get(stream) ?? 0) + 1;
    versions.set(stream, version);
    return { stream, version, id: uuid(chainNumber * 1_000_000 + offset) };
  });
}

/** The chain as the writer seals and signs it, with the given streams, versions and ids (right or wrong). */
async function sealed(chain: string, chainSpecs: readonly Spec[]): Promise<string[]> {
  const signer = createKeySigner(KEY_V1.kid, KEY_V1.privateKey);
  let head: ChainHead = { chain, seq: 0, hash: ZERO_HASH, ts: null };
  const texts: string[] = [];
  for (let first = 0; first < chainSpecs.length; first += EVENTS_PER_BATCH) {
    const batch = chainSpecs.slice(first, first + EVENTS_PER_BATCH);
    const events: AppendEventInput[] = batch.map((spec) => ({
      stream: spec.stream,
      type: 'order.created',
      data: { n: spec.version },
      actor: { id: 'buyer', role: 'Buyer' },
    }));
    const validated = validateAppend(chain, events);
    const ids = batch.map((spec) => spec.id);
    const toSeal = validated.events.map((event, at) => ({ event, version: batch[at]!.version }));
    const unsigned = sealBatch(head, toSeal, TS, () => ids.shift()!);
    const records = attachSignatures(unsigned, await signer.signBatch(unsigned));
    texts.push(...records.map((record) => record.text));
    const last = records[records.length - 1]!.record;
    head = { chain, seq: last.seq, hash: last.hash, ts: last.ts };
  }
  return texts;
}

type Change = (finance: Spec[], main: Spec[]) => void;

/** Finance is checked before main (chains in name order). Seqs are offsets + 1. */
const CASES: Record<string, Change> = {
  'no finding': () => undefined,
  'a duplicate id in one chain': (_finance, main) => (main[520]!.id = main[90]!.id),
  'a duplicate id across chains': (finance, main) => (main[40]!.id = finance[610]!.id),
  "a duplicate id in an id's other case": (_finance, main) => (main[555]!.id = main[3]!.id.toUpperCase()),
  'a stream version gap': (_finance, main) => (main[333]!.version += 1),
  'a stream that starts at version 2': (_finance, main) => (main[601]!.version = 2),
  'a version repeated on a shared stream': (finance) => (finance[510]!.version -= 1),
  'a duplicate before a version gap': (_finance, main) => {
    main[300]!.id = main[10]!.id;
    main[450]!.version += 1;
  },
  'a version gap before a duplicate': (_finance, main) => {
    main[650]!.id = main[10]!.id;
    main[450]!.version += 1;
  },
  'a duplicate and a version gap on one record: the version first': (_finance, main) => {
    main[401]!.id = main[11]!.id;
    main[401]!.version += 1;
  },
  'a duplicate in finance before a version gap in main': (finance, main) => {
    finance[699]!.id = finance[0]!.id;
    main[5]!.version += 1;
  },
};

for (const [name, change] of Object.entries(CASES)) {
  test(`${name}: the same report in memory and spilled`, async (t) => {
    const finance = specs(1);
    const main = specs(2);
    change(finance, main);
    const lines = [...(await sealed('finance', finance)), ...(await sealed('main', main))];
    const report = await bothWays(t, name, lines, SIGNERS, {});
    if (name === 'no finding') t.true(report.ok, JSON.stringify(report.finding));
    else t.false(report.ok);
    // Ranges starting after seq 1 take each stream's first version as is, spilled or not.
    await bothWays(t, name, lines, SIGNERS, { fromSeq: 250 });
    await bothWays(t, name, lines, SIGNERS, { limit: 400 });
  });
}

test('the merge reads many more runs than it opens at once, in order', async (t) => {
  const spill = memorySpill();
  const runs: SpillRun[] = [];
  const all: string[] = [];
  for (let run = 0; run < MAX_MERGE_FAN_IN * 3 + 5; run++) {
    const lines = Array.from(
      { length: 20 },
      (_, at) => `${((run * 7919 + at * 104729) % 100_003).toString().padStart(6, '0')}`,
    );
    all.push(...lines);
    runs.push(await spill.write(lines.sort()));
  }
  const merged: string[] = [];
  for await (const line of mergedLines(spill, runs)) merged.push(line);
  t.deepEqual(merged, all.sort());
  t.is(spill.held(), 0, 'every run, first and intermediate, is removed');
});

test('a hostile number of streams and ids stays within the budget', async (t) => {
  const budgetBytes = 1024 * 1024;
  const spill = memorySpill();
  const seen = new SeenRecords({ budgetBytes, spill });
  seen.startChain(0, 1);
  const records = 200_000;
  for (let seq = 1; seq <= records; seq++) {
    t.is(seen.version(`stream-with-a-long-name-${seq}`, 1, seq), undefined);
    seen.id(uuid(seq), seq);
    if (seq % 1000 === 0) await seen.settle();
  }
  t.is(await seen.endChain(), undefined);
  t.is(await seen.end(), undefined);
  t.true(seen.spilled);
  t.true(seen.peakBytes <= budgetBytes, `held at most ${seen.peakBytes} bytes`);
  t.true(spill.written > 2, `${spill.written} runs`);
  await seen.close();
});

test('the spill folder writes runs to files, reads them back and leaves nothing behind', async (t) => {
  const parent = mkdtempSync(join(tmpdir(), 'chainbook-spill-test-'));
  t.teardown(() => rmSync(parent, { recursive: true, force: true }));
  const area = spillFolder(parent);
  const lines = ['"a\\tb"\t0000000000000001\tr1', '"caf\u00e9 \ud83d\ude00"\t0000000000000002\tr1', ''];
  const run = await area.write(lines);
  const read: string[] = [];
  for await (const line of run.lines()) read.push(line);
  t.deepEqual(read, lines);
  t.is(readdirSync(parent).length, 1);
  await area.close();
  t.deepEqual(readdirSync(parent), []);
  t.false(existsSync(join(parent, 'run-0')));
});
