-- Payouts (projections/payouts): one row per payout of a payout run, folded
-- from payout.initiated, payout.settled and payout.failed. No chain holds a
-- payout event before this migration, so the projection starts at version 1
-- with nothing to rebuild.
CREATE TABLE payouts (
  payout_id text COLLATE "C" PRIMARY KEY,
  run_id text NOT NULL,
  party_id text COLLATE "C" NOT NULL,
  currency text NOT NULL,
  amount_minor bigint NOT NULL CHECK (amount_minor > 0),
  netted_minor bigint NOT NULL CHECK (netted_minor >= 0),
  status text NOT NULL CHECK (status IN ('initiated', 'settled', 'failed')),
  ledger_transaction_id text NOT NULL,
  provider_event_id text,
  failure_reason text,
  initiated_seq bigint NOT NULL,
  initiated_at text NOT NULL,
  decided_seq bigint,
  decided_at text
);
CREATE INDEX payouts_party ON payouts (party_id, initiated_seq);
CREATE INDEX payouts_run ON payouts (run_id, initiated_seq);

INSERT INTO projection_versions (name, version) VALUES ('payouts', 1);
