/**
 * Payouts: one row per payout, with its status (initiated, settled, failed,
 * reversed), the run it belongs to, when the provider accepted it (null: not
 * recorded as accepted, so finance may resubmit it), the provider's answer and
 * its id of what it made; one row per discrepancy between a payout and the
 * provider's answers (open or resolved, the parties it holds); and one
 * row per order that has had a payout hold (domain/holds), held or released,
 * with the last reason given. The money itself is in
 * the ledger (projections/ledger), posted in the same append.
 */
import { assertNever } from '../../domain/errors.ts';
import type { HoldEvent } from '../../domain/holds/holdEvents.ts';
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
    provider_reference: 'text',
  },
};

type DiscrepancyEvent = Extract<PayoutEvent, { type: `payout.discrepancy_${string}` }>;

const payoutFold: RowFold<Exclude<PayoutEvent, DiscrepancyEvent>> = {
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
          provider_reference: null,
        };
      }
      case 'payout.submitted': {
        const current = requireRow(row, record);
        return {
          ...current,
          submitted_seq: record.seq,
          submitted_at: record.ts,
          provider_reference: current['provider_reference'] ?? event.data.providerReference ?? null,
        };
      }
      case 'payout.settled':
      case 'payout.failed':
      case 'payout.reversed': {
        const current = requireRow(row, record);
        return {
          ...current,
          status: event.type.slice('payout.'.length),
          provider_event_id: event.data.providerEventId,
          failure_reason: event.type === 'payout.settled' ? null : event.data.reason,
          decided_seq: record.seq,
          decided_at: record.ts,
          provider_reference: current['provider_reference'] ?? event.data.providerReference ?? null,
        };
      }
      default:
        return assertNever(event, 'payout event');
    }
  },
};

export const ORDER_HOLDS_TABLE: TableSpec = {
  name: 'order_holds',
  key: ['order_id'],
  columns: {
    order_id: 'text',
    status: 'text',
    reason: 'text',
    placed_by: 'text',
    placed_seq: 'int8',
    placed_at: 'text',
    released_by: 'text',
    released_reason: 'text',
    released_seq: 'int8',
    released_at: 'text',
  },
};

const holdFold: RowFold<HoldEvent> = {
  spec: ORDER_HOLDS_TABLE,
  keyOf: (event) => ({ order_id: event.data.orderId }),
  evolve(row, event, record) {
    switch (event.type) {
      case 'hold.placed':
        // Placed again after a release: the new hold replaces the old row.
        return {
          order_id: event.data.orderId,
          status: 'held',
          reason: event.data.reason,
          placed_by: event.data.placedBy,
          placed_seq: record.seq,
          placed_at: record.ts,
          released_by: null,
          released_reason: null,
          released_seq: null,
          released_at: null,
        };
      case 'hold.released':
        return {
          ...requireRow(row, record),
          status: 'released',
          released_by: event.data.releasedBy,
          released_reason: event.data.reason,
          released_seq: record.seq,
          released_at: record.ts,
        };
      default:
        return assertNever(event, 'hold event');
    }
  },
};

export const PAYOUT_DISCREPANCIES_TABLE: TableSpec = {
  name: 'payout_discrepancies',
  key: ['payout_id', 'discrepancy_id'],
  columns: {
    payout_id: 'text',
    discrepancy_id: 'text',
    kind: 'text',
    provider_event_id: 'text',
    provider_reference: 'text',
    detail: 'text',
    party_ids: 'text',
    status: 'text',
    opened_seq: 'int8',
    opened_at: 'text',
    resolved_reason: 'text',
    resolved_by: 'text',
    resolved_seq: 'int8',
    resolved_at: 'text',
  },
};

const discrepancyFold: RowFold<DiscrepancyEvent> = {
  spec: PAYOUT_DISCREPANCIES_TABLE,
  keyOf: (event) => ({ payout_id: event.data.payoutId, discrepancy_id: event.data.discrepancyId }),
  evolve(row, event, record) {
    switch (event.type) {
      case 'payout.discrepancy_opened': {
        const d = event.data;
        return {
          payout_id: d.payoutId,
          discrepancy_id: d.discrepancyId,
          kind: d.kind,
          provider_event_id: d.providerEventId,
          provider_reference: d.providerReference ?? null,
          detail: d.detail,
          party_ids: JSON.stringify(d.partyIds),
          status: 'open',
          opened_seq: record.seq,
          opened_at: record.ts,
          resolved_reason: null,
          resolved_by: null,
          resolved_seq: null,
          resolved_at: null,
        };
      }
      case 'payout.discrepancy_resolved':
        return {
          ...requireRow(row, record),
          status: 'resolved',
          resolved_reason: event.data.reason,
          resolved_by: event.data.resolvedBy,
          resolved_seq: record.seq,
          resolved_at: record.ts,
        };
      default:
        return assertNever(event, 'payout discrepancy event');
    }
  },
};

const HOLD_EVENT_TYPES: ReadonlySet<string> = new Set(['hold.placed', 'hold.released']);
const DISCREPANCY_EVENT_TYPES: ReadonlySet<string> = new Set([
  'payout.discrepancy_opened',
  'payout.discrepancy_resolved',
]);

export const payoutsProjection: Projection = {
  name: 'payouts',
  // 2: payout.submitted (submitted_seq, submitted_at) and the order_holds table (migration 0008).
  // 3: provider_reference, payout.reversed and the payout_discrepancies table (migration 0009).
  version: 3,
  tables: [PAYOUTS_TABLE, ORDER_HOLDS_TABLE, PAYOUT_DISCREPANCIES_TABLE],
  eventTypes: new Set([
    'payout.initiated',
    'payout.submitted',
    'payout.settled',
    'payout.failed',
    'payout.reversed',
    'payout.discrepancy_opened',
    'payout.discrepancy_resolved',
    'hold.placed',
    'hold.released',
  ]),
  async apply(tx, records) {
    await foldRows(
      tx,
      payoutFold,
      records.filter(
        (record) => !HOLD_EVENT_TYPES.has(record.event.type) && !DISCREPANCY_EVENT_TYPES.has(record.event.type),
      ),
    );
    await foldRows(
      tx,
      discrepancyFold,
      records.filter((record) => DISCREPANCY_EVENT_TYPES.has(record.event.type)),
    );
    await foldRows(
      tx,
      holdFold,
      records.filter((record) => HOLD_EVENT_TYPES.has(record.event.type)),
    );
  },
};
