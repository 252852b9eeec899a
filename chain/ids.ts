/**
 * Event ids: UUIDv7 (time-ordered, so the unique index on id is appended
 * to at its right edge), with the random bits drawn from a pool refilled
 * 4 KiB at a time. One getrandom call per 256 ids instead of one per id
 * (bench/append.ts: the per-id call was 4% of the writer's main thread).
 */
import { randomFillSync } from 'node:crypto';
import { v7 } from 'uuid';

const POOL_BYTES = 4096;
const ID_RANDOM_BYTES = 16;
const pool = new Uint8Array(POOL_BYTES);
let offset = POOL_BYTES;

function randomBytes16(): Uint8Array {
  if (offset + ID_RANDOM_BYTES > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const bytes = pool.subarray(offset, offset + ID_RANDOM_BYTES);
  offset += ID_RANDOM_BYTES;
  return bytes;
}

/** A new UUIDv7: the millisecond clock, then 74 random bits. */
export function newEventId(): string {
  return v7({ msecs: Date.now(), random: randomBytes16() });
}
