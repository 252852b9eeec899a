-- Witnesses' cosignatures on checkpoints (docs/FORMAT.md section 14,
-- "Witnesses and cosignatures"): the cosignature lines the log collected,
-- appended to the note as published, and how many witnesses they are, so
-- that a quorum (CHECKPOINT_WITNESS_QUORUM) can be asked of a published
-- checkpoint in the query that picks it. The note itself stays as signed.
ALTER TABLE checkpoints ADD COLUMN cosignatures text NOT NULL DEFAULT '';
ALTER TABLE checkpoints ADD COLUMN cosigners smallint NOT NULL DEFAULT 0 CHECK (cosigners >= 0);
