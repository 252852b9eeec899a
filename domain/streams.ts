/**
 * The stream each event belongs to, `<category>-<id>`: one per aggregate
 * instance. Commands append to it; projections check that a record's stream
 * is the one its data names.
 */
import { assertNever } from './errors.ts';
import type { DomainEvent } from './domainEvents.ts';

export const streams = {
  manifest: (manifestId: string) => `manifest-${manifestId}`,
  upgrade: (upgradeId: string) => `upgrade-${upgradeId}`,
  listing: (listingId: string) => `listing-${listingId}`,
  order: (orderId: string) => `order-${orderId}`,
  ledgerTransaction: (transactionId: string) => `ledger-${transactionId}`,
  proof: (proofId: string) => `proof-${proofId}`,
  payout: (payoutId: string) => `payout-${payoutId}`,
  reconciliation: (reconciliationId: string) => `reconciliation-${reconciliationId}`,
  delivery: (orderId: string) => `delivery-${orderId}`,
  /** A payout hold on an order (domain/holds). */
  hold: (orderId: string) => `hold-${orderId}`,
  /** A buyer's preview run (domain/previews). */
  preview: (previewId: string) => `preview-${previewId}`,
  /** One inspected submission and its moderation (domain/content). */
  content: (inspectionId: string) => `content-${inspectionId}`,
} as const;

export function streamOf(event: DomainEvent): string {
  switch (event.type) {
    case 'manifest.submitted':
    case 'manifest.artifact_stored':
    case 'manifest.approved':
    case 'manifest.rejected':
      return streams.manifest(event.data.manifestId);
    case 'upgrade.proposed':
    case 'upgrade.approved':
    case 'upgrade.applied':
    case 'upgrade.rejected':
    case 'upgrade.expired':
      return streams.upgrade(event.data.upgradeId);
    case 'listing.published':
    case 'listing.price_changed':
    case 'listing.delisted':
      return streams.listing(event.data.listingId);
    case 'order.created':
    case 'order.payment_failed':
    case 'order.paid':
    case 'order.finalized':
    case 'order.refunded':
    case 'order.cancelled':
      return streams.order(event.data.orderId);
    case 'ledger.posted':
      return streams.ledgerTransaction(event.data.transactionId);
    case 'ledger.proof_issued':
      return streams.proof(event.data.proofId);
    case 'payout.initiated':
    case 'payout.submitted':
    case 'payout.settled':
    case 'payout.failed':
    case 'payout.reversed':
    case 'payout.discrepancy_opened':
    case 'payout.discrepancy_resolved':
      return streams.payout(event.data.payoutId);
    case 'hold.placed':
    case 'hold.released':
      return streams.hold(event.data.orderId);
    case 'preview.started':
    case 'preview.exited':
    case 'preview.expired':
      return streams.preview(event.data.previewId);
    case 'reconciliation.recorded':
    case 'reconciliation.discrepancies_found':
    case 'reconciliation.discrepancy_resolved':
      return streams.reconciliation(event.data.reconciliationId);
    case 'delivery.prepared':
    case 'delivery.proof_issued':
    case 'delivery.link_issued':
    case 'delivery.failed':
    case 'delivery.revoked':
      return streams.delivery(event.data.orderId);
    case 'content.passed':
    case 'content.quarantined':
    case 'content.blocked':
    case 'content.released':
    case 'content.deleted':
    case 'content.expired':
      return streams.content(event.data.inspectionId);
    default:
      return assertNever(event, 'event');
  }
}
