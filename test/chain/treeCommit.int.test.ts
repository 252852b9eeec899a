/**
 * chain/treeCommit.ts on both engines: the tiles the append writes hold the
 * hashes recomputed from the records, their root is the one recomputed from
 * the records, and a chain whose records have no tiles yet gets them with
 * its next append.
 */
import test from 'ava';
import type { AppendEventInput } from '../../chain/input.ts';
import type { StoredRecord } from '../../chain/record.ts';
import * as eventLog from '../../infra/adapters/sql/eventLog.ts';
import { SqlEventStore } from '../../infra/adapters/sql/sqlEventStore.ts';
import { ENGINES } from '../helpers/databases.ts';
import { assertTreeMatchesRecords } from '../helpers/merkle.ts';
import { testRuntime } from '../helpers/runtime.ts';

const buyer = { id: 'buyer-1', role: 'Buyer' };

function events(stream: string, count: number): AppendEventInput[] {
  return Array.from({ length: count }, (_, i) => ({
    stream,
    type: 'order.noted',
    data: { n: i },
    actor: buyer,
  }));
}

for (const engine of ENGINES) {
  test(`${engine}: the tiles appends write hold the hashes recomputed from the records, in order and concurrently`, async (t) => {
    const rt = await testRuntime(t, engine);
    await rt.store.append('main', events('order-a', 3));
    await assertTreeMatchesRecords(t, rt.db, 'main');
    // Concurrent appends go through the speculative path: batches sealed on heads not yet committed.
    await Promise.all(Array.from({ length: 12 }, (_, i) => rt.store.append('main', events(`order-c${i}`, 47))));
    await assertTreeMatchesRecords(t, rt.db, 'main');
    for (let i = 0; i < 3; i++) await rt.store.append('main', events(`order-s${i}`, 1));
    await assertTreeMatchesRecords(t, rt.db, 'main');
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
    await assertTreeMatchesRecords(t, rt.db, 'main');
  });

  test(`${engine}: the database refuses a tile that would lose or change a hash, and any delete`, async (t) => {
    const rt = await testRuntime(t, engine);
    // 300 records: a full tile of level 0 and a partial one of level 1 are stored.
    for (let i = 0; i < 3; i++) await rt.store.append('main', events(`order-${i}`, 100));
    for (const statement of [
      "UPDATE merkle_tiles SET hashes = substring(hashes FROM 1 FOR 32) WHERE chain = 'main' AND level = 0",
      "UPDATE merkle_tiles SET hashes = set_byte(hashes, 0, 255 - get_byte(hashes, 0)) WHERE chain = 'main'",
      "DELETE FROM merkle_tiles WHERE chain = 'main'",
    ])
      await t.throwsAsync(() => rt.db.query(statement), { message: /only grows/ }, statement);
    await assertTreeMatchesRecords(t, rt.db, 'main');
  });
}
