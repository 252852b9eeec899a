/**
 * Property (fast-check): for any sequence of commands, of which some are
 * refused, every posted transaction balances, the trial balance is zero per
 * currency, no must-not-go-negative account is below zero, and replaying the
 * chain reproduces the live projection digests exactly.
 */
import test from 'ava';
import fc from 'fast-check';
import type { CommandDeps } from '../../commands/command.ts';
import { postLedgerTransaction } from '../../commands/ledger/postLedgerTransaction.ts';
import { cancelOrder } from '../../commands/orders/cancelOrder.ts';
import { checkout } from '../../commands/orders/checkout.ts';
import { finalizeOrder } from '../../commands/orders/finalizeOrder.ts';
import { recordPayment } from '../../commands/orders/recordPayment.ts';
import { refundOrder } from '../../commands/orders/refundOrder.ts';
import { CodedError } from '../../domain/errors.ts';
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
import { replay } from '../../projections/replay/replay.ts';
import { sqlReplayTarget } from '../../infra/adapters/sql/replayTarget.ts';
import { trialBalance } from '../../projections/ledger/ledgerQueries.ts';
import { projectionDigests } from '../../projections/projections.ts';
import { inProcessChecker } from '../../verifier/inProcessChecker.ts';
import { testApp } from '../helpers/app.ts';

const KEY = deliveryKey();
const buyer = { id: 'buyer-1', role: 'Buyer' };

type Step =
  | { kind: 'checkout'; listing: number }
  | { kind: 'pay'; order: number; shortBy: number; paymentId: number }
  | { kind: 'finalize' | 'refund' | 'cancel'; order: number }
  | { kind: 'post'; account: string; amountMinor: number; balanced: boolean };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('checkout' as const), listing: fc.nat(1) }),
  fc.record({
    kind: fc.constant('pay' as const),
    order: fc.nat(7),
    shortBy: fc.constantFrom(0, 0, 0, 1),
    paymentId: fc.nat(9),
  }),
  fc.record({ kind: fc.constantFrom('finalize' as const, 'refund' as const, 'cancel' as const), order: fc.nat(7) }),
  fc.record({
    kind: fc.constant('post' as const),
    account: fc.constantFrom(
      'liability:buyer-clearing',
      'liability:seller-payable:publisher-1',
      'asset:payment-provider',
      'revenue:platform-fees',
    ),
    amountMinor: fc.integer({ min: 1, max: 3000 }),
    balanced: fc.boolean(),
  }),
);

async function run(deps: CommandDeps, listings: ListedProduct[], orders: string[], s: Step): Promise<void> {
  const listingOf = (index: number) => listings[index % listings.length]!;
  const orderOf = (index: number) => orders[index % Math.max(1, orders.length)];
  switch (s.kind) {
    case 'checkout': {
      const { orderId } = await checkout(
        deps,
        { listingId: listingOf(s.listing).listingId, deliveryPublicKey: KEY },
        contextFor(buyer),
      );
      orders.push(orderId);
      return;
    }
    case 'pay': {
      const orderId = orderOf(s.order);
      if (!orderId) return;
      const price = listings[0]!.priceMinor;
      await recordPayment(
        deps,
        {
          orderId,
          providerPaymentId: `pay-${s.paymentId}`,
          amountMinor: price - s.shortBy,
          currency: 'EUR',
          outcome: 'succeeded',
        },
        contextFor(PAYMENT_WEBHOOK),
      );
      return;
    }
    case 'finalize':
    case 'refund':
    case 'cancel': {
      const orderId = orderOf(s.order);
      if (!orderId) return;
      if (s.kind === 'finalize') await finalizeOrder(deps, { orderId }, contextFor(SETTLEMENT_SERVICE));
      if (s.kind === 'refund') await refundOrder(deps, { orderId, reason: 'property' }, contextFor(KERNEL_OPERATOR));
      if (s.kind === 'cancel') await cancelOrder(deps, { orderId, reason: 'property' }, contextFor(buyer));
      return;
    }
    case 'post': {
      const entries = [
        { account: s.account, direction: 'debit', amountMinor: s.amountMinor, currency: 'EUR' },
        {
          account: 'expense:adjustments',
          direction: 'credit',
          amountMinor: s.balanced ? s.amountMinor : s.amountMinor + 1,
          currency: 'EUR',
        },
      ];
      await postLedgerTransaction(deps, { entries, reason: 'property adjustment' }, contextFor(FINANCE_LEAD));
      return;
    }
  }
}

test('property: accepted commands keep the ledger balanced and non-negative where required, and replay reproduces every digest', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 25 }), async (steps) => {
      const app = await testApp(t, 'postgres');
      const publisher = { id: 'publisher-1', role: 'Publisher' };
      const product = {
        name: 'p',
        version: '1',
        priceMinor: 1001,
        currency: 'EUR',
        ...demoArtifactFields(1),
        royaltySplits: [
          { partyId: publisher.id, basisPoints: 6000 },
          { partyId: 'artist', basisPoints: 4000 },
        ],
      };
      const listings = [
        await listProduct(app.deps, publisher, product),
        await listProduct(app.deps, publisher, { ...product, name: 'q' }),
      ];
      const orders: string[] = [];
      for (const s of steps) {
        try {
          await run(app.deps, listings, orders, s);
        } catch (error) {
          if (!(error instanceof CodedError)) throw error;
        }
      }
      const db = app.test.db;
      const { rows: unbalanced } = await db.query(
        `SELECT transaction_id FROM ledger_entries GROUP BY transaction_id, currency
         HAVING sum(CASE direction WHEN 'debit' THEN amount_minor ELSE -amount_minor END) <> 0`,
      );
      t.deepEqual(unbalanced, []);
      for (const line of await trialBalance(db)) t.is(line.totalMinor, 0);
      const { rows: negative } = await db.query(
        `SELECT account FROM ledger_accounts WHERE must_not_go_negative
           AND (CASE WHEN kind IN ('asset', 'expense') THEN balance_minor ELSE -balance_minor END) < 0`,
      );
      t.deepEqual(negative, []);
      const live = await projectionDigests(db);
      const rebuilt = await replay({
        target: sqlReplayTarget(db),
        checker: inProcessChecker(app.runtime.registry),
        compare: true,
      });
      return rebuilt.ok && JSON.stringify(rebuilt.digests) === JSON.stringify(live);
    }),
    { numRuns: 12 },
  );
});
