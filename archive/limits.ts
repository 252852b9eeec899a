/**
 * Every bound of the archive layer, with its unit. docs/FORMAT.md section 8
 * lists them (test/chain/format.unit.test.ts checks the table).
 */

/** Records in one archive batch (the default and the most `--batch-records` accepts). */
export const MAX_ARCHIVE_BATCH_RECORDS = 10_000;
/** UTF-8 bytes of one batch's JSON Lines before gzip; a batch closes before it would pass this. */
export const MAX_ARCHIVE_BATCH_BYTES = 32 * 1024 * 1024;
/** Bytes of a manifest object; a larger one is not a manifest of ours. */
export const MAX_MANIFEST_BYTES = 64 * 1024;
/** Keys returned by one listing request (S3's own maximum). */
export const MAX_LIST_PAGE_KEYS = 1000;
/** Objects one archive listing walks before it stops: far more than seven years of five-minute exports. */
export const MAX_LISTED_OBJECTS = 20_000_000;
/** Batches read ahead of the one being verified, and sealed ahead of the one being committed. */
export const MAX_BATCHES_IN_FLIGHT = 2;
/** Default Object Lock retention: seven years (the runbooks' legal retention), in days. */
export const DEFAULT_RETENTION_DAYS = 2557;
