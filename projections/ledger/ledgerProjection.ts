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
import { insertRows, loadRows, upsertRows, type ProjectionExecutor, type Row, type TableSpec } from '../rowStore.ts';

export const ACCOUNTS_TABLE: TableSpec = {
  name: 'ledger_accounts',
  key: ['account', 'currency'],
  columns: {
    account: 'text', currency: 'text', kind: 'text', must_not_go_negative: 'bool', debit_minor: 'int8', credit_minor: 'int8', balance_minor: 'int8', last_seq: 'int8',
  },
};

export const TRANSACTIONS_TABLE: TableSpec = {
  name: 'ledger_transactions',
  key: ['transaction_id'],
  columns: {
    transaction_id: 'text', chain: 'text', seq: 'int8', event_id: 'text', record_hash: 'text', reason: 'text', order_id: 'text', entry_count: 'int4', posted_at: 'text',
  },
};

export const ENTRIES_TABLE: TableSpec = {
  name: 'ledger_entries',
  key: ['transaction_id', 'line'],
  columns: { transaction_id: 'text', line: 'int4', account: 'text', direction: 'text', amount_minor: 'int8', currency: 'text', seq: 'int8' },
};

export const PROOFS_TABLE: TableSpec = {
  name: 'ledger_proofs',
  key: ['proof_id'],
  columns: {
    proof_id: 'text', chain: 'text', from_seq: 'int8', to_seq: 'int8', range_hash: 'text', head_hash: 'text', ledger_row_count: 'int4',
    signer_kid: 'text', alg: 'text', payload_sha256: 'text', issued_seq: 'int8',
  },
};

interface Posting {
  record: ProjectedRecord;
  transaction: LedgerTransaction;
}

function accountRow(account: string, currency: string): Row {
  return { account, currency, kind: accountKind(account), must_not_go_negative: mustNotGoNegative(account), debit_minor: 0, credit_minor: 0, balance_minor: 0, last_seq: 0 };
}

async function postTransactions(tx: ProjectionExecutor, postings: readonly Posting[]): Promise<void> {
  for (const { transaction } of postings) checkTransaction(transaction);
  const keys = postings.flatMap(({ transaction }) => transaction.entries.map((entry) => ({ account: entry.account, currency: entry.currency })));
  const rows = await loadRows(tx, ACCOUNTS_TABLE, keys);
  const balances = new Map<string, number>();
  const accounts = new Map<string, Row>();
  for (const key of keys) {
    const row = rows.get(JSON.stringify([key.account, key.currency])) ?? accountRow(key.account, key.currency);
    balances.set(balanceKey(key.account, key.currency), row['balance_minor'] as number);
    accounts.set(balanceKey(key.account, key.currency), row);
  }
  const before = trialBalanceOf(balances);
  for (const { record, transaction } of postings) {
    applyEntries(balances, transaction.entries, transaction.transactionId);
    for (const entry of transaction.entries) {
      const key = balanceKey(entry.account, entry.currency);
      const row = accounts.get(key)!;
      const side = entry.direction === 'debit' ? 'debit_minor' : 'credit_minor';
      accounts.set(key, { ...row, [side]: (row[side] as number) + entry.amountMinor, balance_minor: balances.get(key)!, last_seq: record.seq });
    }
  }
  // Balanced transactions move the trial balance by zero in every currency.
  for (const [currency, total] of trialBalanceOf(balances)) assert(total === (before.get(currency) ?? 0), `ledger batch moved the ${currency} trial balance`);
  await upsertRows(tx, ACCOUNTS_TABLE, [...accounts.values()]);
  await insertRows(tx, TRANSACTIONS_TABLE, postings.map(({ record, transaction }) => ({
    transaction_id: transaction.transactionId, chain: record.chain, seq: record.seq, event_id: record.id, record_hash: record.hash,
    reason: transaction.reason, order_id: transaction.orderId ?? null, entry_count: transaction.entries.length, posted_at: record.ts,
  })));
  await insertRows(tx, ENTRIES_TABLE, postings.flatMap(({ record, transaction }) => transaction.entries.map((entry, line) => ({
    transaction_id: transaction.transactionId, line: line + 1, account: entry.account, direction: entry.direction, amount_minor: entry.amountMinor, currency: entry.currency, seq: record.seq,
  }))));
}

function proofRow(record: ProjectedRecord, proof: ProofIssued): Row {
  return {
    proof_id: proof.proofId, chain: proof.chain, from_seq: proof.fromSeq, to_seq: proof.toSeq, range_hash: proof.rangeHash, head_hash: proof.headHash,
    ledger_row_count: proof.ledgerRowCount, signer_kid: proof.signerKid, alg: proof.alg, payload_sha256: proof.payloadSha256, issued_seq: record.seq,
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
