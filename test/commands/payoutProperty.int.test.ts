/**
 * Property (fast-check): for any sequence of orders, payments, refunds,
 * payout runs and provider answers, of which some are refused, what the
 * ledger says each party is owed (payables and payouts in transit, less what
 * it owes the platform) equals an independent calculation from the commands
 * that succeeded: its shares of the sales that stand, less what was paid out
 * and settled. After each run nobody is left owed anything, a provider
 * report generated from the same events reconciles clean, and replay
 * reproduces every projection.
 */
import test from 'ava';
import fc from 'fast-check';
import type { CommandDeps } from '../../commands/command.ts';
import { contextFor } from '../../commands/context.ts';
import {
  deliveryKey,
  FINANCE_LEAD,
  KERNEL_OPERATOR,
  demoArtifactFields,
  listProduct,
  PAYMENT_WEBHOOK,
  SETTLEMENT_SERVICE,
  type ListedProduct,
} from '../../commands/demo/marketplaceFlow.ts';
import { checkout } from '../../commands/orders/checkout.ts';
import { finalizeOrder } from '../../commands/orders/finalizeOrder.ts';
import { recordPayment } from '../../commands/orders/recordPayment.ts';
import { refundOrder } from '../../commands/orders/refundOrder.ts';
import { recordPayoutOutcome } from '../../commands/payouts/recordPayoutOutcome.ts';
import { runPayouts, type PayoutSummary } from '../../commands/payouts/runPayouts.ts';
import { CodedError } from '../../domain/errors.ts';
import { sqlReplayTarget } from '../../infra/adapters/sql/replayTarget.ts';
import type { SqlDatabase } from '../../infra/adapters/sql/sql.ts';
import { trialBalance } from '../../projections/ledger/ledgerQueries.ts';
import { projectionDigests } from '../../projections/projections.ts';
import { replay } from '../../projections/replay/replay.ts';
import { inProcessChecker } from '../../verifier/inProcessChecker.ts';
import { testApp } from '../helpers/app.ts';
import { chunksOf, csvOf, reportFromLedger } from '../helpers/providerReports.ts';
import { reconcile } from '../../commands/reconciliation/reconcile.ts';

const KEY = deliveryKey();
const BUYER = { id: 'buyer-1', role: 'Buyer' };
const PUBLISHER = { id: 'publisher-1', role: 'Publisher' };
const PROVIDER = { id: 'payment-provider', role: 'Service' };
const SPLITS = [
  { partyId: PUBLISHER.id, basisPoints: 6000 },
  { partyId: 'artist', basisPoints: 4000 },
];

type Step =
  | { kind: 'sale' | 'checkout'; listing: number }
  | { kind: 'pay' | 'finalize' | 'refund'; order: number }
  | { kind: 'run' }
  | { kind: 'settle' | 'fail'; payout: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('sale' as const), listing: fc.nat(1) }) },
  fc.record({ kind: fc.constant('checkout' as const), listing: fc.nat(1) }),
  fc.record({ kind: fc.constantFrom('pay' as const, 'finalize' as const, 'refund' as const), order: fc.nat(9) }),
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('run' as const) }) },
  fc.record({ kind: fc.constantFrom('settle' as const, 'fail' as const), payout: fc.nat(9) }),
);

/** The split of one sale, computed here on its own: 10% fee down, shares of the rest down, the remainder to the seller. */
function sharesOf(priceMinor: number): Map<string, number> {
  const feeMinor = Math.floor((priceMinor * 1000) / 10_000);
  const netMinor = priceMinor - feeMinor;
  const shares = new Map(SPLITS.map((split) => [split.partyId, Math.floor((netMinor * split.basisPoints) / 10_000)]));
  const remainder = netMinor - [...shares.values()].reduce((sum, share) => sum + share, 0);
  shares.set(PUBLISHER.id, shares.get(PUBLISHER.id)! + remainder);
  return shares;
}

interface Model {
  orders: { orderId: string; priceMinor: number; status: 'created' | 'paid' | 'finalized' | 'refunded' }[];
  payouts: PayoutSummary[];
  /** Per party: shares of the sales that stand, less payouts settled. */
  owed: Map<string, number>;
}

function credit(model: Model, priceMinor: number, sign: 1 | -1): void {
  for (const [party, share] of sharesOf(priceMinor)) model.owed.set(party, (model.owed.get(party) ?? 0) + sign * share);
}

/** What the ledger says each party is owed: payables and in transit, less what it owes the platform. */
async function ledgerOwed(db: SqlDatabase): Promise<Map<string, number>> {
  const { rows } = await db.query<{ account: string; balance_minor: number }>(
    `SELECT account, balance_minor FROM ledger_accounts WHERE account LIKE 'liability:seller-payable:%'
       OR account LIKE 'liability:royalty-payable:%' OR account LIKE 'liability:payouts-in-transit:%'
       OR account LIKE 'asset:party-receivable:%'`,
  );
  const owed = new Map<string, number>();
  for (const row of rows) {
    const party = row.account.split(':').slice(2).join(':');
    owed.set(party, (owed.get(party) ?? 0) - Number(row.balance_minor));
  }
  return owed;
}

/** The most any one party is still owed from its payables, net of what it owes the platform. */
async function payableLeft(db: SqlDatabase): Promise<number> {
  const { rows } = await db.query<{ account: string; balance_minor: number }>(
    `SELECT account, balance_minor FROM ledger_accounts
     WHERE account LIKE 'liability:seller-payable:%' OR account LIKE 'liability:royalty-payable:%'
       OR account LIKE 'asset:party-receivable:%'`,
  );
  const net = new Map<string, number>();
  for (const row of rows) {
    const party = row.account.split(':').slice(2).join(':');
    net.set(party, (net.get(party) ?? 0) - Number(row.balance_minor));
  }
  return Math.max(0, ...net.values());
}

async function sell(deps: CommandDeps, listing: ListedProduct, model: Model, steps: readonly string[]): Promise<void> {
  const { orderId } = await checkout(deps, { listingId: listing.listingId, deliveryPublicKey: KEY }, contextFor(BUYER));
  const order = { orderId, priceMinor: listing.priceMinor, status: 'created' as Model['orders'][number]['status'] };
  model.orders.push(order);
  for (const next of steps) await apply(deps, { kind: next as 'pay', order: model.orders.length - 1 }, [], model);
}

async function apply(deps: CommandDeps, s: Step, listings: ListedProduct[], model: Model, db?: SqlDatabase) {
  switch (s.kind) {
    case 'checkout':
    case 'sale':
      return sell(deps, listings[s.listing % listings.length]!, model, s.kind === 'sale' ? ['pay', 'finalize'] : []);
    case 'pay':
    case 'finalize':
    case 'refund': {
      const order = model.orders[s.order % Math.max(1, model.orders.length)];
      if (!order) return;
      const { orderId } = order;
      if (s.kind === 'pay') {
        const payment = {
          orderId,
          providerPaymentId: `pay-${orderId}`,
          amountMinor: order.priceMinor,
          currency: 'EUR',
        };
        const paid = await recordPayment(deps, { ...payment, outcome: 'succeeded' }, contextFor(PAYMENT_WEBHOOK));
        if (paid.seqs.length > 0) order.status = 'paid';
      } else if (s.kind === 'finalize') {
        await finalizeOrder(deps, { orderId }, contextFor(SETTLEMENT_SERVICE));
        order.status = 'finalized';
        credit(model, order.priceMinor, 1);
      } else {
        await refundOrder(deps, { orderId, reason: 'property' }, contextFor(KERNEL_OPERATOR));
        if (order.status === 'finalized') credit(model, order.priceMinor, -1);
        order.status = 'refunded';
      }
      return;
    }
    case 'run': {
      const run = await runPayouts(deps, {}, contextFor(FINANCE_LEAD));
      model.payouts.push(...run.payouts);
      if (db && (await payableLeft(db)) > 0) throw new Error('a party is still owed money after a run');
      return;
    }
    case 'settle':
    case 'fail': {
      const payout = model.payouts[s.payout % Math.max(1, model.payouts.length)];
      if (!payout) return;
      const answered = await recordPayoutOutcome(
        deps,
        {
          payoutId: payout.payoutId,
          outcome: s.kind === 'settle' ? 'settled' : 'failed',
          providerEventId: `evt-${s.kind}-${payout.payoutId}`,
          amountMinor: payout.amountMinor,
          currency: payout.currency,
        },
        contextFor(PROVIDER),
      );
      if (s.kind === 'settle' && answered.seqs.length > 0)
        model.owed.set(payout.partyId, (model.owed.get(payout.partyId) ?? 0) - payout.amountMinor);
      return;
    }
  }
}

test('property: the ledger owes each party exactly its standing shares less its settled payouts; a run leaves nothing owed; a report of the same events reconciles clean; replay agrees', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 30 }), async (steps) => {
      const app = await testApp(t, 'postgres');
      const product = {
        name: 'p',
        version: '1',
        priceMinor: 1001,
        currency: 'EUR',
        ...demoArtifactFields(1),
        royaltySplits: SPLITS,
      };
      const listings = [
        await listProduct(app.deps, PUBLISHER, product),
        await listProduct(app.deps, PUBLISHER, { ...product, name: 'q', priceMinor: 2999 }),
      ];
      const model: Model = { orders: [], payouts: [], owed: new Map() };
      for (const s of steps) {
        try {
          await apply(app.deps, s, listings, model, app.test.db);
        } catch (error) {
          if (!(error instanceof CodedError)) throw error;
        }
      }
      const ledger = await ledgerOwed(app.test.db);
      for (const party of new Set([...ledger.keys(), ...model.owed.keys()]))
        t.is(ledger.get(party) ?? 0, model.owed.get(party) ?? 0, `what ${party} is owed`);
      for (const line of await trialBalance(app.test.db)) t.is(line.totalMinor, 0);
      const day = new Date().toISOString().slice(0, 10);
      const report = csvOf(await reportFromLedger(app.test.db));
      const reconciled = await reconcile(
        app.deps,
        { format: 'csv', from: day, to: day },
        chunksOf(report, 97),
        contextFor(FINANCE_LEAD),
      );
      t.is(reconciled.discrepancyCount, 0, 'a report generated from the same events reconciles clean');
      const live = await projectionDigests(app.test.db);
      const rebuilt = await replay({
        target: sqlReplayTarget(app.test.db),
        checker: inProcessChecker(app.runtime.registry),
        compare: true,
      });
      return rebuilt.ok && JSON.stringify(rebuilt.digests) === JSON.stringify(live);
    }),
    { numRuns: 12 },
  );
});
