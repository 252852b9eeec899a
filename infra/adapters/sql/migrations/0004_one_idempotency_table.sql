-- One idempotency table: the chain's idempotency_keys. A command's record
-- (commands/command.ts) keeps, besides the chain's result, what the command
-- answered (the versions it left and the fields it created, e.g. a signed
-- proof), so a retry under the same key gets the first answer again from
-- here. NULL for appends that gave none (chain-level appends, records from
-- before this migration).
ALTER TABLE idempotency_keys ADD COLUMN response text;

-- The HTTP API's own table of responses (0003) is no longer written or read:
-- the HTTP API passes the caller's key and actor to the commands.
DROP TABLE http_idempotency;
