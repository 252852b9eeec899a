import test from 'ava';
import fc from 'fast-check';
import { ACCOUNTS, mustNotGoNegative, normalBalance, parseAccount } from '../../domain/ledger/accounts.ts';
import { applyEntries, balanceKey, trialBalanceOf } from '../../domain/ledger/ledgerBalances.ts';
import { checkTransaction, ledgerDecider } from '../../domain/ledger/ledgerDecider.ts';
import type { LedgerEntry, LedgerTransaction } from '../../domain/ledger/ledgerEvents.ts';
import { proofDecider } from '../../domain/ledger/proofDecider.ts';
import { CodedError } from '../../domain/errors.ts';
import { finalizePosting, paymentPosting, refundPostings, saleCredits } from '../../domain/orders/orderPostings.ts';
import { given } from '../helpers/given.ts';
import { auditor, buyer, operator, orderCreated } from '../helpers/fixtures.ts';

const debit = (account: string, amountMinor: number, currency = 'EUR'): LedgerEntry => ({
  account,
  direction: 'debit',
  amountMinor,
  currency,
});
const credit = (account: string, amountMinor: number, currency = 'EUR'): LedgerEntry => ({
  account,
  direction: 'credit',
  amountMinor,
  currency,
});
const transaction = (entries: LedgerEntry[], transactionId = 't-1'): LedgerTransaction => ({
  transactionId,
  entries,
  reason: 'adjustment',
});
const post = (tx: LedgerTransaction, actor = operator) => ({
  type: 'PostLedgerTransaction' as const,
  actor,
  transaction: tx,
});
const balanced = transaction([debit('expense:hosting', 500), credit('asset:bank', 500)]);

test('a balanced transaction is posted; the same one again is a no-op; another under its id conflicts', (t) => {
  given(ledgerDecider)
    .when(post(balanced))
    .then(t, [{ type: 'ledger.posted', data: balanced }]);
  given(ledgerDecider, [{ type: 'ledger.posted', data: balanced }])
    .when(post(balanced))
    .then(t, []);
  given(ledgerDecider, [{ type: 'ledger.posted', data: balanced }])
    .when(post(transaction([debit('expense:hosting', 501), credit('asset:bank', 501)])))
    .thenRejects(t, 'LEDGER_TRANSACTION_CONFLICT');
});

test('a post is refused: unbalanced, one entry, zero or fractional amount, bad account or currency, wrong role', (t) => {
  given(ledgerDecider)
    .when(post(transaction([debit('expense:hosting', 500), credit('asset:bank', 499)])))
    .thenRejects(t, 'LEDGER_UNBALANCED');
  given(ledgerDecider)
    .when(post(transaction([debit('expense:hosting', 500, 'EUR'), credit('asset:bank', 500, 'USD')])))
    .thenRejects(t, 'LEDGER_UNBALANCED');
  given(ledgerDecider)
    .when(post(transaction([debit('expense:hosting', 500)])))
    .thenRejects(t, 'LEDGER_TOO_FEW_ENTRIES');
  given(ledgerDecider)
    .when(post(transaction([debit('expense:hosting', 0), credit('asset:bank', 0)])))
    .thenRejects(t, 'LEDGER_INVALID_AMOUNT');
  given(ledgerDecider)
    .when(post(transaction([debit('expense:hosting', 0.5), credit('asset:bank', 0.5)])))
    .thenRejects(t, 'LEDGER_INVALID_AMOUNT');
  given(ledgerDecider)
    .when(post(transaction([debit('cash', 5), credit('asset:bank', 5)])))
    .thenRejects(t, 'LEDGER_INVALID_ACCOUNT');
  given(ledgerDecider)
    .when(post(transaction([debit('expense:hosting', 5, 'euro'), credit('asset:bank', 5, 'euro')])))
    .thenRejects(t, 'LEDGER_INVALID_CURRENCY');
  for (const phantom of ['ZZZ', 'BTC', 'XXX'])
    given(ledgerDecider)
      .when(post(transaction([debit('expense:hosting', 5, phantom), credit('asset:bank', 5, phantom)])))
      .thenRejects(t, 'LEDGER_INVALID_CURRENCY');
  given(ledgerDecider).when(post(balanced, buyer)).thenRejects(t, 'FORBIDDEN_ROLE');
  given(ledgerDecider)
    .when(post({ ...balanced, transactionId: 'no spaces' }))
    .thenRejects(t, 'INVALID_ID');
  const many = Array.from({ length: 101 }, (_, i) => (i === 0 ? debit('asset:bank', 100) : credit('asset:bank', 1)));
  given(ledgerDecider)
    .when(post(transaction(many)))
    .thenRejects(t, 'LEDGER_TOO_MANY_ENTRIES');
});

test('accounts carry their kind in their id; assets grow with debits, liabilities with credits', (t) => {
  t.like(parseAccount('liability:seller-payable:publisher-1'), {
    kind: 'liability',
    name: 'seller-payable',
    party: 'publisher-1',
  });
  t.is(parseAccount('cash'), undefined);
  t.is(normalBalance('asset', 5), 5);
  t.is(normalBalance('liability', 5), -5);
  t.true(mustNotGoNegative(ACCOUNTS.buyerClearing));
  t.true(mustNotGoNegative(ACCOUNTS.sellerPayable('p')));
  t.false(mustNotGoNegative(ACCOUNTS.platformFees));
});

test('a post that would take a must-not-go-negative account below zero is refused', (t) => {
  const balances = new Map<string, number>();
  const error = t.throws(() =>
    applyEntries(balances, [debit(ACCOUNTS.buyerClearing, 10), credit('revenue:other', 10)], 't'),
  );
  t.is((error as CodedError).code, 'LEDGER_ACCOUNT_WOULD_GO_NEGATIVE');
  const ok = new Map<string, number>();
  applyEntries(ok, paymentPosting(orderCreated(), 'pay-1').entries, 'p');
  applyEntries(ok, finalizePosting(orderCreated()).entries, 'f');
  t.is(ok.get(balanceKey(ACCOUNTS.buyerClearing, 'EUR')), 0);
});

test('finalization splits fee, seller share and royalties exactly; rounding goes to the seller', (t) => {
  const order = orderCreated({ priceMinor: 1999 });
  // fee 199 (10 %, down); net 1800: publisher 80 % = 1440, artist 20 % = 360.
  t.deepEqual(saleCredits(order), [
    credit(ACCOUNTS.platformFees, 199),
    credit(ACCOUNTS.sellerPayable('publisher-1'), 1440),
    credit(ACCOUNTS.royaltyPayable('artist-7'), 360),
  ]);
  const odd = orderCreated({
    priceMinor: 1001,
    royaltySplits: [
      { partyId: 'a', basisPoints: 3333 },
      { partyId: 'b', basisPoints: 6667 },
    ],
  });
  const credits = saleCredits(odd);
  t.is(
    credits.reduce((sum, e) => sum + e.amountMinor, 0),
    1001,
  );
  t.notThrows(() => checkTransaction(finalizePosting(odd)));
});

test('a refund after finalization reverses the split and returns the payment', (t) => {
  const order = orderCreated();
  const balances = new Map<string, number>();
  for (const posting of [paymentPosting(order, 'pay-1'), finalizePosting(order), ...refundPostings(order, true)]) {
    checkTransaction(posting);
    applyEntries(balances, posting.entries, posting.transactionId);
  }
  t.true([...balances.values()].every((amount) => amount === 0));
});

test('a proof is recorded once, by finance roles (an auditor appends nothing), with a sane range', (t) => {
  const proof = {
    proofId: 'p-1',
    kind: 'ledger-range' as const,
    chain: 'main',
    fromSeq: 1,
    toSeq: 9,
    fromTs: '2026-01-01T00:00:00.000Z',
    toTs: '2026-01-01T00:00:01.000Z',
    rangeHash: 'a'.repeat(64),
    headHash: 'b'.repeat(64),
    ledgerRowCount: 3,
    signerKid: 'k',
    alg: 'ed25519',
    signature: 'c2ln',
    payloadSha256: 'c'.repeat(64),
  };
  given(proofDecider)
    .when({ type: 'RecordProof', actor: operator, proof })
    .then(t, [{ type: 'ledger.proof_issued', data: proof }]);
  given(proofDecider, [{ type: 'ledger.proof_issued', data: proof }])
    .when({ type: 'RecordProof', actor: operator, proof })
    .thenRejects(t, 'PROOF_EXISTS');
  given(proofDecider)
    .when({ type: 'RecordProof', actor: operator, proof: { ...proof, fromSeq: 10 } })
    .thenRejects(t, 'PROOF_RANGE_INVALID');
  given(proofDecider).when({ type: 'RecordProof', actor: auditor, proof }).thenRejects(t, 'FORBIDDEN_ROLE');
  given(proofDecider).when({ type: 'RecordProof', actor: buyer, proof }).thenRejects(t, 'FORBIDDEN_ROLE');
});

const accountArbitrary = fc.constantFrom(
  'asset:bank',
  'expense:hosting',
  'revenue:other',
  'equity:capital',
  ACCOUNTS.buyerClearing,
  ACCOUNTS.paymentProvider,
  ACCOUNTS.sellerPayable('p1'),
);
const entryArbitrary = fc.record({
  account: accountArbitrary,
  direction: fc.constantFrom('debit' as const, 'credit' as const),
  amountMinor: fc.integer({ min: -5, max: 10_000 }),
  currency: fc.constantFrom('EUR', 'USD'),
});

test('property: over any sequence of posts, accepted ones balance, the trial balance is zero per currency, and no protected account goes negative', (t) => {
  fc.assert(
    fc.property(fc.array(fc.array(entryArbitrary, { minLength: 1, maxLength: 6 }), { maxLength: 40 }), (attempts) => {
      const balances = new Map<string, number>();
      attempts.forEach((entries, index) => {
        const tx = transaction(entries, `t-${index}`);
        const working = new Map(balances);
        try {
          checkTransaction(tx);
          applyEntries(working, tx.entries, tx.transactionId);
        } catch (error) {
          if (!(error instanceof CodedError)) throw error;
          return; // rejected: balances unchanged
        }
        for (const [key, value] of working) balances.set(key, value);
      });
      for (const total of trialBalanceOf(balances).values()) if (total !== 0) return false;
      for (const [key, amount] of balances) {
        const account = key.slice(0, key.lastIndexOf(' '));
        if (mustNotGoNegative(account) && normalBalance(parseAccount(account)!.kind, amount) < 0) return false;
      }
      return true;
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test('a transaction recorded in a phantom currency before the ISO 4217 check still folds on replay', (t) => {
  // checkTransaction is what the ledger projection runs on recorded posts; only the decider refuses new ones.
  t.notThrows(() =>
    checkTransaction(transaction([debit('expense:hosting', 5, 'ZZZ'), credit('asset:bank', 5, 'ZZZ')])),
  );
});
