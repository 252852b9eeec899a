/** Checkout (CreateOrder): a buyer orders an active listing at its current price, for a delivery key. */
import { z } from 'zod';
import { listingDecider } from '../../domain/catalog/listingDecider.ts';
import { MAX_PUBLIC_KEY_LENGTH } from '../../domain/orders/orderEvents.ts';
import { PLATFORM_FEE_BASIS_POINTS } from '../../domain/orders/orderPostings.ts';
import { streams } from '../../domain/streams.ts';
import {
  entityId,
  loadStream,
  parseInput,
  type CommandContext,
  type CommandDeps,
  type CommandResult,
} from '../command.ts';
import { LISTING_EVENT_TYPES } from '../catalog/listingCommands.ts';
import { entityIdSchema } from '../decideStream.ts';
import { deliveryKeyOf, parsedPublicKey } from './deliveryKey.ts';
import { runOrderCommand } from './orderStreams.ts';

function isPublicKeyPem(text: string): boolean {
  return parsedPublicKey(text) !== undefined && text.startsWith('-----BEGIN PUBLIC KEY-----');
}

export const checkoutInputSchema = z
  .strictObject({
    orderId: entityIdSchema.optional(),
    listingId: entityIdSchema,
    /** Option A: SPKI PEM of an encryption key (RSA ≥ 2048 bits, P-256, X25519): the artifact is encrypted for it on delivery. */
    deliveryPublicKey: z
      .string()
      .max(MAX_PUBLIC_KEY_LENGTH)
      .refine(isPublicKeyPem, 'must be an SPKI PEM public key (-----BEGIN PUBLIC KEY-----)')
      .optional(),
    /** Option B, for a buyer without a key pair: `managed`, the marketplace makes a data key for the order and releases it to the buyer. */
    deliveryKeyMode: z.literal('managed').optional(),
  })
  .refine((input) => (input.deliveryPublicKey === undefined) !== (input.deliveryKeyMode === undefined), {
    message: 'give deliveryPublicKey (your encryption key) or deliveryKeyMode "managed", exactly one',
  });

export async function checkout(
  deps: CommandDeps,
  input: unknown,
  context: CommandContext,
): Promise<CommandResult & { orderId: string }> {
  const { orderId: given, listingId, deliveryPublicKey } = parseInput(checkoutInputSchema, input);
  if (deliveryPublicKey !== undefined) deliveryKeyOf(deliveryPublicKey); // refuses a key the artifact could not be encrypted to, before anything is read or appended
  const orderId = entityId(context, given, 'order');
  // The listing is read, not locked: the order records the price it saw, which is the price "at that moment".
  const listing = await loadStream(deps.store, streams.listing(listingId), listingDecider, LISTING_EVENT_TYPES);
  const command = {
    type: 'CreateOrder' as const,
    actor: context.actor,
    orderId,
    listing: listing.state,
    deliveryPublicKey,
    platformFeeBasisPoints: PLATFORM_FEE_BASIS_POINTS,
  };
  const result = await runOrderCommand(deps, context, { operation: 'checkout', input }, orderId, command, {
    creates: true,
  });
  return { ...result, orderId };
}
