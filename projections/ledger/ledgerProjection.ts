/**
 * The double-entry ledger: balances per account and currency, the journal
 * (transactions and their entries) and the issued proofs.
 *
 * Every posted transaction is checked again here (it balances, amounts are
 * positive) and the "must not go negative" accounts are checked against their
 * current balances, rows locked: this runs in the append transaction, so a
 * post that fails here appends nothing (the writer isolates it).
 */
import { assert } from '../../domain/errors.ts';
import { accountKind, mustNotGoNegative } from '../../domain/ledger/accounts.ts';
import { applyEntries, balanceKey, trialBalanceOf } from '../../domain/ledger/ledgerBalances.ts';
import { checkTransaction } from '../../domain/ledger/ledgerDecider.ts';
import type { LedgerTransaction, ProofIssued } from '../../domain/ledger/ledgerEvents.ts';
import type { Projection, ProjectedRecord } from '../projection.ts';
import { insertRows, type ProjectionExecutor, type Row, type TableSpec } from '../rowStore.ts';

export const ACCOUNTS_TABLE: TableSpec = {
  name: 'ledger_accounts',
  key: ['account', 'currency'],
  columns: {
    account: 'text',
    currency: 'text',
    kind: 'text',
    must_not_go_negative: 'bool',
    debit_minor: 'int8',
    credit_minor: 'int8',
    balance_minor: 'int8',
    last_seq: 'int8',
  },
};

export const TRANSACTIONS_TABLE: TableSpec = {
  name: 'ledger_transactions',
  key: ['transaction_id'],
  columns: {
    transaction_id: 'text',
    chain: 'text',
    seq: 'int8',
    event_id: 'text',
    record_hash: 'text',
    reason: 'text',
    order_id: 'text',
    entry_count: 'int4',
    posted_at: 'text',
  },
};

export const ENTRIES_TABLE: TableSpec = {
  name: 'ledger_entries',
  key: ['transaction_id', 'line'],
  columns: {
    transaction_id: 'text',
    line: 'int4',
    account: 'text',
    direction: 'text',
    amount_minor: 'int8',
    currency: 'text',
    seq: 'int8',
  },
};

export const PROOFS_TABLE: TableSpec = {
  name: 'ledger_proofs',
  key: ['proof_id'],
  columns: {
    proof_id: 'text',
    chain: 'text',
    from_seq: 'int8',
    to_seq: 'int8',
    range_hash: 'text',
    head_hash: 'text',
    ledger_row_count: 'int4',
    signer_kid: 'text',
    alg: 'text',
    payload_sha256: 'text',
    issued_seq: 'int8',
  },
};

interface Posting {
  record: ProjectedRecord;
  transaction: LedgerTransaction;
}

/**
 * One statement for a whole batch: account deltas added in SQL (rows locked in
 * key order), journal rows inserted; it returns each account's new balance.
 */
const POST_SQL = `WITH accounts AS (
    INSERT INTO ledger_accounts (account, currency, kind, must_not_go_negative, debit_minor, credit_minor, balance_minor, last_seq)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bool[], $5::int8[], $6::int8[], $7::int8[], $8::int8[])
    ON CONFLICT (account, currency) DO UPDATE SET
      debit_minor = ledger_accounts.debit_minor + EXCLUDED.debit_minor,
      credit_minor = ledger_accounts.credit_minor + EXCLUDED.credit_minor,
      balance_minor = ledger_accounts.balance_minor + EXCLUDED.balance_minor,
      last_seq = EXCLUDED.last_seq
    RETURNING account, currency, balance_minor
  ), transactions AS (
    INSERT INTO ledger_transactions (transaction_id, chain, seq, event_id, record_hash, reason, order_id, entry_count, posted_at)
    SELECT * FROM unnest($9::text[], $10::text[], $11::int8[], $12::text[], $13::text[], $14::text[], $15::text[], $16::int4[], $17::text[])
    RETURNING 1
  ), entries AS (
    INSERT INTO ledger_entries (transaction_id, line, account, direction, amount_minor, currency, seq)
    SELECT * FROM unnest($18::text[], $19::int4[], $20::text[], $21::text[], $22::int8[], $23::text[], $24::int8[])
    RETURNING 1
  )
  SELECT account, currency, balance_minor FROM accounts`;

interface AccountDelta {
  account: string;
  currency: string;
  debitMinor: number;
  creditMinor: number;
  lastSeq: number;
}

function deltasOf(postings: readonly Posting[]): AccountDelta[] {
  const deltas = new Map<string, AccountDelta>();
  for (const { record, transaction } of postings) {
    for (const entry of transaction.entries) {
      const key = balanceKey(entry.account, entry.currency);
      const delta = deltas.get(key) ?? {
        account: entry.account,
        currency: entry.currency,
        debitMinor: 0,
        creditMinor: 0,
        lastSeq: 0,
      };
      if (entry.direction === 'debit') delta.debitMinor += entry.amountMinor;
      else delta.creditMinor += entry.amountMinor;
      delta.lastSeq = record.seq;
      deltas.set(key, delta);
    }
  }
  // Key order: concurrent batches (other chains) lock account rows in the same order.
  return [...deltas.values()].sort((a, b) =>
    a.account === b.account ? (a.currency < b.currency ? -1 : 1) : a.account < b.account ? -1 : 1,
  );
}

function postParameters(postings: readonly Posting[], deltas: readonly AccountDelta[]): unknown[] {
  const entries = postings.flatMap(({ record, transaction }) =>
    transaction.entries.map((entry, index) => ({
      entry,
      line: index + 1,
      id: transaction.transactionId,
      seq: record.seq,
    })),
  );
  return [
    deltas.map((d) => d.account),
    deltas.map((d) => d.currency),
    deltas.map((d) => accountKind(d.account)),
    deltas.map((d) => mustNotGoNegative(d.account)),
    deltas.map((d) => d.debitMinor),
    deltas.map((d) => d.creditMinor),
    deltas.map((d) => d.debitMinor - d.creditMinor),
    deltas.map((d) => d.lastSeq),
    postings.map((p) => p.transaction.transactionId),
    postings.map((p) => p.record.chain),
    postings.map((p) => p.record.seq),
    postings.map((p) => p.record.id),
    postings.map((p) => p.record.hash),
    postings.map((p) => p.transaction.reason),
    postings.map((p) => p.transaction.orderId ?? null),
    postings.map((p) => p.transaction.entries.length),
    postings.map((p) => p.record.ts),
    entries.map((e) => e.id),
    entries.map((e) => e.line),
    entries.map((e) => e.entry.account),
    entries.map((e) => e.entry.direction),
    entries.map((e) => e.entry.amountMinor),
    entries.map((e) => e.entry.currency),
    entries.map((e) => e.seq),
  ];
}

async function postTransactions(tx: ProjectionExecutor, postings: readonly Posting[]): Promise<void> {
  for (const { transaction } of postings) checkTransaction(transaction);
  const deltas = deltasOf(postings);
  // Balanced transactions move the trial balance by zero in every currency.
  const moved = trialBalanceOf(
    new Map(deltas.map((d) => [balanceKey(d.account, d.currency), d.debitMinor - d.creditMinor])),
  );
  for (const [currency, total] of moved)
    assert(total === 0, `a ledger batch moved the ${currency} trial balance by ${total}`);
  const { rows } = await tx.query<{ account: string; currency: string; balance_minor: number }>(
    POST_SQL,
    postParameters(postings, deltas),
  );
  // Each account's balance before the batch, then every transaction in order:
  // "must not go negative" holds after each one, not only at the end.
  const balances = new Map<string, number>();
  const deltaOf = new Map(deltas.map((d) => [balanceKey(d.account, d.currency), d.debitMinor - d.creditMinor]));
  for (const row of rows)
    balances.set(
      balanceKey(row.account, row.currency),
      row.balance_minor - deltaOf.get(balanceKey(row.account, row.currency))!,
    );
  for (const { transaction } of postings) applyEntries(balances, transaction.entries, transaction.transactionId);
}

function proofRow(record: ProjectedRecord, proof: ProofIssued): Row {
  return {
    proof_id: proof.proofId,
    chain: proof.chain,
    from_seq: proof.fromSeq,
    to_seq: proof.toSeq,
    range_hash: proof.rangeHash,
    head_hash: proof.headHash,
    ledger_row_count: proof.ledgerRowCount,
    signer_kid: proof.signerKid,
    alg: proof.alg,
    payload_sha256: proof.payloadSha256,
    issued_seq: record.seq,
  };
}

export const ledgerProjection: Projection = {
  name: 'ledger',
  version: 1,
  tables: [ACCOUNTS_TABLE, TRANSACTIONS_TABLE, ENTRIES_TABLE, PROOFS_TABLE],
  eventTypes: new Set(['ledger.posted', 'ledger.proof_issued']),
  async apply(tx, records) {
    const postings: Posting[] = [];
    const proofs: Row[] = [];
    for (const record of records) {
      if (record.event.type === 'ledger.posted') postings.push({ record, transaction: record.event.data });
      else if (record.event.type === 'ledger.proof_issued') proofs.push(proofRow(record, record.event.data));
    }
    if (postings.length > 0) await postTransactions(tx, postings);
    await insertRows(tx, PROOFS_TABLE, proofs);
  },
};
