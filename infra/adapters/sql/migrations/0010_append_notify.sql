-- Appends announce themselves (chain/subscription.ts): when a chain's head
-- moves, NOTIFY chainbook_appended with the chain's name, so that live
-- subscribers (infra/adapters/sql/appendWakeups.ts) read at once instead of
-- polling. The notification is sent at commit, once per transaction however
-- many rows it appended (PostgreSQL folds equal notifications of one
-- transaction), and carries no record: a subscriber reads the records
-- itself, in seq order, and checks their links.
CREATE FUNCTION chainbook_notify_appended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('chainbook_appended', NEW.chain);
  RETURN NULL;
END
$$;

CREATE TRIGGER chain_heads_appended AFTER UPDATE OF seq ON chain_heads
  FOR EACH ROW WHEN (NEW.seq > OLD.seq) EXECUTE FUNCTION chainbook_notify_appended();
