-- Content inspection, the encrypted quarantine and tiered rate limits
-- (docs/DOMAIN.md "Content inspection", README "Rate limits").
--
-- quarantine_records: one row per quarantined submission, named by its
-- inspection id (the chain's content-<inspectionId> stream holds the signed
-- decision and every moderation action; this table is where the encrypted
-- copy is and what the expiry job and the moderators need). Never the
-- content: the object in the quarantine store is AES-256-GCM ciphertext.
-- content_sha256 is kept for released content only (one resubmission of the
-- same bytes passes, and sets release_used_at); object_key is NULL once the object and its key are
-- shredded.
CREATE TABLE quarantine_records (
  inspection_id text COLLATE "C" PRIMARY KEY,
  subject text NOT NULL CHECK (subject IN ('manifest', 'listing', 'artifact')),
  subject_id text COLLATE "C" NOT NULL,
  publisher_id text COLLATE "C" NOT NULL,
  content_type text NOT NULL,
  content_sha256 text,
  size_bytes bigint NOT NULL CHECK (size_bytes >= 0),
  object_key text,
  status text NOT NULL CHECK (status IN ('held', 'released', 'deleted', 'expired')),
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  decided_at timestamptz,
  decided_by text,
  -- When a resubmission passed on this release: one release lets one resubmission pass.
  release_used_at timestamptz
);
CREATE INDEX quarantine_records_held_expiry ON quarantine_records (expires_at) WHERE status = 'held';
CREATE INDEX quarantine_records_released ON quarantine_records (subject, publisher_id, content_sha256)
  WHERE status = 'released' AND release_used_at IS NULL;
-- Shredded records (no key any more) whose object the store failed to delete: the expiry pass deletes it.
CREATE INDEX quarantine_records_unshredded_objects ON quarantine_records (inspection_id)
  WHERE status <> 'held' AND object_key IS NOT NULL;

-- The per-record data key, wrapped (AES-256-GCM) under ENCRYPTION_MASTER_KEY:
-- iv (12 bytes) || ciphertext (32) || tag (16). master_key_id is a
-- fingerprint of the master key (not the key), so that a wrong master key is
-- named as such. Deleting the row is the crypto-shredding: without it the
-- object cannot be decrypted, from a backup either.
CREATE TABLE encryption_keys (
  inspection_id text COLLATE "C" PRIMARY KEY REFERENCES quarantine_records (inspection_id),
  wrapped_key bytea NOT NULL,
  master_key_id text NOT NULL,
  content_iv bytea NOT NULL,
  created_at timestamptz NOT NULL
);

-- Tiered rate limits (infra/entrypoints/http/rateLimits.ts): requests per
-- window for a tier (a route class, or one action such as submitManifest),
-- read again every few seconds by every process, so a change takes effect
-- without a restart.
CREATE TABLE rate_limit_configs (
  tier text COLLATE "C" PRIMARY KEY CHECK (tier ~ '^[A-Za-z0-9._:-]{1,64}$'),
  points integer NOT NULL CHECK (points >= 1),
  window_seconds integer NOT NULL CHECK (window_seconds BETWEEN 1 AND 86400),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Trust levels: a multiplier of every tier's points for actors of a role
-- (or one actor), in thousandths (1000 = the tier's points as configured).
CREATE TABLE tier_threshold_configs (
  trust_level text COLLATE "C" PRIMARY KEY CHECK (trust_level ~ '^(role|actor):[A-Za-z0-9._:@-]{1,128}$'),
  multiplier_permille integer NOT NULL CHECK (multiplier_permille BETWEEN 1 AND 1000000),
  updated_at timestamptz NOT NULL DEFAULT now()
);
