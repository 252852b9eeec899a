/**
 * chain/treeLog.ts on both engines: a checkpoint's root is the root
 * recomputed from the records, checkpoints come at most every interval,
 * inclusion proof files verify offline (verifier/verifyInclusion.ts) and a
 * changed one does not, consistency proofs between checkpoints verify, and
 * sizes beyond the tree are refused.
 */
import test from 'ava';
import { verify, type KeyObject } from 'node:crypto';
import { openCheckpoint, type Checkpoint } from '../../chain/checkpoint.ts';
import { sha256 } from '../../chain/hash.ts';
import type { AppendEventInput } from '../../chain/input.ts';
import { rootOfHashes, verifyConsistency } from '../../chain/merkle.ts';
import { formatTlogProof } from '../../chain/proofFile.ts';
import { leafOf, treeHasher } from '../../chain/treeCommit.ts';
import { proveConsistency, proveInclusion, rootAt } from '../../chain/treeLog.ts';
import { rawEd25519, verifyInclusionFile } from '../../verifier/verifyInclusion.ts';
import { recordTextAt } from '../../infra/adapters/sql/eventLog.ts';
import { checkpointing } from '../../infra/wiring/checkpoints.ts';
import { ENGINES } from '../helpers/databases.ts';
import { testRuntime, type TestRuntime } from '../helpers/runtime.ts';

const buyer = { id: 'buyer-1', role: 'Buyer' };

function events(stream: string, count: number): AppendEventInput[] {
  return Array.from({ length: count }, (_, i) => ({ stream, type: 'order.noted', data: { n: i }, actor: buyer }));
}

function keyOf(rt: TestRuntime): { name: string; publicKey: KeyObject } {
  return { name: rt.signer.kid, publicKey: rt.registry.signers.get(rt.signer.kid)!.publicKey };
}

function opened(rt: TestRuntime, note: string): Checkpoint {
  const key = keyOf(rt);
  const result = openCheckpoint(note, { name: key.name, publicKey: rawEd25519(key.publicKey)! }, sha256, (_k, m, s) =>
    verify(null, m, key.publicKey, s),
  );
  if (!result.ok) throw new Error(result.reason);
  return result.checkpoint;
}

async function recordsRoot(rt: TestRuntime, size: number): Promise<string> {
  const records = [];
  for (let from = 1; from <= size; from += 1000)
    records.push(...(await rt.store.readChain('main', { fromSeq: from, toSeq: size, limit: 1000 })));
  return Buffer.from(
    rootOfHashes(
      treeHasher,
      records.map((s) => leafOf(s.record.hash)),
    ),
  ).toString('base64');
}

for (const engine of ENGINES) {
  test(`${engine}: checkpoints sign the root recomputed from the records, and proofs against them verify offline`, async (t) => {
    const rt = await testRuntime(t, engine);
    const tree = checkpointing(rt);
    t.truthy(tree.key, 'the test signer is Ed25519');
    t.is(await tree.makeIfDue('main', Date.now()), undefined, 'no checkpoint of an empty tree');
    for (let i = 0; i < 3; i++) await rt.store.append('main', events(`order-${i}`, 100));
    const now = Date.now();
    const first = await tree.makeIfDue('main', now);
    t.truthy(first);
    const firstCheckpoint = opened(rt, first!);
    t.is(firstCheckpoint.origin, 'chainbook/main');
    t.is(firstCheckpoint.size, 300);
    t.is(Buffer.from(firstCheckpoint.root).toString('base64'), await recordsRoot(rt, 300));

    await rt.store.append('main', events('order-late', 37));
    t.is(await tree.makeIfDue('main', now + 1000), undefined, 'not due: 37 records and one second');
    const second = await tree.makeIfDue('main', now + rt.config.checkpoints.intervalMs);
    const secondCheckpoint = opened(rt, second!);
    t.is(secondCheckpoint.size, 337);
    t.is(Buffer.from(secondCheckpoint.root).toString('base64'), await recordsRoot(rt, 337));

    const consistency = await proveConsistency(tree.storage, 'main', 300, 337);
    t.true(verifyConsistency(treeHasher, 300, 337, consistency, firstCheckpoint.root, secondCheckpoint.root));
    t.false(verifyConsistency(treeHasher, 300, 337, consistency, secondCheckpoint.root, secondCheckpoint.root));

    for (const seq of [1, 150, 256, 257, 300]) {
      const file = formatTlogProof({
        record: (await recordTextAt(rt.db, 'main', seq))!,
        index: seq - 1,
        hashes: await proveInclusion(tree.storage, 'main', seq - 1, 300),
        checkpoint: first!,
      });
      const report = verifyInclusionFile(file, keyOf(rt), 'chainbook/main');
      t.like(report, { ok: true, seq, treeSize: 300 });
      t.false(verifyInclusionFile(file, keyOf(rt), 'other/main').ok, 'another origin');
      t.false(verifyInclusionFile(file, { ...keyOf(rt), name: 'someone-else' }, undefined).ok, 'another key name');
      // One changed character in the first proof hash line, then in the record.
      const lines = file.split('\n');
      lines[3] = lines[3]!.startsWith('A') ? `B${lines[3]!.slice(1)}` : `A${lines[3]!.slice(1)}`;
      t.false(verifyInclusionFile(lines.join('\n'), keyOf(rt)).ok, 'a changed hash');
      const otherIndex = file.replace(`index ${seq - 1}\n`, `index ${seq}\n`);
      t.false(verifyInclusionFile(otherIndex, keyOf(rt)).ok, 'another index');
    }
  });

  test(`${engine}: sizes and leaves beyond the tree are refused, and the roots of past sizes stay as they were`, async (t) => {
    const rt = await testRuntime(t, engine);
    const tree = checkpointing(rt);
    await rt.store.append('main', events('order-a', 10));
    const rootAt5 = Buffer.from(await rootAt(tree.storage, 'main', 5)).toString('base64');
    await rt.store.append('main', events('order-b', 10));
    t.is(Buffer.from(await rootAt(tree.storage, 'main', 5)).toString('base64'), rootAt5);
    t.is(rootAt5, await recordsRoot(rt, 5));
    for (const attempt of [
      () => rootAt(tree.storage, 'main', 21),
      () => proveInclusion(tree.storage, 'main', 20, 20),
      () => proveInclusion(tree.storage, 'main', 0, 21),
      () => proveInclusion(tree.storage, 'main', -1, 10),
      () => proveConsistency(tree.storage, 'main', 0, 10),
      () => proveConsistency(tree.storage, 'main', 11, 10),
      () => proveConsistency(tree.storage, 'main', 5, 21),
    ])
      await t.throwsAsync(attempt, { code: 'TREE_SIZE_OUT_OF_RANGE' } as never);
  });
}
