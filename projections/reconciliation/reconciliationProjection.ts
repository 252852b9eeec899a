/**
 * Reconciliation runs and their discrepancies, open or resolved. An open
 * discrepancy holds the payouts of the parties it names and of the parties
 * of the orders it names (reconciliationQueries.ts, heldParties).
 */
import { jcs } from '../../chain/canonical.ts';
import { assertNever } from '../../domain/errors.ts';
import type { ReconciliationEvent } from '../../domain/reconciliation/reconciliationEvents.ts';
import { foldRows, requireRow, type RowFold } from '../foldRows.ts';
import type { Projection } from '../projection.ts';
import { insertRows, type Row, type TableSpec } from '../rowStore.ts';

export const RECONCILIATIONS_TABLE: TableSpec = {
  name: 'reconciliations',
  key: ['reconciliation_id'],
  columns: {
    reconciliation_id: 'text',
    report_sha256: 'text',
    format: 'text',
    report_bytes: 'int8',
    line_count: 'int8',
    from_ts: 'text',
    to_ts: 'text',
    counts: 'text',
    discrepancy_count: 'int4',
    recorded_by: 'text',
    recorded_seq: 'int8',
    recorded_at: 'text',
  },
};

export const DISCREPANCIES_TABLE: TableSpec = {
  name: 'reconciliation_discrepancies',
  key: ['reconciliation_id', 'discrepancy_id'],
  columns: {
    reconciliation_id: 'text',
    discrepancy_id: 'text',
    number: 'int4',
    kind: 'text',
    line: 'int8',
    provider_transaction_id: 'text',
    type: 'text',
    reference: 'text',
    ledger_amount_minor: 'int8',
    ledger_currency: 'text',
    reported_amount_minor: 'int8',
    reported_currency: 'text',
    reported_fee_minor: 'int8',
    order_ids: 'text',
    party_ids: 'text',
    status: 'text',
    resolved_reason: 'text',
    resolved_by: 'text',
    resolved_seq: 'int8',
  },
};

type Resolved = Extract<ReconciliationEvent, { type: 'reconciliation.discrepancy_resolved' }>;

const resolvedFold: RowFold<Resolved> = {
  spec: DISCREPANCIES_TABLE,
  keyOf: (event) => ({ reconciliation_id: event.data.reconciliationId, discrepancy_id: event.data.discrepancyId }),
  evolve: (row, event, record) => ({
    ...requireRow(row, record),
    status: 'resolved',
    resolved_reason: event.data.reason,
    resolved_by: event.data.resolvedBy,
    resolved_seq: record.seq,
  }),
};

export const reconciliationProjection: Projection = {
  name: 'reconciliation',
  version: 1,
  tables: [RECONCILIATIONS_TABLE, DISCREPANCIES_TABLE],
  eventTypes: new Set([
    'reconciliation.recorded',
    'reconciliation.discrepancies_found',
    'reconciliation.discrepancy_resolved',
  ]),
  async apply(tx, records) {
    const runs: Row[] = [];
    const found: Row[] = [];
    const resolved = [];
    for (const record of records) {
      const { event } = record;
      switch (event.type) {
        case 'reconciliation.recorded': {
          const r = event.data;
          runs.push({
            reconciliation_id: r.reconciliationId,
            report_sha256: r.reportSha256,
            format: r.format,
            report_bytes: r.reportBytes,
            line_count: r.lineCount,
            from_ts: r.fromTs,
            to_ts: r.toTs,
            counts: jcs(r.counts),
            discrepancy_count: r.discrepancyCount,
            recorded_by: record.actor.id,
            recorded_seq: record.seq,
            recorded_at: record.ts,
          });
          break;
        }
        case 'reconciliation.discrepancies_found':
          for (const d of event.data.discrepancies)
            found.push({
              reconciliation_id: event.data.reconciliationId,
              discrepancy_id: d.discrepancyId,
              number: Number(d.discrepancyId.slice(1)),
              kind: d.kind,
              line: d.line,
              provider_transaction_id: d.providerTransactionId,
              type: d.type,
              reference: d.reference,
              ledger_amount_minor: d.ledgerAmountMinor,
              ledger_currency: d.ledgerCurrency,
              reported_amount_minor: d.reportedAmountMinor,
              reported_currency: d.reportedCurrency,
              reported_fee_minor: d.reportedFeeMinor,
              order_ids: jcs(d.orderIds),
              party_ids: jcs(d.partyIds),
              status: 'open',
              resolved_reason: null,
              resolved_by: null,
              resolved_seq: null,
            });
          break;
        case 'reconciliation.discrepancy_resolved':
          resolved.push(record);
          break;
        default:
          assertNever(event as never, 'reconciliation event');
      }
    }
    await insertRows(tx, RECONCILIATIONS_TABLE, runs);
    await insertRows(tx, DISCREPANCIES_TABLE, found);
    if (resolved.length > 0) await foldRows(tx, resolvedFold, resolved);
  },
};
