-- The chains' Merkle trees (docs/FORMAT.md section 14): each chain's tree as
-- tlog tiles, written in the statement that appends the records, and the
-- checkpoints signed over it. Numbered 0011: 0009 is the payouts' and 0010 the appends' NOTIFY.
--
-- A chain whose records predate this migration has no tiles yet (tree_size
-- 0): its writer builds the tiles of those records in the transaction of its
-- next append (chain/treeCommit.ts), so nothing is computed here.

-- Leaves of the chain's tree, moved with the head in the append statement.
ALTER TABLE chain_heads ADD COLUMN tree_size bigint NOT NULL DEFAULT 0 CHECK (tree_size >= 0);

-- Full tiles of every level, and the partial tile of levels 1 and up (it
-- changes once per 256 leaves below). The partial tile of level 0 is not
-- stored: its hashes are the leaf hashes of the last records, read from them.
CREATE TABLE merkle_tiles (
  chain text NOT NULL,
  level smallint NOT NULL CHECK (level BETWEEN 0 AND 6),
  idx bigint NOT NULL CHECK (idx >= 0),
  -- up to 256 hashes of 32 bytes, in order; a tile only grows
  hashes bytea NOT NULL CHECK (octet_length(hashes) BETWEEN 32 AND 8192 AND octet_length(hashes) % 32 = 0),
  PRIMARY KEY (chain, level, idx)
);

-- A tile only grows at its end: what it held stays its prefix, and no tile is
-- deleted, so a tile once served stays true (a client may cache it for good).
CREATE FUNCTION chainbook_tiles_only_grow() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND octet_length(NEW.hashes) >= octet_length(OLD.hashes)
     AND substring(NEW.hashes FROM 1 FOR octet_length(OLD.hashes)) = OLD.hashes
     AND NEW.chain = OLD.chain AND NEW.level = OLD.level AND NEW.idx = OLD.idx THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'a Merkle tile only grows: % on merkle_tiles is not allowed', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER merkle_tiles_only_grow BEFORE UPDATE OR DELETE ON merkle_tiles
  FOR EACH ROW EXECUTE FUNCTION chainbook_tiles_only_grow();
CREATE TRIGGER merkle_tiles_no_truncate BEFORE TRUNCATE ON merkle_tiles
  FOR EACH STATEMENT EXECUTE FUNCTION chainbook_tiles_only_grow();

REVOKE DELETE, TRUNCATE ON merkle_tiles FROM PUBLIC;

-- Signed checkpoints (docs/FORMAT.md section 14, "Checkpoints"): the note's
-- exact text, one per chain and tree size.
CREATE TABLE checkpoints (
  chain text NOT NULL,
  tree_size bigint NOT NULL CHECK (tree_size >= 1),
  note text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (chain, tree_size)
);
