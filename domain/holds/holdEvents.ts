/**
 * Events of a payout hold on one order (stream `hold-<orderId>`): finance
 * holds what the order put in its parties' payables out of payout runs, with
 * a reason, and releases it, with a reason. An order may be held and
 * released again any number of times; the last event says whether it is held.
 */
import { z } from 'zod';
import { idSchema, textSchema } from '../schemas.ts';

export const holdPlacedSchema = z.strictObject({
  orderId: idSchema,
  reason: textSchema,
  /** The actor id of who placed it (the record's actor, kept in the data for the read side). */
  placedBy: idSchema,
});
export const holdReleasedSchema = z.strictObject({
  orderId: idSchema,
  reason: textSchema,
  releasedBy: idSchema,
});

export type HoldEvent =
  | { type: 'hold.placed'; data: z.infer<typeof holdPlacedSchema> }
  | { type: 'hold.released'; data: z.infer<typeof holdReleasedSchema> };

export const holdEventSchemas = {
  'hold.placed': holdPlacedSchema,
  'hold.released': holdReleasedSchema,
} as const;
