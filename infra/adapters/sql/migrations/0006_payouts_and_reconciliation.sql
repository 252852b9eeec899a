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

-- Reconciliation with the payment provider (projections/reconciliation): each
-- run, and each discrepancy it found, open until resolved. An open
-- discrepancy holds the payouts of the parties and orders it names.
CREATE TABLE reconciliations (
  reconciliation_id text COLLATE "C" PRIMARY KEY,
  report_sha256 text NOT NULL,
  format text NOT NULL CHECK (format IN ('csv', 'jsonl')),
  report_bytes bigint NOT NULL,
  line_count bigint NOT NULL,
  from_ts text NOT NULL,
  to_ts text NOT NULL,
  counts text NOT NULL,
  discrepancy_count integer NOT NULL,
  recorded_by text NOT NULL,
  recorded_seq bigint NOT NULL,
  recorded_at text NOT NULL
);

CREATE TABLE reconciliation_discrepancies (
  reconciliation_id text COLLATE "C" NOT NULL,
  discrepancy_id text COLLATE "C" NOT NULL,
  number integer NOT NULL,
  kind text NOT NULL,
  line bigint,
  provider_transaction_id text,
  type text NOT NULL,
  reference text,
  ledger_amount_minor bigint,
  ledger_currency text,
  reported_amount_minor bigint,
  reported_currency text,
  reported_fee_minor bigint,
  order_ids text NOT NULL,
  party_ids text NOT NULL,
  status text NOT NULL CHECK (status IN ('open', 'resolved')),
  resolved_reason text,
  resolved_by text,
  resolved_seq bigint,
  PRIMARY KEY (reconciliation_id, discrepancy_id)
);
CREATE INDEX reconciliation_discrepancies_open ON reconciliation_discrepancies (status, reconciliation_id);

INSERT INTO projection_versions (name, version) VALUES ('reconciliation', 1);

-- Signed ledger proof documents (docs/FORMAT.md section 9), stored when they
-- are issued: the chain records each proof and the SHA-256 of its canonical
-- payload, not the document. Not a projection: replay does not rebuild it.
CREATE TABLE ledger_proof_documents (
  chain text COLLATE "C" NOT NULL,
  proof_id text COLLATE "C" NOT NULL,
  from_seq bigint NOT NULL,
  to_seq bigint NOT NULL,
  from_ts text NOT NULL,
  to_ts text NOT NULL,
  payload_sha256 text NOT NULL,
  document text NOT NULL,
  PRIMARY KEY (chain, proof_id)
);
CREATE INDEX ledger_proof_documents_range ON ledger_proof_documents (chain, from_seq, to_seq);
