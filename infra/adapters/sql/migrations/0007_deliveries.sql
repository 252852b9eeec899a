-- Delivery to the buyer (projections/delivery, docs/DOMAIN.md "Delivery").
-- Orders may now be checked out without a buyer key (Option B, a
-- marketplace-managed data key): delivery_public_key is NULL then and
-- delivery_key_mode says `managed`. Rows of earlier chains all had a key, so
-- `buyer-key` is what a rebuild folds for them and the orders projection
-- keeps its version.
ALTER TABLE orders ALTER COLUMN delivery_public_key DROP NOT NULL;
ALTER TABLE orders ADD COLUMN delivery_key_mode text NOT NULL DEFAULT 'buyer-key'
  CHECK (delivery_key_mode IN ('buyer-key', 'managed'));
ALTER TABLE orders ALTER COLUMN delivery_key_mode DROP DEFAULT;

-- One row per order with a delivery: the current preparation (where its
-- ciphertext is, what it was encrypted to), its signed proof's id, links
-- issued, failures. No chain
-- holds a delivery event before this migration: version 1, nothing to rebuild.
CREATE TABLE deliveries (
  order_id text COLLATE "C" PRIMARY KEY,
  delivery_id text NOT NULL,
  buyer_id text COLLATE "C" NOT NULL,
  status text NOT NULL CHECK (status IN ('failed', 'prepared', 'proven', 'revoked')),
  object_key text,
  artifact_sha256 text,
  ciphertext_sha256 text,
  ciphertext_bytes bigint,
  algorithm text,
  key_provenance text,
  manifest_signature_id text,
  ledger_proof_id text,
  prepared_seq bigint,
  prepared_hash text,
  prepared_ts text,
  prepared_data text,
  proof_id text,
  links_issued integer NOT NULL,
  failures integer NOT NULL,
  last_failure_code text,
  last_failure_reason text,
  updated_seq bigint NOT NULL
);
CREATE INDEX deliveries_buyer ON deliveries (buyer_id, order_id);

-- Every signed delivery proof, the document rebuilt from its two records
-- (a delivery prepared again after its object's lifetime has a new proof; the
-- earlier ones stay here and in the chain).
CREATE TABLE delivery_proofs (
  proof_id text COLLATE "C" PRIMARY KEY,
  order_id text COLLATE "C" NOT NULL,
  delivery_id text NOT NULL,
  delivery_seq bigint NOT NULL,
  prepared_ts text NOT NULL,
  document text NOT NULL
);
CREATE INDEX delivery_proofs_order ON delivery_proofs (order_id, delivery_seq);
CREATE INDEX delivery_proofs_prepared_ts ON delivery_proofs (prepared_ts);

-- Every link handed to a buyer: the download route serves only a recorded,
-- unexpired link of a delivery that is not revoked.
CREATE TABLE delivery_links (
  link_id text COLLATE "C" PRIMARY KEY,
  order_id text COLLATE "C" NOT NULL,
  delivery_id text NOT NULL,
  object_key text NOT NULL,
  expires_at text NOT NULL,
  issued_seq bigint NOT NULL
);
CREATE INDEX delivery_links_order ON delivery_links (order_id, issued_seq);

INSERT INTO projection_versions (name, version) VALUES ('delivery', 1);
