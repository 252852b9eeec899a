-- Payouts, version 2 (projections/payouts):
-- when the payout provider accepted a payout (payout.submitted, in a run or
-- resubmitted by finance), and the payout holds on orders (hold.placed,
-- hold.released: stream hold-<orderId>). No chain holds either event before
-- this migration, so the payout rows already there are what a replay would
-- fold (submitted_seq null: no acceptance recorded) and the holds table
-- starts empty; the version moves to 2 with nothing to rebuild.
-- Numbered 0008: 0007 is the deliveries' migration.
ALTER TABLE payouts ADD COLUMN submitted_seq bigint;
ALTER TABLE payouts ADD COLUMN submitted_at text;

CREATE TABLE order_holds (
  order_id text COLLATE "C" PRIMARY KEY,
  status text NOT NULL CHECK (status IN ('held', 'released')),
  reason text NOT NULL,
  placed_by text NOT NULL,
  placed_seq bigint NOT NULL,
  placed_at text NOT NULL,
  released_by text,
  released_reason text,
  released_seq bigint,
  released_at text
);
CREATE INDEX order_holds_held ON order_holds (status, order_id);
-- A run reads the postings of the held orders (projections/payouts/payoutQueries.ts, heldOrderPayables).
CREATE INDEX ledger_transactions_order ON ledger_transactions (order_id);

UPDATE projection_versions SET version = 2 WHERE name = 'payouts';
