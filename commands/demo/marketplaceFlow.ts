/**
 * The marketplace's main flows as sequences of commands: a publisher gets a
 * product listed (submit, kernel approval, listing), a buyer buys it
 * (checkout, payment webhook, finalization). The demo, the benchmarks and the
 * tests drive the system through these, exactly as the HTTP API will.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import type { CommandDeps, CommandResult } from '../command.ts';
import { approveManifest } from '../manifests/approveManifest.ts';
import { submitManifest } from '../manifests/submitManifest.ts';
import { uploadArtifact } from '../manifests/uploadArtifact.ts';
import { publishListing } from '../catalog/listingCommands.ts';
import { checkout } from '../orders/checkout.ts';
import { recordPayment } from '../orders/recordPayment.ts';
import { finalizeOrder } from '../orders/finalizeOrder.ts';
import type { Actor } from '../../domain/actor.ts';
import type { RoyaltySplit } from '../../domain/manifests/manifestEvents.ts';
import { contextFor } from '../context.ts';

export const KERNEL_OPERATOR: Actor = { id: 'kernel-operator', role: 'Operator' };
export const PAYMENT_WEBHOOK: Actor = { id: 'payment-webhook', role: 'Service' };
export const SETTLEMENT_SERVICE: Actor = { id: 'settlement', role: 'Service' };
export const FINANCE_LEAD: Actor = { id: 'finance-lead', role: 'DivisionLead' };

export interface Product {
  name: string;
  version: string;
  priceMinor: number;
  currency: string;
  royaltySplits: RoyaltySplit[];
  artifactSha256: string;
  sizeBytes: number;
}

export interface ListedProduct {
  manifestId: string;
  listingId: string;
  manifestSignatureId: string;
  priceMinor: number;
  currency: string;
}

/** The demo's artifact of `sizeBytes` bytes: the same bytes for every product of that size, so a manifest can name their hash. */
export function demoArtifact(sizeBytes: number): Buffer {
  const line = Buffer.from('chainbook demo artifact\n');
  const bytes = Buffer.alloc(sizeBytes);
  for (let offset = 0; offset < sizeBytes; offset += line.length) line.copy(bytes, offset);
  return bytes;
}

/** The manifest fields of the demo artifact of `sizeBytes` bytes. */
export function demoArtifactFields(sizeBytes = 4096): { artifactSha256: string; sizeBytes: number } {
  return { artifactSha256: createHash('sha256').update(demoArtifact(sizeBytes)).digest('hex'), sizeBytes };
}

async function* chunksOf(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  yield bytes;
}

/** The publisher uploads `artifact` (by default the demo artifact of the manifest's size) for its submitted manifest. */
export async function uploadDemoArtifact(
  deps: CommandDeps,
  publisher: Actor,
  manifestId: string,
  artifact: Uint8Array,
): Promise<CommandResult> {
  return uploadArtifact(deps, { manifestId }, contextFor(publisher), chunksOf(artifact));
}

/** Submit, upload the artifact (the demo artifact of the product's size unless given), approve (kernel signature), list. */
export async function listProduct(
  deps: CommandDeps,
  publisher: Actor,
  product: Product,
  artifact: Uint8Array = demoArtifact(product.sizeBytes),
): Promise<ListedProduct> {
  const { manifestId } = await submitManifest(deps, product, contextFor(publisher));
  await uploadDemoArtifact(deps, publisher, manifestId, artifact);
  const approved = await approveManifest(deps, { manifestId }, contextFor(KERNEL_OPERATOR));
  const { listingId } = await publishListing(deps, { manifestId }, contextFor(publisher));
  return {
    manifestId,
    listingId,
    manifestSignatureId: approved.manifestSignatureId ?? '',
    priceMinor: product.priceMinor,
    currency: product.currency,
  };
}

/** A fresh delivery key (SPKI PEM of an X25519 key), as a buyer's browser would make one. */
export function deliveryKey(): string {
  return generateKeyPairSync('x25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
}

export interface Purchase {
  orderId: string;
  results: { checkout: CommandResult; paid: CommandResult; finalized: CommandResult };
  /** Milliseconds each step took. */
  latencyMs: { checkout: number; paid: number; finalized: number };
}

/** Checkout, a successful payment, finalization: 3 commands, 5 events. */
export async function purchase(
  deps: CommandDeps,
  buyer: Actor,
  listing: ListedProduct,
  paymentId: string,
  publicKeyPem: string,
): Promise<Purchase> {
  let started = performance.now();
  const created = await checkout(
    deps,
    { listingId: listing.listingId, deliveryPublicKey: publicKeyPem },
    contextFor(buyer),
  );
  const checkoutMs = performance.now() - started;
  started = performance.now();
  const payment = {
    orderId: created.orderId,
    providerPaymentId: paymentId,
    amountMinor: listing.priceMinor,
    currency: listing.currency,
    outcome: 'succeeded',
  };
  const paid = await recordPayment(
    deps,
    payment,
    contextFor(PAYMENT_WEBHOOK, { idempotencyKey: `webhook-${paymentId}` }),
  );
  const paidMs = performance.now() - started;
  started = performance.now();
  const finalized = await finalizeOrder(deps, { orderId: created.orderId }, contextFor(SETTLEMENT_SERVICE));
  const finalizedMs = performance.now() - started;
  return {
    orderId: created.orderId,
    results: { checkout: created, paid, finalized },
    latencyMs: { checkout: checkoutMs, paid: paidMs, finalized: finalizedMs },
  };
}
