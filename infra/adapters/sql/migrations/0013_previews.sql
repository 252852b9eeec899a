-- Previews (projections/previews, docs/DOMAIN.md "Previews"): one row per
-- preview run in the sandbox, from preview.started to preview.exited or
-- preview.expired. No chain holds these events before this migration, so the
-- table starts empty.
-- Numbered 0013: 0011 is the Merkle tree's migration, 0012 another branch's.
CREATE TABLE previews (
  preview_id text COLLATE "C" PRIMARY KEY,
  buyer_id text COLLATE "C" NOT NULL,
  listing_id text NOT NULL,
  manifest_id text NOT NULL,
  artifact_sha256 text NOT NULL,
  status text NOT NULL CHECK (status IN ('running', 'exited', 'expired')),
  limits text NOT NULL,
  runner text NOT NULL,
  started_seq bigint NOT NULL,
  started_at text NOT NULL,
  exit_code integer,
  signal text,
  duration_ms bigint,
  output_sha256 text,
  output_size_bytes bigint,
  truncated boolean,
  killed boolean,
  memory_exceeded boolean,
  finished_seq bigint,
  finished_at text
);
CREATE INDEX previews_buyer ON previews (buyer_id, preview_id);
-- Runs started and never finished (a process that died before it could record the outcome).
CREATE INDEX previews_running ON previews (status, started_seq);

INSERT INTO projection_versions (name, version) VALUES ('previews', 1);
