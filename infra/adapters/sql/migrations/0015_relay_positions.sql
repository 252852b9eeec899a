-- Where each relay of the audit stream (docs/DESIGN.md, "The audit stream")
-- has got to in each chain: the last seq its target acknowledged, and that
-- record's hash. A relay moves its row only after the target (the Kafka
-- broker, KurrentDB) acknowledged the records up to it, so a restart resumes
-- from here and at worst sends again what was acknowledged after the last
-- move (at least once; consumers deduplicate by chain and seq).
--
-- The row is also the relay's lease: one relay process per (relay, chain)
-- delivers at a time, the owner, until lease_until; the others wait to take
-- it over once it lapses. A move is accepted only from the owner, so a relay
-- that lost its lease cannot move the position of the one that took over.
-- Numbered 0015 as handed to this change (0012 to 0014 are other branches').
CREATE TABLE relay_positions (
  relay text NOT NULL CHECK (relay ~ '^[a-z]+:[A-Za-z0-9._-]{1,249}$'),
  chain text NOT NULL,
  seq bigint NOT NULL CHECK (seq >= 0),
  hash text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
  owner text,
  lease_until timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (relay, chain)
);
