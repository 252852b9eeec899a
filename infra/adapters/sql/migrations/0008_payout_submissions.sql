-- When the payout provider accepted a payout (payout.submitted, in a run or
-- resubmitted by finance): projections/payouts. No chain holds a
-- payout.submitted before this migration, so the rows already there are what
-- a replay would fold (null: no acceptance recorded) and the projection's
-- version stays 1. Numbered 0008: 0007 is the deliveries' migration.
ALTER TABLE payouts ADD COLUMN submitted_seq bigint;
ALTER TABLE payouts ADD COLUMN submitted_at text;
