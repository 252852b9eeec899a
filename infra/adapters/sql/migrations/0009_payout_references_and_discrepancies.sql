-- Payouts, version 3 (projections/payouts): the provider's own id of what it
-- made for a payout (payout.submitted, payout.settled, payout.failed:
-- providerReference, Stripe's transfer id), payouts the provider took back
-- after they settled (payout.reversed: status 'reversed'), and the
-- discrepancies between a payout and the provider's answers about it
-- (payout.discrepancy_opened, payout.discrepancy_resolved). An open one holds
-- the parties it names out of payout runs, like a reconciliation's.
-- No chain holds a providerReference or any of the new events before this
-- migration, so the rows already there are what a replay would fold
-- (provider_reference null) and the discrepancies table starts empty; the
-- version moves to 3 with nothing to rebuild.
ALTER TABLE payouts ADD COLUMN provider_reference text;
ALTER TABLE payouts DROP CONSTRAINT payouts_status_check;
ALTER TABLE payouts ADD CONSTRAINT payouts_status_check
  CHECK (status IN ('initiated', 'settled', 'failed', 'reversed'));

CREATE TABLE payout_discrepancies (
  payout_id text COLLATE "C" NOT NULL,
  discrepancy_id text COLLATE "C" NOT NULL,
  kind text NOT NULL,
  provider_event_id text NOT NULL,
  provider_reference text,
  detail text NOT NULL,
  party_ids text NOT NULL,
  status text NOT NULL CHECK (status IN ('open', 'resolved')),
  opened_seq bigint NOT NULL,
  opened_at text NOT NULL,
  resolved_reason text,
  resolved_by text,
  resolved_seq bigint,
  resolved_at text,
  PRIMARY KEY (payout_id, discrepancy_id)
);
CREATE INDEX payout_discrepancies_open ON payout_discrepancies (status, opened_seq);

UPDATE projection_versions SET version = 3 WHERE name = 'payouts';
