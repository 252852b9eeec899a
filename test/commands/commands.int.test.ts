import test, { type ExecutionContext } from 'ava';
import { CodedError } from '../../domain/errors.ts';
import type { CommandContext, CommandResult } from '../../commands/command.ts';
import { changeListingPrice, delistListing, publishListing } from '../../commands/catalog/listingCommands.ts';
import { approveUpgrade, proposeUpgrade, rejectUpgrade } from '../../commands/governance/upgradeCommands.ts';
import { postLedgerTransaction } from '../../commands/ledger/postLedgerTransaction.ts';
import { approveManifest } from '../../commands/manifests/approveManifest.ts';
import { rejectManifest } from '../../commands/manifests/rejectManifest.ts';
import { submitManifest } from '../../commands/manifests/submitManifest.ts';
import { cancelOrder } from '../../commands/orders/cancelOrder.ts';
import { checkout } from '../../commands/orders/checkout.ts';
import { finalizeOrder } from '../../commands/orders/finalizeOrder.ts';
import { recordPayment } from '../../commands/orders/recordPayment.ts';
import { refundOrder } from '../../commands/orders/refundOrder.ts';
import { contextFor } from '../../commands/context.ts';
import {
  deliveryKey,
  FINANCE_LEAD,
  KERNEL_OPERATOR,
  listProduct,
  PAYMENT_WEBHOOK,
  SETTLEMENT_SERVICE,
} from '../../commands/demo/marketplaceFlow.ts';
import { ENGINES } from '../helpers/databases.ts';
import { testApp, type TestApp } from '../helpers/app.ts';
import { productFor } from '../helpers/fixtures.ts';

const publisher = { id: 'publisher-1', role: 'Publisher' };
const buyer = { id: 'buyer-1', role: 'Buyer' };
const product = productFor(publisher);
const KEY = deliveryKey();

/** A listed product, an order awaiting payment, a paid order, a submitted (unapproved) manifest. */
async function marketplace(app: TestApp) {
  const listed = await listProduct(app.deps, publisher, product);
  const unpaid = await checkout(app.deps, { listingId: listed.listingId, deliveryPublicKey: KEY }, contextFor(buyer));
  const paid = await checkout(app.deps, { listingId: listed.listingId, deliveryPublicKey: KEY }, contextFor(buyer));
  await recordPayment(
    app.deps,
    { orderId: paid.orderId, providerPaymentId: 'pay-1', amountMinor: 1999, currency: 'EUR', outcome: 'succeeded' },
    contextFor(PAYMENT_WEBHOOK),
  );
  const pending = await submitManifest(app.deps, { ...product, name: 'Unapproved' }, contextFor(publisher));
  return { listed, unpaidOrderId: unpaid.orderId, paidOrderId: paid.orderId, pendingManifestId: pending.manifestId };
}

async function assertRejectedUnchanged(
  t: ExecutionContext,
  app: TestApp,
  code: string,
  run: () => Promise<unknown>,
): Promise<void> {
  const before = await app.snapshot();
  const error = await t.throwsAsync(run());
  t.true(error instanceof CodedError, String(error));
  t.is((error as CodedError).code, code, (error as Error).message);
  t.deepEqual(await app.snapshot(), before, `${code}: head or a projection changed`);
}

for (const engine of ENGINES) {
  test(`${engine}: every kind of rejected command appends nothing and changes no projection`, async (t) => {
    const app = await testApp(t, engine);
    const m = await marketplace(app);
    const { deps } = app;
    const cases: [string, () => Promise<unknown>][] = [
      [
        'INVALID_INPUT',
        () => checkout(deps, { listingId: m.listed.listingId, deliveryPublicKey: 'not a key' }, contextFor(buyer)),
      ],
      ['INVALID_INPUT', () => postLedgerTransaction(deps, { entries: [], reason: 'x' }, contextFor(FINANCE_LEAD))],
      ['INVALID_INPUT', () => submitManifest(deps, { ...product, priceMinor: 19.99 }, contextFor(publisher))],
      ['ORDER_NOT_PAID', () => finalizeOrder(deps, { orderId: m.unpaidOrderId }, contextFor(SETTLEMENT_SERVICE))],
      [
        'ORDER_NOT_CANCELLABLE',
        () => cancelOrder(deps, { orderId: m.paidOrderId, reason: 'too late' }, contextFor(buyer)),
      ],
      [
        'ORDER_NOT_REFUNDABLE',
        () => refundOrder(deps, { orderId: m.unpaidOrderId, reason: 'never paid' }, contextFor(KERNEL_OPERATOR)),
      ],
      [
        'PAYMENT_AMOUNT_MISMATCH',
        () =>
          recordPayment(
            deps,
            {
              orderId: m.unpaidOrderId,
              providerPaymentId: 'pay-2',
              amountMinor: 5,
              currency: 'EUR',
              outcome: 'succeeded',
            },
            contextFor(PAYMENT_WEBHOOK),
          ),
      ],
      [
        'PAYMENT_ID_IN_USE',
        () =>
          recordPayment(
            deps,
            {
              orderId: m.unpaidOrderId,
              providerPaymentId: 'pay-1',
              amountMinor: 1999,
              currency: 'EUR',
              outcome: 'succeeded',
            },
            contextFor(PAYMENT_WEBHOOK),
          ),
      ],
      [
        'LEDGER_UNBALANCED',
        () =>
          postLedgerTransaction(
            deps,
            {
              entries: [
                { account: 'expense:hosting', direction: 'debit', amountMinor: 10, currency: 'EUR' },
                { account: 'asset:bank', direction: 'credit', amountMinor: 9, currency: 'EUR' },
              ],
              reason: 'typo',
            },
            contextFor(FINANCE_LEAD),
          ),
      ],
      [
        'LEDGER_ACCOUNT_WOULD_GO_NEGATIVE',
        () =>
          postLedgerTransaction(
            deps,
            {
              entries: [
                { account: 'liability:buyer-clearing', direction: 'debit', amountMinor: 5000, currency: 'EUR' },
                { account: 'asset:bank', direction: 'credit', amountMinor: 5000, currency: 'EUR' },
              ],
              reason: 'payout too large',
            },
            contextFor(FINANCE_LEAD),
          ),
      ],
      [
        'STREAM_VERSION_CONFLICT',
        () =>
          changeListingPrice(
            deps,
            { listingId: m.listed.listingId, priceMinor: 2500, expectedVersion: 7 },
            contextFor(publisher),
          ),
      ],
      ['MANIFEST_NOT_APPROVED', () => publishListing(deps, { manifestId: m.pendingManifestId }, contextFor(publisher))],
      [
        'MANIFEST_SELF_APPROVAL',
        () =>
          approveManifest(
            deps,
            { manifestId: m.pendingManifestId },
            contextFor({ id: publisher.id, role: 'Operator' }),
          ),
      ],
      ['FORBIDDEN_ROLE', () => approveManifest(deps, { manifestId: m.pendingManifestId }, contextFor(publisher))],
      [
        'LISTING_NOT_OWNER',
        () =>
          delistListing(
            deps,
            { listingId: m.listed.listingId, reason: 'mine now' },
            contextFor({ id: 'publisher-2', role: 'Publisher' }),
          ),
      ],
    ];
    for (const [code, run] of cases) await assertRejectedUnchanged(t, app, code, run);
  });

  test(`${engine}: a duplicated payment webhook, even concurrent, pays once and posts once`, async (t) => {
    const app = await testApp(t, engine);
    const m = await marketplace(app);
    const payment = {
      orderId: m.unpaidOrderId,
      providerPaymentId: 'pay-9',
      amountMinor: 1999,
      currency: 'EUR',
      outcome: 'succeeded',
    };
    const results = await Promise.all(
      Array.from({ length: 4 }, () => recordPayment(app.deps, payment, contextFor(PAYMENT_WEBHOOK))),
    );
    t.is(results.filter((r: CommandResult) => r.seqs.length > 0).length, 1);
    const before = await app.snapshot();
    const again = await recordPayment(app.deps, payment, contextFor(PAYMENT_WEBHOOK));
    t.deepEqual(again.seqs, []);
    t.deepEqual(await app.snapshot(), before);
    const { rows } = await app.test.db.query<{ count: number }>(
      'SELECT count(*)::int8 AS count FROM ledger_transactions WHERE transaction_id = $1',
      [`payment-${m.unpaidOrderId}`],
    );
    t.is(rows[0]!.count, 1);
  });

  test(`${engine}: a retried command with its idempotency key returns the first result and appends nothing`, async (t) => {
    const app = await testApp(t, engine);
    const m = await marketplace(app);
    const context: CommandContext = contextFor(SETTLEMENT_SERVICE, { idempotencyKey: 'finalize-1' });
    const first = await finalizeOrder(app.deps, { orderId: m.paidOrderId }, context);
    const before = await app.snapshot();
    const retried = await finalizeOrder(
      app.deps,
      { orderId: m.paidOrderId },
      { ...context, now: new Date(Date.now() + 1000).toISOString() },
    );
    t.true(retried.replayed);
    t.deepEqual(retried.seqs, first.seqs);
    t.deepEqual(await app.snapshot(), before);
    const created = await checkout(
      app.deps,
      { listingId: m.listed.listingId, deliveryPublicKey: KEY },
      contextFor(buyer, { idempotencyKey: 'checkout-7' }),
    );
    const createdAgain = await checkout(
      app.deps,
      { listingId: m.listed.listingId, deliveryPublicKey: KEY },
      contextFor(buyer, { idempotencyKey: 'checkout-7' }),
    );
    t.is(createdAgain.orderId, created.orderId);
    t.deepEqual(createdAgain.seqs, created.seqs);
  });

  test(`${engine}: another caller reusing an idempotency key gets its own rejection, never the first caller's result`, async (t) => {
    const app = await testApp(t, engine);
    const m = await marketplace(app);
    await finalizeOrder(
      app.deps,
      { orderId: m.paidOrderId },
      contextFor(SETTLEMENT_SERVICE, { idempotencyKey: 'shared-key' }),
    );
    const other = { id: 'settlement-2', role: 'Service' };
    await assertRejectedUnchanged(t, app, 'ORDER_ALREADY_FINALIZED', () =>
      finalizeOrder(app.deps, { orderId: m.paidOrderId }, contextFor(other, { idempotencyKey: 'shared-key' })),
    );
  });

  test(`${engine}: a 3-of-5 upgrade is applied at the third distinct approval; a duplicate and an outsider are refused`, async (t) => {
    const app = await testApp(t, engine);
    const approvers = ['k-1', 'k-2', 'k-3', 'k-4', 'k-5'].map((id) => ({ id, role: 'Operator' }));
    const admin = { id: 'admin-1', role: 'SuperAdmin' };
    const expiresAt = new Date(Date.now() + 86_400_000).toISOString();
    const { upgradeId } = await proposeUpgrade(
      app.deps,
      {
        description: 'kernel 2.0',
        payloadSha256: 'c'.repeat(64),
        threshold: 3,
        approvers: approvers.map((a) => a.id),
        expiresAt,
      },
      contextFor(admin),
    );
    await approveUpgrade(app.deps, { upgradeId }, contextFor(approvers[0]!));
    await assertRejectedUnchanged(t, app, 'UPGRADE_ALREADY_APPROVED', () =>
      approveUpgrade(app.deps, { upgradeId }, contextFor(approvers[0]!)),
    );
    await assertRejectedUnchanged(t, app, 'UPGRADE_APPROVER_NOT_NAMED', () =>
      approveUpgrade(app.deps, { upgradeId }, contextFor(KERNEL_OPERATOR)),
    );
    await approveUpgrade(app.deps, { upgradeId }, contextFor(approvers[3]!));
    const third = await approveUpgrade(app.deps, { upgradeId }, contextFor(approvers[1]!));
    t.is(third.events.map((e) => e.type).join(), 'upgrade.approved,upgrade.applied');
    const { rows } = await app.test.db.query<{ status: string; approvals: number }>(
      'SELECT status, approvals FROM governance_upgrades',
    );
    t.deepEqual(rows, [{ status: 'applied', approvals: 3 }]);
    const { rows: approvals } = await app.test.db.query<{ approver_id: string }>(
      'SELECT approver_id FROM governance_approvals ORDER BY approver_id',
    );
    t.deepEqual(
      approvals.map((a) => a.approver_id),
      ['k-1', 'k-2', 'k-4'],
    );
    await assertRejectedUnchanged(t, app, 'UPGRADE_NOT_PENDING', () =>
      rejectUpgrade(app.deps, { upgradeId, reason: 'late veto' }, contextFor(approvers[4]!)),
    );
  });

  test(`${engine}: a refund after finalization reverses the split and returns the money; the manifest rejection is projected`, async (t) => {
    const app = await testApp(t, engine);
    const m = await marketplace(app);
    await finalizeOrder(app.deps, { orderId: m.paidOrderId }, contextFor(SETTLEMENT_SERVICE));
    const refunded = await refundOrder(
      app.deps,
      { orderId: m.paidOrderId, reason: 'artifact broken' },
      contextFor(KERNEL_OPERATOR),
    );
    t.is(refunded.events.map((e) => e.type).join(), 'order.refunded,ledger.posted,ledger.posted');
    const { rows } = await app.test.db.query<{ total: number }>(
      'SELECT sum(abs(balance_minor)) AS total FROM ledger_accounts',
    );
    t.is(Number(rows[0]!.total), 0);
    await rejectManifest(app.deps, { manifestId: m.pendingManifestId, reason: 'malware' }, contextFor(KERNEL_OPERATOR));
    const { rows: manifests } = await app.test.db.query<{ status: string; reason: string }>(
      'SELECT status, reason FROM catalog_manifests WHERE manifest_id = $1',
      [m.pendingManifestId],
    );
    t.deepEqual(manifests, [{ status: 'rejected', reason: 'malware' }]);
    const { rows: orders } = await app.test.db.query<{ delivery_state: string }>(
      'SELECT delivery_state FROM orders WHERE order_id = $1',
      [m.paidOrderId],
    );
    t.is(orders[0]!.delivery_state, 'revoked');
  });
}
