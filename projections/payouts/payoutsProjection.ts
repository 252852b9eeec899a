/**
 * Payouts: one row per payout, with its status (initiated, settled, failed),
 * the run it belongs to, when the provider accepted it (null: not recorded as
 * accepted, so finance may resubmit it) and the provider's answer. The money itself is in
 * the ledger (projections/ledger), posted in the same append.
 */
import { assertNever } from '../../domain/errors.ts';
import type { PayoutEvent } from '../../domain/payouts/payoutEvents.ts';
import { foldRows, requireRow, type RowFold } from '../foldRows.ts';
import type { Projection } from '../projection.ts';
import type { TableSpec } from '../rowStore.ts';

export const PAYOUTS_TABLE: TableSpec = {
  name: 'payouts',
  key: ['payout_id'],
  columns: {
    payout_id: 'text',
    run_id: 'text',
    party_id: 'text',
    currency: 'text',
    amount_minor: 'int8',
    netted_minor: 'int8',
    status: 'text',
    ledger_transaction_id: 'text',
    provider_event_id: 'text',
    failure_reason: 'text',
    initiated_seq: 'int8',
    initiated_at: 'text',
    decided_seq: 'int8',
    decided_at: 'text',
    submitted_seq: 'int8',
    submitted_at: 'text',
  },
};

const payoutFold: RowFold<PayoutEvent> = {
  spec: PAYOUTS_TABLE,
  keyOf: (event) => ({ payout_id: event.data.payoutId }),
  evolve(row, event, record) {
    switch (event.type) {
      case 'payout.initiated': {
        const p = event.data;
        return {
          payout_id: p.payoutId,
          run_id: p.runId,
          party_id: p.partyId,
          currency: p.currency,
          amount_minor: p.amountMinor,
          netted_minor: p.nettedMinor,
          status: 'initiated',
          ledger_transaction_id: p.ledgerTransactionId,
          provider_event_id: null,
          failure_reason: null,
          initiated_seq: record.seq,
          initiated_at: record.ts,
          decided_seq: null,
          decided_at: null,
          submitted_seq: null,
          submitted_at: null,
        };
      }
      case 'payout.submitted':
        return { ...requireRow(row, record), submitted_seq: record.seq, submitted_at: record.ts };
      case 'payout.settled':
      case 'payout.failed':
        return {
          ...requireRow(row, record),
          status: event.type === 'payout.settled' ? 'settled' : 'failed',
          provider_event_id: event.data.providerEventId,
          failure_reason: event.type === 'payout.failed' ? event.data.reason : null,
          decided_seq: record.seq,
          decided_at: record.ts,
        };
      default:
        return assertNever(event, 'payout event');
    }
  },
};

export const payoutsProjection: Projection = {
  name: 'payouts',
  version: 1,
  tables: [PAYOUTS_TABLE],
  eventTypes: new Set(['payout.initiated', 'payout.submitted', 'payout.settled', 'payout.failed']),
  async apply(tx, records) {
    await foldRows(tx, payoutFold, records);
  },
};
