/**
 * Who sees which orders, on the orders projection: a Buyer the orders it
 * placed, a Publisher the orders of its listings, the roles that read
 * everything every order; anyone else none. Someone else's order is not found.
 */
import test from 'ava';
import { checkout } from '../../commands/orders/checkout.ts';
import type { Actor } from '../../domain/actor.ts';
import { ORDER_READERS } from '../../domain/authorization.ts';
import { deliveryKey, listProduct } from '../../commands/demo/marketplaceFlow.ts';
import { contextFor } from '../../commands/context.ts';
import { findOrderFor, listOrdersFor, type OrderFilter } from '../../projections/orders/orderQueries.ts';
import { testApp } from '../helpers/app.ts';
import { ENGINES } from '../helpers/databases.ts';
import { productFor } from '../helpers/fixtures.ts';

const publisher1: Actor = { id: 'publisher-1', role: 'Publisher' };
const publisher2: Actor = { id: 'publisher-2', role: 'Publisher' };
const buyer1: Actor = { id: 'buyer-1', role: 'Buyer' };
const buyer2: Actor = { id: 'buyer-2', role: 'Buyer' };
const product = (publisher: Actor) => productFor(publisher, [{ partyId: publisher.id, basisPoints: 10_000 }]);

for (const engine of ENGINES) {
  test(`${engine}: a Buyer sees the orders it placed, a Publisher those it sells, the roles that read everything all of them`, async (t) => {
    const app = await testApp(t, engine);
    const first = await listProduct(app.deps, publisher1, product(publisher1));
    const second = await listProduct(app.deps, publisher2, product(publisher2));
    // o-1: buyer-1 from publisher-1; o-2: buyer-2 from publisher-1; o-3: buyer-1 from publisher-2.
    for (const [orderId, buyer, listing] of [
      ['o-1', buyer1, first],
      ['o-2', buyer2, first],
      ['o-3', buyer1, second],
    ] as const) {
      await checkout(
        app.deps,
        { orderId, listingId: listing.listingId, deliveryPublicKey: deliveryKey() },
        contextFor(buyer),
      );
    }
    const db = app.test.db;
    const listed = async (actor: Actor, filter: OrderFilter = {}) =>
      (await listOrdersFor(db, actor, filter)).items.map((order) => order.orderId);
    const found = async (actor: Actor, orderId: string) => (await findOrderFor(db, actor, orderId))?.orderId;

    t.deepEqual(await listed(buyer1), ['o-1', 'o-3']);
    t.deepEqual(
      await listed(buyer1, { buyerId: buyer2.id }),
      ['o-1', 'o-3'],
      'a Buyer asking for another buyer still gets its own',
    );
    t.deepEqual(await listed(buyer2), ['o-2']);
    t.deepEqual(await listed(publisher1), ['o-1', 'o-2']);
    t.deepEqual(await listed(publisher1, { buyerId: buyer1.id }), ['o-1']);
    t.deepEqual(await listed(publisher2), ['o-3']);
    t.deepEqual(
      await listed({ id: buyer1.id, role: 'Publisher' }),
      [],
      'a Publisher sees its sales, not the purchases of a buyer of its id',
    );
    t.deepEqual(await listed({ id: 'someone', role: 'Intruder' }), []);
    for (const role of ORDER_READERS.all) {
      t.deepEqual(await listed({ id: `reader-${role}`, role }), ['o-1', 'o-2', 'o-3'], role);
      t.deepEqual(await listed({ id: `reader-${role}`, role }, { buyerId: buyer1.id }), ['o-1', 'o-3'], role);
    }

    const page = await listOrdersFor(db, buyer1, { limit: 1 });
    t.deepEqual([page.items.map((order) => order.orderId), page.next], [['o-1'], 'o-1']);
    t.deepEqual(await listed(buyer1, { limit: 1, after: 'o-1' }), ['o-3']);

    t.is(await found(buyer1, 'o-1'), 'o-1');
    t.is(await found(buyer1, 'o-2'), undefined, "another buyer's order is not found");
    t.is(await found(publisher1, 'o-2'), 'o-2');
    t.is(await found(publisher2, 'o-1'), undefined, "another publisher's sale is not found");
    t.is(await found({ id: buyer1.id, role: 'Publisher' }, 'o-1'), undefined);
    t.is(await found({ id: 'someone', role: 'Intruder' }, 'o-1'), undefined);
    for (const role of ORDER_READERS.all) t.is(await found({ id: `reader-${role}`, role }, 'o-2'), 'o-2', role);
    t.is(await found({ id: 'auditor-1', role: 'Auditor' }, 'no-such-order'), undefined);
  });
}
