import test from 'ava';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { validateAppend, type AppendEventInput } from '../../chain/input.ts';
import { parseRegistryText } from '../../chain/registry.ts';
import type { ChainHead } from '../../chain/record.ts';
import { attachSignatures, sealBatch } from '../../chain/seal.ts';
import { inProcessChecker } from '../../verifier/inProcessChecker.ts';
import { verify, type VerifyOptions } from '../../verifier/verify.ts';
import { linesReader, readLinesText } from '../../infra/adapters/files/fileReader.ts';
import { createKeySigner } from '../../infra/adapters/signers/local.ts';
import { ZERO_HASH, type VectorObject } from '../vectors/build.ts';
import { financePayloads, mainPayloads, signerAt } from '../vectors/chains.ts';
import { INDEX_FILE, VECTORS_DIRECTORY, writeVectors, type IndexEntry } from '../vectors/generate.ts';
import { assert } from '../../domain/errors.ts';

const GENERATED = /\.(jsonl|json)$/;

function generatedFiles(directory: string): string[] {
  const files: string[] = [];
  const walk = (folder: string): void => {
    for (const name of readdirSync(folder).sort()) {
      const path = join(folder, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (GENERATED.test(name)) files.push(relative(directory, path));
    }
  };
  walk(directory);
  return files;
}

function loadIndex(): IndexEntry[] {
  return (JSON.parse(readFileSync(join(VECTORS_DIRECTORY, INDEX_FILE), 'utf8')) as { cases: IndexEntry[] }).cases;
}

/** The audit-verify arguments a vector names, as library options. */
function optionsOf(args: readonly string[]): VerifyOptions {
  const options: VerifyOptions = {};
  for (let index = 0; index < args.length; index += 2) {
    const value = args[index + 1]!;
    switch (args[index]) {
      case '--limit':
        options.limit = Number(value);
        break;
      case '--from':
        options.fromSeq = Number(value);
        break;
      case '--prev-hash':
        options.prevHash = value;
        break;
      case '--chain':
        options.chains = [value];
        break;
      default:
        assert(false, `vector argument ${args[index]} has no library option here`);
    }
  }
  return options;
}

test('the checked-in vectors are exactly what the generator writes (nobody edited them by hand)', (t) => {
  const directory = mkdtempSync(join(tmpdir(), 'chainbook-vectors-'));
  t.teardown(() => rmSync(directory, { recursive: true, force: true }));
  writeVectors(directory);
  const expected = generatedFiles(directory);
  t.deepEqual(generatedFiles(VECTORS_DIRECTORY), expected, 'the same files');
  for (const file of expected) {
    t.true(
      readFileSync(join(VECTORS_DIRECTORY, file)).equals(readFileSync(join(directory, file))),
      `${file} is byte for byte the generator's`,
    );
  }
});

test('every required corruption has a vector', (t) => {
  const names = new Set(loadIndex().map((entry) => entry.name));
  const required = [
    'happy',
    'payload-byte-flipped',
    'records-swapped',
    'seq-gap',
    'wrong-prev-hash',
    'bad-signature',
    'unknown-signer',
    'signer-retired',
    'signer-not-yet-deployed',
    'algorithm-mismatch',
    'truncated-tail',
    'duplicate-id',
    'stream-version-gap',
    'ecdsa-high-s',
  ];
  t.deepEqual(
    required.filter((name) => !names.has(name)),
    [],
  );
});

for (const entry of loadIndex()) {
  test(`vector ${entry.name}: the library verifier gives the expected verdict`, async (t) => {
    const lines = readLinesText(readFileSync(join(VECTORS_DIRECTORY, entry.records), 'utf8'));
    const registry = parseRegistryText(readFileSync(join(VECTORS_DIRECTORY, entry.signers), 'utf8'));
    const report = await verify(linesReader(entry.name, lines), inProcessChecker(registry), optionsOf(entry.args));
    const finding = report.finding
      ? { chain: report.finding.chain, seq: report.finding.seq, reason: report.finding.reason }
      : null;
    t.deepEqual(finding, entry.expected.finding, report.finding?.message);
    t.is(report.ok, entry.expected.exitCode === 0);
  });
}

/** Groups a chain's payloads into the writer's batches: consecutive payloads with the same commit time. */
function batchesOf(payloads: readonly VectorObject[]): VectorObject[][] {
  const batches: VectorObject[][] = [];
  for (const payload of payloads) {
    const last = batches[batches.length - 1];
    if (last && last[0]!['ts'] === payload['ts']) last.push(payload);
    else batches.push([payload]);
  }
  return batches;
}

/** The chain as the production writer seals and signs it, given the vectors' times and ids. */
async function sealedByWriter(chain: string, payloads: readonly VectorObject[]): Promise<string[]> {
  let head: ChainHead = { chain, seq: 0, hash: ZERO_HASH, ts: null };
  const texts: string[] = [];
  for (const batch of batchesOf(payloads)) {
    const events = batch.map(
      (p) =>
        ({
          stream: p['stream'],
          type: p['type'],
          data: p['data'],
          actor: p['actor'],
          meta: p['meta'],
        }) as AppendEventInput,
    );
    const validated = validateAppend(chain, events);
    const ids = batch.map((p) => p['id'] as string);
    const toSeal = validated.events.map((event, index) => ({ event, version: batch[index]!['version'] as number }));
    const unsigned = sealBatch(head, toSeal, batch[0]!['ts'] as string, () => ids.shift()!);
    const key = signerAt(batch[0]!);
    const signatures = await createKeySigner(key.kid, key.privateKey).signBatch(unsigned);
    const stored = attachSignatures(unsigned, signatures);
    texts.push(...stored.map((record) => record.text));
    const last = stored[stored.length - 1]!.record;
    head = { chain, seq: last.seq, hash: last.hash, ts: last.ts };
  }
  return texts;
}

test('the production writer seals and signs the happy chains into exactly the vector bytes', async (t) => {
  const happy = readLinesText(readFileSync(join(VECTORS_DIRECTORY, 'cases/happy/records.jsonl'), 'utf8'));
  const written = [
    ...(await sealedByWriter('finance', financePayloads())),
    ...(await sealedByWriter('main', mainPayloads())),
  ];
  t.deepEqual(written, happy);
});
