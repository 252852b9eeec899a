/**
 * Every bound of the chain layer, with its unit. docs/FORMAT.md and the
 * README's configuration section list them.
 */

/** Events in one append (one command). */
export const MAX_EVENTS_PER_APPEND = 100;
/** UTF-8 bytes of JCS(data) of one event. */
export const MAX_EVENT_DATA_BYTES = 64 * 1024;
/** Nesting depth of arrays and objects inside `data`. */
export const MAX_DATA_DEPTH = 32;
/** Length of actor.id, actor.role, each meta value and the idempotency key, in UTF-16 units. */
export const MAX_LABEL_LENGTH = 256;
/** Events sealed in one group-commit transaction. */
export const MAX_BATCH_EVENTS = 1000;
/** UTF-8 bytes of data sealed in one group-commit transaction. */
export const MAX_BATCH_DATA_BYTES = 8 * 1024 * 1024;
/** Events queued behind the writer of one chain before appends are refused. */
export const MAX_PENDING_EVENTS = 50_000;
/** Records returned by one read. */
export const MAX_PAGE_RECORDS = 1000;
/** Requests sent to a signer that signs one at a time, per batch. */
export const MAX_SIGN_IN_FLIGHT = 64;
/** Batches sealed ahead of the one committing (see chain/writer.ts, "Pipelining"). */
export const MAX_PIPELINE_BATCHES = 2;
