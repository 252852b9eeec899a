-- Idempotency records are kept for a retention window (IDEMPOTENCY_RETENTION_HOURS,
-- default 30 days), no longer forever: `serve` deletes older ones every hour,
-- and `chainbook idempotency purge` does it from cron. This index makes each
-- purge pass read only the rows it deletes, oldest first, however large the
-- table has grown. created_at is the commit's database time (the column's
-- default), so the window is measured on one clock, the database's.
-- Numbered 0018 as handed to this change (0016 and 0017 are other branches').
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
