/** One POST route per command of the domain (docs/DOMAIN.md, "Commands"); roles as the deciders check them. */
import { z } from 'zod';
import {
  changeListingPrice,
  changeListingPriceInputSchema,
  delistListing,
  delistListingInputSchema,
  publishListing,
  publishListingInputSchema,
} from '../../../../commands/catalog/listingCommands.ts';
import {
  approveUpgrade,
  expireUpgrade,
  proposeUpgrade,
  proposeUpgradeInputSchema,
  rejectUpgrade,
  rejectUpgradeInputSchema,
  upgradeDecisionInputSchema,
} from '../../../../commands/governance/upgradeCommands.ts';
import { issueLedgerProof, issueLedgerProofInputSchema } from '../../../../commands/ledger/issueLedgerProof.ts';
import {
  postLedgerTransaction,
  postLedgerTransactionInputSchema,
} from '../../../../commands/ledger/postLedgerTransaction.ts';
import { approveManifest, approveManifestInputSchema } from '../../../../commands/manifests/approveManifest.ts';
import { rejectManifest, rejectManifestInputSchema } from '../../../../commands/manifests/rejectManifest.ts';
import { submitManifest, submitManifestInputSchema } from '../../../../commands/manifests/submitManifest.ts';
import { uploadArtifact, uploadArtifactInputSchema } from '../../../../commands/manifests/uploadArtifact.ts';
import { cancelOrder, cancelOrderInputSchema } from '../../../../commands/orders/cancelOrder.ts';
import { checkout, checkoutInputSchema } from '../../../../commands/orders/checkout.ts';
import { finalizeOrder, finalizeOrderInputSchema } from '../../../../commands/orders/finalizeOrder.ts';
import { recordPayment, recordPaymentInputSchema } from '../../../../commands/orders/recordPayment.ts';
import { refundOrder, refundOrderInputSchema } from '../../../../commands/orders/refundOrder.ts';
import {
  recordPayoutOutcome,
  recordPayoutOutcomeInputSchema,
} from '../../../../commands/payouts/recordPayoutOutcome.ts';
import { orderHoldInputSchema, placeOrderHold, releaseOrderHold } from '../../../../commands/holds/orderHolds.ts';
import { resubmitPayout, resubmitPayoutInputSchema } from '../../../../commands/payouts/resubmitPayout.ts';
import {
  resolvePayoutDiscrepancy,
  resolvePayoutDiscrepancyInputSchema,
} from '../../../../commands/payouts/resolvePayoutDiscrepancy.ts';
import { runPayouts, runPayoutsInputSchema } from '../../../../commands/payouts/runPayouts.ts';
import {
  resolveDiscrepancy,
  resolveDiscrepancyInputSchema,
} from '../../../../commands/reconciliation/resolveDiscrepancy.ts';
import { reconcileRoute } from './reconciliation.ts';
import { deliveryCommandRoutes } from './delivery.ts';
import { previewCommandRoutes } from './previews.ts';
import { contentCommandRoutes } from './content.ts';
import { COMMAND_ROLES } from '../../../../domain/authorization.ts';
import { commandRoute } from '../commandRoute.ts';
import type { RouteSpec } from '../route.ts';

/** A payout in a run's answer, and in a resubmission's. */
const payoutSummarySchema = z.object({
  payoutId: z.string(),
  partyId: z.string(),
  currency: z.string(),
  amountMinor: z.number().int(),
  nettedMinor: z.number().int().describe('what the party owed the platform, netted from its payables'),
  submitted: z
    .boolean()
    .describe('false: the provider could not be reached or refused it; it stays initiated until resubmitted'),
  refusal: z
    .string()
    .optional()
    .describe('when not submitted: why, in codes and ids (Stripe: HTTP status, error type and code, request id)'),
});

const signedProofSchema = z
  .record(z.string(), z.unknown())
  .describe('the signed proof (docs/FORMAT.md section 9): canonical_payload, signature, signer_kid, …');

/**
 * Declared types an artifact may be uploaded as (the content inspector checks the bytes against it). The
 * program types declare an executable: one uploaded under any other type is held for a moderator
 * (INSPECTION_EXECUTABLE_TIER). Not application/json: a JSON body on this route is a client sending a command body by mistake (415).
 */
export const ARTIFACT_CONTENT_TYPES = [
  'application/octet-stream',
  'application/zip',
  'application/gzip',
  'application/x-tar',
  'application/pdf',
  'text/plain',
  'image/png',
  'image/jpeg',
  'audio/mpeg',
  'video/mp4',
  'application/x-executable',
  'application/vnd.microsoft.portable-executable',
  'application/x-mach-binary',
  'application/wasm',
] as const;

export const commandRoutes: readonly RouteSpec[] = [
  commandRoute({
    operationId: 'submitManifest',
    path: '/manifests',
    summary: 'A publisher submits a manifest for the kernel to approve',
    tag: 'kernel',
    roles: COMMAND_ROLES.SubmitManifest,
    input: submitManifestInputSchema,
    handler: submitManifest,
    extra: { manifestId: z.string() },
  }),
  commandRoute({
    operationId: 'uploadArtifact',
    path: '/manifests/:manifestId/artifact',
    summary:
      "The publisher uploads the artifact of its submitted manifest: streamed, checked against the manifest's sizeBytes and artifactSha256",
    tag: 'kernel',
    roles: COMMAND_ROLES.RecordArtifact,
    input: uploadArtifactInputSchema,
    pathKeys: ['manifestId'],
    handler: uploadArtifact,
    streamedBody: {
      contentTypes: ARTIFACT_CONTENT_TYPES,
      description:
        "The artifact's bytes: exactly sizeBytes of them, whose SHA-256 is artifactSha256; at most ARTIFACT_MAX_BYTES. The Content-Type is the declared type, checked against the bytes' real type (application/octet-stream declares none)",
    },
    extra: { objectKey: z.string().optional().describe('where the artifact is kept in the artifact store') },
  }),
  commandRoute({
    operationId: 'approveManifest',
    path: '/manifests/:manifestId/approve',
    summary: 'The kernel signs and approves a submitted manifest',
    tag: 'kernel',
    roles: COMMAND_ROLES.ApproveManifest,
    input: approveManifestInputSchema,
    pathKeys: ['manifestId'],
    handler: approveManifest,
    extra: { manifestSignatureId: z.string().optional() },
  }),
  commandRoute({
    operationId: 'rejectManifest',
    path: '/manifests/:manifestId/reject',
    summary: 'The kernel rejects a submitted manifest, with a reason',
    tag: 'kernel',
    roles: COMMAND_ROLES.RejectManifest,
    input: rejectManifestInputSchema,
    pathKeys: ['manifestId'],
    handler: rejectManifest,
  }),
  commandRoute({
    operationId: 'proposeUpgrade',
    path: '/upgrades',
    summary: 'Propose a multisig kernel upgrade (k of n named approvers)',
    tag: 'kernel',
    roles: COMMAND_ROLES.ProposeUpgrade,
    input: proposeUpgradeInputSchema,
    handler: proposeUpgrade,
    extra: { upgradeId: z.string() },
  }),
  commandRoute({
    operationId: 'approveUpgrade',
    path: '/upgrades/:upgradeId/approve',
    summary: 'A named approver approves; the k-th approval applies the upgrade',
    tag: 'kernel',
    roles: COMMAND_ROLES.ApproveUpgrade,
    input: upgradeDecisionInputSchema,
    pathKeys: ['upgradeId'],
    handler: approveUpgrade,
  }),
  commandRoute({
    operationId: 'rejectUpgrade',
    path: '/upgrades/:upgradeId/reject',
    summary: "A named approver's veto",
    tag: 'kernel',
    roles: COMMAND_ROLES.RejectUpgrade,
    input: rejectUpgradeInputSchema,
    pathKeys: ['upgradeId'],
    handler: rejectUpgrade,
  }),
  commandRoute({
    operationId: 'expireUpgrade',
    path: '/upgrades/:upgradeId/expire',
    summary: 'Record that a pending upgrade passed its expiry',
    tag: 'kernel',
    roles: COMMAND_ROLES.ExpireUpgrade,
    input: upgradeDecisionInputSchema,
    pathKeys: ['upgradeId'],
    handler: expireUpgrade,
  }),
  commandRoute({
    operationId: 'publishListing',
    path: '/listings',
    summary: 'List a kernel-approved manifest for sale',
    tag: 'marketplace',
    roles: COMMAND_ROLES.PublishListing,
    input: publishListingInputSchema,
    handler: publishListing,
    extra: { listingId: z.string() },
  }),
  commandRoute({
    operationId: 'changeListingPrice',
    path: '/listings/:listingId/price',
    summary: "Change a listing's price",
    tag: 'marketplace',
    roles: COMMAND_ROLES.ChangeListingPrice,
    input: changeListingPriceInputSchema,
    pathKeys: ['listingId'],
    handler: changeListingPrice,
  }),
  commandRoute({
    operationId: 'delistListing',
    path: '/listings/:listingId/delist',
    summary: 'Take a listing down, with a reason',
    tag: 'marketplace',
    roles: COMMAND_ROLES.DelistListing,
    input: delistListingInputSchema,
    pathKeys: ['listingId'],
    handler: delistListing,
  }),
  commandRoute({
    operationId: 'checkout',
    path: '/orders',
    summary: 'Checkout: a buyer orders an active listing at its current price, for a delivery key',
    tag: 'marketplace',
    roles: COMMAND_ROLES.CreateOrder,
    input: checkoutInputSchema,
    handler: checkout,
    extra: { orderId: z.string() },
  }),
  commandRoute({
    operationId: 'recordPayment',
    path: '/orders/:orderId/payments',
    summary: 'Record a payment outcome (the webhook does this for the provider)',
    tag: 'marketplace',
    roles: COMMAND_ROLES.RecordPayment,
    input: recordPaymentInputSchema,
    pathKeys: ['orderId'],
    handler: recordPayment,
  }),
  commandRoute({
    operationId: 'finalizeOrder',
    path: '/orders/:orderId/finalize',
    summary: 'Settle a paid order: fee, seller and royalties posted to the ledger',
    tag: 'marketplace',
    roles: COMMAND_ROLES.FinalizeOrder,
    input: finalizeOrderInputSchema,
    pathKeys: ['orderId'],
    handler: finalizeOrder,
  }),
  commandRoute({
    operationId: 'refundOrder',
    path: '/orders/:orderId/refund',
    summary: 'Refund a paid or finalized order',
    tag: 'marketplace',
    roles: COMMAND_ROLES.RefundOrder,
    input: refundOrderInputSchema,
    pathKeys: ['orderId'],
    handler: refundOrder,
  }),
  commandRoute({
    operationId: 'cancelOrder',
    path: '/orders/:orderId/cancel',
    summary: 'Cancel an unpaid order (its buyer, or an operator)',
    tag: 'marketplace',
    roles: COMMAND_ROLES.CancelOrder,
    input: cancelOrderInputSchema,
    pathKeys: ['orderId'],
    handler: cancelOrder,
  }),
  commandRoute({
    operationId: 'postLedgerTransaction',
    path: '/ledger/transactions',
    summary: 'Post a balanced ledger transaction (idempotent by transaction id)',
    tag: 'finance',
    roles: COMMAND_ROLES.PostLedgerTransaction,
    input: postLedgerTransactionInputSchema,
    handler: postLedgerTransaction,
    extra: { transactionId: z.string() },
  }),
  commandRoute({
    operationId: 'issueLedgerProof',
    path: '/ledger/proofs',
    summary: 'Sign a ledger proof over a seq or time range of the chain',
    tag: 'finance',
    roles: COMMAND_ROLES.RecordProof,
    input: issueLedgerProofInputSchema,
    handler: issueLedgerProof,
    extra: { proof: signedProofSchema.optional() },
  }),
  commandRoute({
    operationId: 'runPayouts',
    path: '/payouts/runs',
    summary: 'A payout run: one payout per party and currency owed at least the minimum, sent to the payout provider',
    tag: 'finance',
    roles: COMMAND_ROLES.RunPayouts,
    input: runPayoutsInputSchema,
    handler: runPayouts,
    extra: {
      runId: z.string(),
      payouts: z.array(payoutSummarySchema),
    },
  }),
  commandRoute({
    operationId: 'placeOrderHold',
    path: '/orders/:orderId/hold',
    summary: 'Hold, with a reason, what an order put in its parties’ payables out of payout runs until it is released',
    tag: 'finance',
    roles: COMMAND_ROLES.PlaceOrderHold,
    input: orderHoldInputSchema,
    pathKeys: ['orderId'],
    handler: placeOrderHold,
  }),
  commandRoute({
    operationId: 'releaseOrderHold',
    path: '/orders/:orderId/release',
    summary: 'Release an order’s payout hold, with a reason: the next payout run pays what it held',
    tag: 'finance',
    roles: COMMAND_ROLES.ReleaseOrderHold,
    input: orderHoldInputSchema,
    pathKeys: ['orderId'],
    handler: releaseOrderHold,
  }),
  commandRoute({
    operationId: 'resubmitPayout',
    path: '/payouts/:payoutId/resubmit',
    summary:
      'Hand a payout the provider never accepted to it again, under the same payout id (its idempotency key: paid once); refused for a settled or failed payout',
    tag: 'finance',
    roles: COMMAND_ROLES.SubmitPayout,
    input: resubmitPayoutInputSchema,
    pathKeys: ['payoutId'],
    handler: resubmitPayout,
    extra: { payouts: z.array(payoutSummarySchema).length(1) },
  }),
  commandRoute({
    operationId: 'recordPayoutOutcome',
    path: '/payouts/:payoutId/outcome',
    summary: 'Record the payout provider’s answer for a payout (its webhook does this)',
    tag: 'finance',
    roles: COMMAND_ROLES.RecordPayoutOutcome,
    input: recordPayoutOutcomeInputSchema,
    pathKeys: ['payoutId'],
    handler: recordPayoutOutcome,
  }),
  reconcileRoute,
  commandRoute({
    operationId: 'resolveDiscrepancy',
    path: '/reconcile/:reconciliationId/discrepancies/:discrepancyId/resolve',
    summary: 'Resolve a reconciliation discrepancy with a reason; the hold it put on payouts lifts',
    tag: 'finance',
    roles: COMMAND_ROLES.ResolveDiscrepancy,
    input: resolveDiscrepancyInputSchema,
    pathKeys: ['reconciliationId', 'discrepancyId'],
    handler: resolveDiscrepancy,
  }),
  commandRoute({
    operationId: 'resolvePayoutDiscrepancy',
    path: '/payouts/:payoutId/discrepancies/:discrepancyId/resolve',
    summary:
      'Resolve a payout’s discrepancy (a provider answer that did not fit it) with a reason; the hold it put on payouts lifts',
    tag: 'finance',
    roles: COMMAND_ROLES.ResolvePayoutDiscrepancy,
    input: resolvePayoutDiscrepancyInputSchema,
    pathKeys: ['payoutId', 'discrepancyId'],
    handler: resolvePayoutDiscrepancy,
  }),
  ...deliveryCommandRoutes,
  ...previewCommandRoutes,
  ...contentCommandRoutes,
];
