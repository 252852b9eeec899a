-- The HTTP API's idempotency records (infra/http/idempotency.ts): the first
-- response to a command sent with an Idempotency-Key, per caller and key,
-- with a digest of the request it answered. A retry with the same request
-- gets that response again; the same key with another request is refused
-- (IDEMPOTENCY_KEY_REUSED). The chain's own idempotency_keys table still
-- guarantees one append per key; this one remembers what the client was told.
CREATE TABLE http_idempotency (
  actor_id text COLLATE "C" NOT NULL,
  key text COLLATE "C" NOT NULL,
  operation text NOT NULL,
  request_sha256 text NOT NULL,
  status integer NOT NULL,
  response text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (actor_id, key)
);
