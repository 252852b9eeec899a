-- The event log (docs/FORMAT.md): one row per chain record, holding the exact
-- JCS text that was hashed and signed, plus indexed columns copied from it.

CREATE TABLE chain_heads (
  chain text PRIMARY KEY CHECK (chain ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  seq bigint NOT NULL CHECK (seq >= 0),
  hash text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
  -- commit time of the head record, exactly as in the record; NULL when empty
  ts text,
  created_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO chain_heads (chain, seq, hash, ts) VALUES ('main', 0, repeat('0', 64), NULL);

CREATE TABLE events (
  chain text NOT NULL,
  seq bigint NOT NULL CHECK (seq >= 1),
  id uuid NOT NULL,
  stream text NOT NULL,
  version bigint NOT NULL CHECK (version >= 1),
  type text NOT NULL,
  ts timestamptz NOT NULL,
  -- the source of truth: JCS of the whole record, never re-serialised
  record text NOT NULL,
  PRIMARY KEY (chain, seq),
  UNIQUE (stream, version),
  UNIQUE (id)
);

CREATE TABLE idempotency_keys (
  chain text NOT NULL,
  key text NOT NULL,
  request_hash text NOT NULL,
  result text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (chain, key)
);

-- Append-only in the database itself: no UPDATE, DELETE or TRUNCATE of events,
-- whatever the application does. Only a superuser can get around this (by
-- disabling triggers), and audit-verify detects what it then changes.
CREATE FUNCTION chainbook_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the event log is append-only: % on events is not allowed', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER events_no_update_delete BEFORE UPDATE OR DELETE ON events
  FOR EACH ROW EXECUTE FUNCTION chainbook_events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
  FOR EACH STATEMENT EXECUTE FUNCTION chainbook_events_append_only();

REVOKE UPDATE, DELETE, TRUNCATE ON events FROM PUBLIC;
