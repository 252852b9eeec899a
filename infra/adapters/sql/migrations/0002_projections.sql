-- Read models folded from the chain (projections/): the catalog, orders and
-- delivery, the double-entry ledger, governance. They are derived data: replay
-- (`chainbook replay`) drops and rebuilds them from the chain at any time.
-- Text keys use the "C" collation so that row order, and so the projection
-- digests, are the same on every server and on PGlite. JSON-valued columns
-- hold JCS text, never jsonb, for the same reason.

CREATE TABLE projection_versions (
  name text COLLATE "C" PRIMARY KEY,
  version integer NOT NULL
);
INSERT INTO projection_versions (name, version) VALUES ('catalog', 1), ('orders', 1), ('ledger', 1), ('governance', 1);

-- The last seq of each chain folded into the projections.
CREATE TABLE projection_checkpoints (
  chain text COLLATE "C" PRIMARY KEY,
  seq bigint NOT NULL CHECK (seq >= 0)
);

CREATE TABLE catalog_manifests (
  manifest_id text COLLATE "C" PRIMARY KEY,
  publisher_id text NOT NULL,
  name text NOT NULL,
  version text NOT NULL,
  artifact_sha256 text NOT NULL,
  size_bytes bigint NOT NULL,
  price_minor bigint NOT NULL,
  currency text NOT NULL,
  royalty_splits text NOT NULL,
  status text NOT NULL CHECK (status IN ('submitted', 'approved', 'rejected')),
  manifest_sha256 text,
  manifest_signature_id text,
  decided_by text,
  reason text,
  submitted_seq bigint NOT NULL,
  updated_seq bigint NOT NULL
);
CREATE INDEX catalog_manifests_signature ON catalog_manifests (manifest_signature_id);

CREATE TABLE catalog_listings (
  listing_id text COLLATE "C" PRIMARY KEY,
  manifest_id text NOT NULL,
  publisher_id text NOT NULL,
  price_minor bigint NOT NULL CHECK (price_minor > 0),
  currency text NOT NULL,
  status text NOT NULL CHECK (status IN ('active', 'delisted')),
  manifest_signature_id text NOT NULL,
  royalty_splits text NOT NULL,
  published_seq bigint NOT NULL,
  updated_seq bigint NOT NULL
);
CREATE INDEX catalog_listings_manifest ON catalog_listings (manifest_id);

CREATE TABLE orders (
  order_id text COLLATE "C" PRIMARY KEY,
  buyer_id text NOT NULL,
  listing_id text NOT NULL,
  manifest_id text NOT NULL,
  seller_id text NOT NULL,
  price_minor bigint NOT NULL,
  currency text NOT NULL,
  status text NOT NULL CHECK (status IN ('created', 'paid', 'finalized', 'refunded', 'cancelled')),
  delivery_state text NOT NULL CHECK (delivery_state IN ('awaiting-payment', 'awaiting-finalization', 'deliverable', 'revoked', 'none')),
  delivery_public_key text NOT NULL,
  manifest_signature_id text NOT NULL,
  provider_payment_id text,
  failed_payments integer NOT NULL,
  ledger_transaction_ids text NOT NULL,
  reason text,
  created_seq bigint NOT NULL,
  updated_seq bigint NOT NULL
);
CREATE INDEX orders_buyer ON orders (buyer_id);

-- Every provider payment id seen, with its order: one payment id pays one order.
CREATE TABLE order_payments (
  provider_payment_id text COLLATE "C" PRIMARY KEY,
  order_id text NOT NULL,
  outcome text NOT NULL CHECK (outcome IN ('succeeded', 'failed')),
  seq bigint NOT NULL
);

-- Balance per account and currency; balance_minor = debit_minor - credit_minor.
CREATE TABLE ledger_accounts (
  account text COLLATE "C" NOT NULL,
  currency text COLLATE "C" NOT NULL,
  kind text NOT NULL CHECK (kind IN ('asset', 'liability', 'revenue', 'expense', 'equity')),
  must_not_go_negative boolean NOT NULL,
  debit_minor bigint NOT NULL CHECK (debit_minor >= 0),
  credit_minor bigint NOT NULL CHECK (credit_minor >= 0),
  balance_minor bigint NOT NULL,
  last_seq bigint NOT NULL,
  PRIMARY KEY (account, currency)
);

CREATE TABLE ledger_transactions (
  transaction_id text COLLATE "C" PRIMARY KEY,
  chain text NOT NULL,
  seq bigint NOT NULL,
  event_id text NOT NULL,
  record_hash text NOT NULL,
  reason text NOT NULL,
  order_id text,
  entry_count integer NOT NULL,
  posted_at text NOT NULL,
  UNIQUE (chain, seq)
);

CREATE TABLE ledger_entries (
  transaction_id text COLLATE "C" NOT NULL,
  line integer NOT NULL,
  account text NOT NULL,
  direction text NOT NULL CHECK (direction IN ('debit', 'credit')),
  amount_minor bigint NOT NULL CHECK (amount_minor > 0),
  currency text NOT NULL,
  seq bigint NOT NULL,
  PRIMARY KEY (transaction_id, line)
);
CREATE INDEX ledger_entries_account ON ledger_entries (account, currency);

CREATE TABLE ledger_proofs (
  proof_id text COLLATE "C" PRIMARY KEY,
  chain text NOT NULL,
  from_seq bigint NOT NULL,
  to_seq bigint NOT NULL,
  range_hash text NOT NULL,
  head_hash text NOT NULL,
  ledger_row_count integer NOT NULL,
  signer_kid text NOT NULL,
  alg text NOT NULL,
  payload_sha256 text NOT NULL,
  issued_seq bigint NOT NULL
);

CREATE TABLE governance_upgrades (
  upgrade_id text COLLATE "C" PRIMARY KEY,
  description text NOT NULL,
  payload_sha256 text NOT NULL,
  threshold integer NOT NULL,
  approvers text NOT NULL,
  proposed_by text NOT NULL,
  expires_at text NOT NULL,
  status text NOT NULL CHECK (status IN ('pending', 'applied', 'rejected', 'expired')),
  approvals integer NOT NULL,
  decided_by text,
  reason text,
  proposed_seq bigint NOT NULL,
  updated_seq bigint NOT NULL
);

CREATE TABLE governance_approvals (
  upgrade_id text COLLATE "C" NOT NULL,
  approver_id text COLLATE "C" NOT NULL,
  seq bigint NOT NULL,
  PRIMARY KEY (upgrade_id, approver_id)
);
