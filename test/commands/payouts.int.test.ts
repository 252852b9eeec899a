/**
 * Payouts on a real database (PostgreSQL and PGlite): a marketplace day then
 * a payout run, the provider's answers, a refund after the seller was paid,
 * and refusals that change nothing.
 */
import test, { type ExecutionContext } from 'ava';
import type { CommandDeps } from '../../commands/command.ts';
import { contextFor } from '../../commands/context.ts';
import { runDemoWorkload } from '../../commands/demo/demoWorkload.ts';
import { deliveryKey, FINANCE_LEAD, listProduct, purchase } from '../../commands/demo/marketplaceFlow.ts';
import { refundOrder } from '../../commands/orders/refundOrder.ts';
import { recordPayoutOutcome } from '../../commands/payouts/recordPayoutOutcome.ts';
import { postLedgerTransaction } from '../../commands/ledger/postLedgerTransaction.ts';
import {
  MAX_PAYOUTS_PER_APPEND,
  payoutIdOf,
  runPayouts,
  type PayoutSummary,
} from '../../commands/payouts/runPayouts.ts';
import type { Actor } from '../../domain/actor.ts';
import { CodedError } from '../../domain/errors.ts';
import { ACCOUNTS } from '../../domain/ledger/accounts.ts';
import type { SandboxPayoutProvider } from '../../infra/adapters/payouts/sandboxPayoutProvider.ts';
import { trialBalance } from '../../projections/ledger/ledgerQueries.ts';
import { statementOf } from '../../projections/payouts/payoutQueries.ts';
import type { SqlDatabase } from '../../infra/adapters/sql/sql.ts';
import { testApp, type TestApp } from '../helpers/app.ts';
import { ENGINES } from '../helpers/databases.ts';
import { productFor } from '../helpers/fixtures.ts';

const PROVIDER: Actor = { id: 'payment-provider', role: 'Service' };
const quiet = (): void => undefined;

/** Normal-side balance of every seller and royalty payable, by account. */
async function payables(db: SqlDatabase): Promise<Map<string, number>> {
  const { rows } = await db.query<{ account: string; balance_minor: number }>(
    `SELECT account, balance_minor FROM ledger_accounts
     WHERE account LIKE 'liability:seller-payable:%' OR account LIKE 'liability:royalty-payable:%' ORDER BY account`,
  );
  return new Map(rows.map((row) => [row.account, 0 - Number(row.balance_minor) || 0]));
}

async function balance(db: SqlDatabase, account: string, currency = 'EUR'): Promise<number> {
  const { rows } = await db.query<{ balance_minor: number }>(
    'SELECT balance_minor FROM ledger_accounts WHERE account = $1 AND currency = $2',
    [account, currency],
  );
  const raw = Number(rows[0]?.balance_minor ?? 0);
  return account.startsWith('asset:') || raw === 0 ? raw : -raw;
}

function partyOf(account: string): string {
  return account.split(':').slice(2).join(':');
}

async function refused(t: ExecutionContext, app: TestApp, code: string, step: () => Promise<unknown>) {
  const before = await app.snapshot();
  const error = await t.throwsAsync(step, { instanceOf: CodedError });
  t.is(error?.code, code);
  t.deepEqual(await app.snapshot(), before, `${code}: nothing appended, no projection changed`);
}

const outcome = (deps: CommandDeps, payout: PayoutSummary, status: 'settled' | 'failed', eventId: string) =>
  recordPayoutOutcome(
    deps,
    {
      payoutId: payout.payoutId,
      outcome: status,
      providerEventId: eventId,
      amountMinor: payout.amountMinor,
      currency: payout.currency,
      ...(status === 'failed' ? { reason: 'account closed' } : {}),
    },
    contextFor(PROVIDER, { idempotencyKey: `payout-event:${eventId}` }),
  );

for (const engine of ENGINES) {
  test(`${engine}: after a marketplace day a payout run pays every party exactly its payables, once`, async (t) => {
    const app = await testApp(t, engine);
    await runDemoWorkload(app.deps, 14, quiet);
    const owed = await payables(app.test.db);
    t.true(owed.size >= 4, 'sellers and royalty holders are owed money');

    const run = await runPayouts(app.deps, {}, contextFor(FINANCE_LEAD));
    // An independent calculation: per party, the sum of its payables before the run.
    const expected = new Map<string, number>();
    for (const [account, amount] of owed)
      if (amount > 0) expected.set(partyOf(account), (expected.get(partyOf(account)) ?? 0) + amount);
    t.deepEqual(
      Object.fromEntries(run.payouts.map((payout) => [payout.partyId, payout.amountMinor])),
      Object.fromEntries(expected),
      'one payout per party, of what it was owed',
    );
    t.true(run.payouts.every((payout) => payout.submitted && payout.nettedMinor === 0));
    t.is(
      run.events.length,
      run.payouts.length * 3,
      'each payout is recorded with its ledger posting, and the provider accepting it',
    );
    t.is(run.events.filter((event) => event.type === 'payout.submitted').length, run.payouts.length);
    for (const amount of (await payables(app.test.db)).values()) t.is(amount, 0, 'every payable drained');
    for (const payout of run.payouts)
      t.is(await balance(app.test.db, ACCOUNTS.payoutsInTransit(payout.partyId)), payout.amountMinor);
    for (const line of await trialBalance(app.test.db)) t.is(line.totalMinor, 0, `${line.currency} trial balance`);
    const provider = app.deps.payouts.provider as SandboxPayoutProvider;
    t.deepEqual([...provider.submitted.keys()].sort(), run.payouts.map((payout) => payout.payoutId).sort());

    const before = await app.snapshot();
    const again = await runPayouts(app.deps, {}, contextFor(FINANCE_LEAD));
    t.deepEqual([again.seqs, again.payouts], [[], []], 'the run repeated finds nothing to pay');
    t.deepEqual(await app.snapshot(), before, 'and appends nothing');
  });

  test(`${engine}: settled moves in-transit to the provider balance, failed owes the party again; redeliveries change nothing`, async (t) => {
    const app = await testApp(t, engine);
    const ada: Actor = { id: 'publisher-ada', role: 'Publisher' };
    const bo: Actor = { id: 'publisher-bo', role: 'Publisher' };
    const buyer: Actor = { id: 'buyer-1', role: 'Buyer' };
    const adaListing = await listProduct(app.deps, ada, productFor(ada, [{ partyId: ada.id, basisPoints: 10_000 }]));
    const boListing = await listProduct(app.deps, bo, productFor(bo, [{ partyId: bo.id, basisPoints: 10_000 }]));
    await purchase(app.deps, buyer, adaListing, 'pay-a', deliveryKey());
    await purchase(app.deps, buyer, boListing, 'pay-b', deliveryKey());
    const providerBefore = await balance(app.test.db, ACCOUNTS.paymentProvider);
    const run = await runPayouts(app.deps, {}, contextFor(FINANCE_LEAD));
    const adaPayout = run.payouts.find((payout) => payout.partyId === ada.id)!;
    const boPayout = run.payouts.find((payout) => payout.partyId === bo.id)!;
    t.is(adaPayout.amountMinor, 1800, '1999 less the 10% fee, rounded down');

    const settled = await outcome(app.deps, adaPayout, 'settled', 'evt-1');
    t.deepEqual(
      settled.events.map((event) => event.type),
      ['payout.settled', 'ledger.posted'],
    );
    t.is(await balance(app.test.db, ACCOUNTS.payoutsInTransit(ada.id)), 0);
    t.is(await balance(app.test.db, ACCOUNTS.paymentProvider), providerBefore - adaPayout.amountMinor);
    const redelivered = await outcome(app.deps, adaPayout, 'settled', 'evt-1');
    t.true(redelivered.replayed, 'the same provider event gets the first answer');
    t.deepEqual((await outcome(app.deps, adaPayout, 'settled', 'evt-1b')).seqs, [], 'the same answer again is a no-op');
    await refused(t, app, 'PAYOUT_ALREADY_DECIDED', () => outcome(app.deps, adaPayout, 'failed', 'evt-2'));
    await refused(t, app, 'PAYOUT_AMOUNT_MISMATCH', () =>
      outcome(app.deps, { ...boPayout, amountMinor: boPayout.amountMinor + 1 }, 'settled', 'evt-3'),
    );
    await refused(t, app, 'PAYOUT_NOT_FOUND', () =>
      outcome(app.deps, { ...boPayout, payoutId: 'po-unknown' }, 'settled', 'evt-4'),
    );

    await outcome(app.deps, boPayout, 'failed', 'evt-5');
    t.is(await balance(app.test.db, ACCOUNTS.payoutsInTransit(bo.id)), 0);
    t.is(await balance(app.test.db, ACCOUNTS.sellerPayable(bo.id)), boPayout.amountMinor, 'owed to the party again');
    const retry = await runPayouts(app.deps, {}, contextFor(FINANCE_LEAD));
    t.deepEqual(
      retry.payouts.map((payout) => [payout.partyId, payout.amountMinor]),
      [[bo.id, boPayout.amountMinor]],
      'the next run pays the failed payout again',
    );
    t.not(retry.payouts[0]!.payoutId, boPayout.payoutId, 'under a new payout id');
    for (const line of await trialBalance(app.test.db)) t.is(line.totalMinor, 0);
  });

  test(`${engine}: a refund after the seller was paid is owed by the seller and netted by its next payout`, async (t) => {
    const app = await testApp(t, engine);
    const ada: Actor = { id: 'publisher-ada', role: 'Publisher' };
    const buyer: Actor = { id: 'buyer-1', role: 'Buyer' };
    const listing = await listProduct(app.deps, ada, productFor(ada, [{ partyId: ada.id, basisPoints: 10_000 }]));
    const first = await purchase(app.deps, buyer, listing, 'pay-1', deliveryKey());
    await purchase(app.deps, buyer, listing, 'pay-2', deliveryKey());
    const run = await runPayouts(app.deps, {}, contextFor(FINANCE_LEAD));
    t.deepEqual(
      run.payouts.map((payout) => payout.amountMinor),
      [3600],
    );

    const refund = await refundOrder(app.deps, { orderId: first.orderId, reason: 'broken' }, contextFor(FINANCE_LEAD));
    t.deepEqual(
      refund.events.map((event) => event.type),
      ['order.refunded', 'ledger.posted', 'ledger.posted'],
    );
    t.is(await balance(app.test.db, ACCOUNTS.sellerPayable(ada.id)), 0, 'the payable does not go negative');
    t.is(await balance(app.test.db, ACCOUNTS.partyReceivable(ada.id)), 1800, 'the seller owes its share back');
    const statement = await statementOf(app.test.db, ada.id);
    t.like(statement.lines[0], {
      currency: 'EUR',
      owedToPlatformMinor: 1800,
      inTransitMinor: 3600,
      netPayableMinor: -1800,
    });
    t.deepEqual((await runPayouts(app.deps, {}, contextFor(FINANCE_LEAD))).payouts, [], 'nothing to pay while it owes');

    await purchase(app.deps, buyer, listing, 'pay-3', deliveryKey());
    await purchase(app.deps, buyer, listing, 'pay-4', deliveryKey());
    const netted = await runPayouts(app.deps, {}, contextFor(FINANCE_LEAD));
    t.like(netted.payouts[0], { partyId: ada.id, amountMinor: 3600 - 1800, nettedMinor: 1800 });
    t.is(await balance(app.test.db, ACCOUNTS.partyReceivable(ada.id)), 0, 'the debt is paid back from the payables');
    t.is(await balance(app.test.db, ACCOUNTS.sellerPayable(ada.id)), 0);
    for (const line of await trialBalance(app.test.db)) t.is(line.totalMinor, 0);
  });

  test(`${engine}: refused payout runs change nothing`, async (t) => {
    const app = await testApp(t, engine);
    const ada: Actor = { id: 'publisher-ada', role: 'Publisher' };
    const listing = await listProduct(app.deps, ada, productFor(ada, [{ partyId: ada.id, basisPoints: 10_000 }]));
    await purchase(app.deps, { id: 'buyer-1', role: 'Buyer' }, listing, 'pay-1', deliveryKey());
    await refused(t, app, 'FORBIDDEN_ROLE', () => runPayouts(app.deps, {}, contextFor(ada)));
    await refused(t, app, 'INVALID_CURRENCY', () =>
      runPayouts(app.deps, { currency: 'ZZZ' }, contextFor(FINANCE_LEAD)),
    );
    await refused(t, app, 'INVALID_INPUT', () => runPayouts(app.deps, { minimumMinor: -5 }, contextFor(FINANCE_LEAD)));
    const below = await runPayouts(app.deps, { minimumMinor: 1801 }, contextFor(FINANCE_LEAD));
    t.deepEqual(below.payouts, [], 'a party owed less than the minimum is not paid');
    const none = {
      ...app.deps,
      payouts: { ...app.deps.payouts, provider: { name: 'none', accepting: false, submit: () => Promise.resolve({}) } },
    };
    await refused(t, app, 'PAYOUT_PROVIDER_NOT_CONFIGURED', () => runPayouts(none, {}, contextFor(FINANCE_LEAD)));
    // A payout larger than the payable: the ledger's must-not-go-negative rule refuses it in the append.
    await refused(t, app, 'LEDGER_ACCOUNT_WOULD_GO_NEGATIVE', () =>
      runPayouts(
        {
          ...app.deps,
          ledger: {
            ...app.deps.ledger,
            payees: async (filter) =>
              (await app.deps.ledger.payees(filter)).map((payee) => ({
                ...payee,
                payables: payee.payables.map((p) => ({ ...p, balanceMinor: p.balanceMinor + 1 })),
              })),
          },
        },
        {},
        contextFor(FINANCE_LEAD),
      ),
    );
  });

  test(`${engine}: a hold placed while a run pays is seen by the run's later chunks`, async (t) => {
    const app = await testApp(t, engine);
    const parties = Array.from(
      { length: MAX_PAYOUTS_PER_APPEND + 5 },
      (_, i) => `seller-${String(i).padStart(3, '0')}`,
    );
    for (const party of parties)
      await postLedgerTransaction(
        app.deps,
        {
          reason: `owed to ${party}`,
          entries: [
            { account: 'expense:adjustments', direction: 'debit', amountMinor: 100, currency: 'EUR' },
            { account: ACCOUNTS.sellerPayable(party), direction: 'credit', amountMinor: 100, currency: 'EUR' },
          ],
        },
        contextFor(FINANCE_LEAD),
      );
    // The provider, paying the first chunk, learns of a discrepancy on the last party (a hold finance places meanwhile).
    const late = parties[parties.length - 1]!;
    const held = new Set<string>();
    const sandbox = app.deps.payouts.provider;
    const deps: CommandDeps = {
      ...app.deps,
      ledger: { ...app.deps.ledger, heldParties: async () => new Set(held) },
      payouts: {
        ...app.deps.payouts,
        provider: {
          ...sandbox,
          submit: (payout) => {
            held.add(late);
            return sandbox.submit(payout);
          },
        },
      },
    };
    const run = await runPayouts(deps, { runId: 'run-held' }, contextFor(FINANCE_LEAD));
    t.deepEqual(
      run.payouts.map((payout) => payout.partyId),
      parties.slice(0, -1),
      'every party but the one held while the run paid',
    );
    t.false(run.payouts.some((payout) => payout.payoutId === payoutIdOf('run-held', late, 'EUR')));
    t.is(await balance(app.test.db, ACCOUNTS.sellerPayable(late)), 100, 'its payable untouched');
  });
}
