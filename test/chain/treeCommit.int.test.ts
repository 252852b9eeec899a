/**
 * chain/treeCommit.ts on both engines: the tiles the append writes hold the
 * hashes recomputed from the records, their root is the one recomputed from
 * the records, and a chain whose records have no tiles yet gets them with
 * its next append.
 */
import test, { type ExecutionContext } from 'ava';
import type { AppendEventInput } from '../../chain/input.ts';
import type { StoredRecord } from '../../chain/record.ts';
import { rootOfHashes } from '../../chain/merkle.ts';
import { edgeRoot, readEdge, TILE_WIDTH } from '../../chain/tiles.ts';
import { leafOf, treeHasher } from '../../chain/treeCommit.ts';
import * as eventLog from '../../infra/adapters/sql/eventLog.ts';
import { SqlEventStore } from '../../infra/adapters/sql/sqlEventStore.ts';
import { ENGINES } from '../helpers/databases.ts';
import { testRuntime, type TestRuntime } from '../helpers/runtime.ts';

const buyer = { id: 'buyer-1', role: 'Buyer' };

function events(stream: string, count: number): AppendEventInput[] {
  return Array.from({ length: count }, (_, i) => ({
    stream,
    type: 'order.noted',
    data: { n: i },
    actor: buyer,
  }));
}

async function recordLeaves(rt: TestRuntime, chain: string): Promise<Uint8Array[]> {
  const leaves: Uint8Array[] = [];
  for (let from = 1; ; from += 1000) {
    const page = await rt.store.readChain(chain, { fromSeq: from, limit: 1000 });
    leaves.push(...page.map((stored) => leafOf(stored.record.hash)));
    if (page.length < 1000) return leaves;
  }
}

/** Every stored tile equals the hashes recomputed from the records, and the tiles' root is the records' root. */
async function assertTreeMatchesRecords(t: ExecutionContext, rt: TestRuntime, chain: string): Promise<void> {
  const leaves = await recordLeaves(rt, chain);
  t.is(await eventLog.treeSize(rt.db, chain), leaves.length);
  const tileCount = Math.ceil(leaves.length / TILE_WIDTH);
  const level0 = await eventLog.readTiles(
    rt.db,
    chain,
    Array.from({ length: tileCount }, (_, index) => ({ level: 0, index })),
  );
  for (let index = 0; index < tileCount; index++) {
    const expected = leaves.slice(index * TILE_WIDTH, (index + 1) * TILE_WIDTH);
    t.deepEqual(
      level0.get(`0/${index}`)?.map((h) => Buffer.from(h).toString('hex')),
      expected.map(hex),
    );
  }
  const level1 = (await eventLog.readTiles(rt.db, chain, [{ level: 1, index: 0 }])).get('1/0') ?? [];
  t.deepEqual(
    level1.map(hex),
    Array.from({ length: Math.floor(leaves.length / TILE_WIDTH) }, (_, index) =>
      hex(rootOfHashes(treeHasher, leaves.slice(index * TILE_WIDTH, (index + 1) * TILE_WIDTH))),
    ),
  );
  const read = async (level: number, index: number): Promise<Uint8Array[]> =>
    (await eventLog.readTiles(rt.db, chain, [{ level, index }])).get(`${level}/${index}`) ?? [];
  const root = edgeRoot(treeHasher, await readEdge(read, leaves.length));
  t.is(hex(root), hex(rootOfHashes(treeHasher, leaves)));
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

for (const engine of ENGINES) {
  test(`${engine}: the tiles appends write hold the hashes recomputed from the records, in order and concurrently`, async (t) => {
    const rt = await testRuntime(t, engine);
    await rt.store.append('main', events('order-a', 3));
    await assertTreeMatchesRecords(t, rt, 'main');
    // Concurrent appends go through the speculative path: batches sealed on heads not yet committed.
    await Promise.all(Array.from({ length: 12 }, (_, i) => rt.store.append('main', events(`order-c${i}`, 47))));
    await assertTreeMatchesRecords(t, rt, 'main');
    for (let i = 0; i < 3; i++) await rt.store.append('main', events(`order-s${i}`, 1));
    await assertTreeMatchesRecords(t, rt, 'main');
    t.is((await rt.store.head('main')).seq, 3 + 12 * 47 + 3);
  });

  test(`${engine}: a chain whose records have no tiles gets them all with its next append`, async (t) => {
    const rt = await testRuntime(t, engine);
    for (let i = 0; i < 4; i++) await rt.store.append('main', events(`order-p${i}`, 90));
    const records: StoredRecord[] = [];
    for (let from = 1; from <= 360; from += 100)
      records.push(...(await rt.store.readChain('main', { fromSeq: from, limit: 100 })));
    const head = await rt.store.head('main');
    // As a replay leaves it (projections/replay/replay.ts): records copied, head set, no tile.
    await rt.db.transaction(async (tx) => {
      await eventLog.wipeEventLog(tx);
      await eventLog.copyRecords(tx, records);
      await eventLog.setHead(tx, { chain: 'main', seq: head.seq, hash: head.hash, ts: head.ts! });
    });
    t.is(await eventLog.treeSize(rt.db, 'main'), 0);
    // A second store: the first one's writer holds the edge of the tree before the wipe.
    await rt.store.close();
    const store = new SqlEventStore(rt.db, { signer: rt.signer });
    t.teardown(() => store.close());
    await store.append('main', events('order-after', 2));
    await assertTreeMatchesRecords(t, { ...rt, store }, 'main');
  });
}
