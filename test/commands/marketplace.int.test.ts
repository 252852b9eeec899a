import test from 'ava';
import { trialBalance } from '../../projections/ledger/ledgerQueries.ts';
import { deliveryKey, listProduct, purchase } from '../../commands/demo/marketplaceFlow.ts';
import { ENGINES } from '../helpers/databases.ts';
import { testApp } from '../helpers/app.ts';
import { productFor } from '../helpers/fixtures.ts';

const publisher = { id: 'publisher-1', role: 'Publisher' };
const buyer = { id: 'buyer-1', role: 'Buyer' };
const product = productFor(publisher);

for (const engine of ENGINES) {
  test(`${engine}: a product is listed and bought; projections show the order deliverable and the ledger split`, async (t) => {
    const app = await testApp(t, engine);
    const listed = await listProduct(app.deps, publisher, product);
    t.regex(listed.manifestSignatureId, /^msig-[0-9a-f]{32}$/);
    const bought = await purchase(app.deps, buyer, listed, 'pay-1', deliveryKey());
    t.is(bought.results.finalized.seqs.length, 2);
    const { rows: orders } = await app.test.db.query<{
      status: string;
      delivery_state: string;
      manifest_signature_id: string;
    }>('SELECT status, delivery_state, manifest_signature_id FROM orders');
    t.deepEqual(orders, [
      { status: 'finalized', delivery_state: 'deliverable', manifest_signature_id: listed.manifestSignatureId },
    ]);
    const { rows: balances } = await app.test.db.query<{ account: string; balance_minor: number }>(
      'SELECT account, balance_minor FROM ledger_accounts ORDER BY account',
    );
    t.deepEqual(balances, [
      { account: 'asset:payment-provider', balance_minor: 1999 },
      { account: 'liability:buyer-clearing', balance_minor: 0 },
      { account: 'liability:royalty-payable:artist-7', balance_minor: -360 },
      { account: 'liability:seller-payable:publisher-1', balance_minor: -1440 },
      { account: 'revenue:platform-fees', balance_minor: -199 },
    ]);
    t.deepEqual(await trialBalance(app.test.db), [
      { currency: 'EUR', debitMinor: 3998, creditMinor: 3998, totalMinor: 0 },
    ]);
    const { rows: listings } = await app.test.db.query<{ status: string; price_minor: number }>(
      'SELECT status, price_minor FROM catalog_listings',
    );
    t.deepEqual(listings, [{ status: 'active', price_minor: 1999 }]);
  });
}
