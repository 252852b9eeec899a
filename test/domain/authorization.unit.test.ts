/**
 * Who may do what is defined once (domain/authorization.ts): each command
 * route checks the roles its decider checks, and the decider accepts exactly
 * those, refusing every other role with FORBIDDEN_ROLE; each query route
 * takes its roles from the read definitions.
 */
import test from 'ava';
import { ROLES, hasRole, type Actor } from '../../domain/actor.ts';
import { COMMAND_ROLES, ORDER_READERS, READ_ROLES, type CommandName } from '../../domain/authorization.ts';
import { listingDecider } from '../../domain/catalog/listingDecider.ts';
import { fold } from '../../domain/decider.ts';
import { CodedError } from '../../domain/errors.ts';
import { deliveryDecider } from '../../domain/delivery/deliveryDecider.ts';
import { contentDeciderFor } from '../../domain/content/contentDecider.ts';
import type { DeliveryPrepared } from '../../domain/delivery/deliveryEvents.ts';
import { upgradeDecider } from '../../domain/governance/upgradeDecider.ts';
import { ledgerDecider } from '../../domain/ledger/ledgerDecider.ts';
import { proofDecider } from '../../domain/ledger/proofDecider.ts';
import { manifestDecider } from '../../domain/manifests/manifestDecider.ts';
import { orderDecider } from '../../domain/orders/orderDecider.ts';
import { holdDecider } from '../../domain/holds/holdDecider.ts';
import { payoutDecider } from '../../domain/payouts/payoutDecider.ts';
import { previewDecider } from '../../domain/previews/previewDecider.ts';
import type { PayoutInitiated } from '../../domain/payouts/payoutEvents.ts';
import { reconciliationDecider } from '../../domain/reconciliation/reconciliationDecider.ts';
import type { ReconciliationRecorded } from '../../domain/reconciliation/reconciliationEvents.ts';
import { emptyCounts } from '../../domain/reconciliation/lineClassifier.ts';
import type { OrderEvent } from '../../domain/orders/orderEvents.ts';
import { commandRoutes } from '../../infra/entrypoints/http/routes/commands.ts';
import { PAYMENT_PROVIDER } from '../../infra/entrypoints/http/routes/webhooks.ts';
import { ROUTES } from '../../infra/entrypoints/http/server.ts';
import {
  DELIVERY_KEY,
  SIGNATURE,
  listingPublished,
  artifactStored,
  manifestApproved,
  manifestDocument,
  orderCreated,
} from '../helpers/fixtures.ts';

/** The actor every probe runs as: the owner, buyer or named approver wherever a rule depends on who it is. */
const ACTOR_ID = 'actor-1';
/** A role no definition names. */
const UNKNOWN_ROLE = 'Intruder';

const NOW = '2026-01-01T00:00:00.000Z';
const LATER = '2026-01-08T00:00:00.000Z';
const proposal = {
  upgradeId: 'u-1',
  description: 'kernel 2.0',
  payloadSha256: 'c'.repeat(64),
  threshold: 2,
  approvers: [ACTOR_ID, 'k-2'],
  expiresAt: '2026-01-02T00:00:00.000Z',
};
const proposed = fold(upgradeDecider, [{ type: 'upgrade.proposed', data: { ...proposal, proposedBy: 'admin-1' } }]);
const submitted = fold(manifestDecider, [
  { type: 'manifest.submitted', data: manifestDocument() },
  artifactStored(manifestDocument()),
]);
const ownSubmitted = fold(manifestDecider, [
  { type: 'manifest.submitted', data: manifestDocument({ publisherId: ACTOR_ID }) },
]);
const ownApprovedManifest = fold(manifestDecider, manifestApproved(manifestDocument({ publisherId: ACTOR_ID })));
const ownListing = fold(listingDecider, [
  { type: 'listing.published', data: listingPublished({ publisherId: ACTOR_ID }) },
]);
const othersListing = fold(listingDecider, [{ type: 'listing.published', data: listingPublished() }]);
const created: OrderEvent[] = [{ type: 'order.created', data: orderCreated({ buyerId: ACTOR_ID }) }];
const paid: OrderEvent[] = [
  ...created,
  {
    type: 'order.paid',
    data: {
      orderId: 'o-1',
      providerPaymentId: 'pay-1',
      amountMinor: 1999,
      currency: 'EUR',
      ledgerTransactionId: 'payment-o-1',
    },
  },
];
const transaction = {
  transactionId: 't-1',
  reason: 'adjustment',
  entries: [
    { account: 'expense:hosting', direction: 'debit' as const, amountMinor: 500, currency: 'EUR' },
    { account: 'asset:bank', direction: 'credit' as const, amountMinor: 500, currency: 'EUR' },
  ],
};
const proof = {
  proofId: 'p-1',
  kind: 'ledger-range' as const,
  chain: 'main',
  fromSeq: 1,
  toSeq: 9,
  fromTs: NOW,
  toTs: '2026-01-01T00:00:01.000Z',
  rangeHash: 'a'.repeat(64),
  headHash: 'b'.repeat(64),
  ledgerRowCount: 3,
  signerKid: 'k',
  alg: 'ed25519',
  signature: 'c2ln',
  payloadSha256: 'c'.repeat(64),
};

const payout: PayoutInitiated = {
  payoutId: 'po-1',
  runId: 'run-1',
  partyId: 'seller-1',
  currency: 'EUR',
  amountMinor: 1500,
  sources: [{ account: 'liability:seller-payable:seller-1', amountMinor: 1500 }],
  nettedMinor: 0,
  ledgerTransactionId: 'payout-po-1',
};
const initiated = fold(payoutDecider, [{ type: 'payout.initiated', data: payout }]);
const reconciliation: ReconciliationRecorded = {
  reconciliationId: 'r-1',
  reportSha256: 'e'.repeat(64),
  format: 'csv',
  reportBytes: 10,
  lineCount: 1,
  fromTs: NOW,
  toTs: LATER,
  counts: emptyCounts(),
  discrepancyCount: 1,
};
const discrepancy = {
  discrepancyId: 'd1',
  kind: 'missing_in_ledger' as const,
  line: 2,
  providerTransactionId: 'txn_1',
  type: 'charge' as const,
  reference: 'o-9',
  ledgerAmountMinor: null,
  ledgerCurrency: null,
  reportedAmountMinor: 100,
  reportedCurrency: 'EUR',
  reportedFeeMinor: 0,
  orderIds: ['o-9'],
  partyIds: [],
};
const reconciled = fold(reconciliationDecider, [
  { type: 'reconciliation.recorded', data: reconciliation },
  { type: 'reconciliation.discrepancies_found', data: { reconciliationId: 'r-1', discrepancies: [discrepancy] } },
]);

const finalized = fold(orderDecider, [
  ...paid,
  {
    type: 'order.finalized',
    data: {
      orderId: 'o-1',
      ledgerTransactionId: 'finalize-o-1',
      manifestSignatureId: orderCreated().manifestSignatureId,
    },
  },
]);
const finalizedOrder = (finalized as Extract<typeof finalized, { order: unknown }>).order;
const prepared: DeliveryPrepared = {
  orderId: 'o-1',
  deliveryId: 'd-1',
  buyerId: finalizedOrder.buyerId,
  manifestId: finalizedOrder.manifestId,
  artifactSha256: 'a'.repeat(64),
  artifactBytes: 10,
  objectKey: 'deliveries/o-1/d-1',
  ciphertextSha256: 'b'.repeat(64),
  ciphertextBytes: 100,
  envelope: 'CHAINBOOK-DELIVERY-1',
  algorithm: 'ECDH-ES+A256KW',
  keyProvenance: { type: 'buyer-key', keyType: 'x25519', spkiSha256: 'c'.repeat(64) },
  manifestSignatureId: finalizedOrder.manifestSignatureId,
  ledgerProofId: 'lp-1',
};
const contentDecider = contentDeciderFor('i-1');
const quarantined = fold(contentDecider, [
  {
    type: 'content.quarantined',
    data: {
      inspectionId: 'i-1',
      subject: 'artifact',
      subjectId: 'm-1',
      publisherId: 'publisher-9',
      submittedBy: 'publisher-9',
      contentType: 'application/zip',
      sizeBytes: 10,
      tier: 'QUARANTINE',
      labels: ['content-type.mismatch'],
      pluginResults: [],
      expiresAt: NOW,
    },
  },
]);
const proven = fold(deliveryDecider, [
  { type: 'delivery.prepared', data: prepared },
  {
    type: 'delivery.proof_issued',
    data: {
      orderId: 'o-1',
      deliveryId: 'd-1',
      proofId: 'dproof-d-1',
      kind: 'delivery',
      deliverySeq: 9,
      deliveryHash: 'd'.repeat(64),
      signerKid: 'k',
      alg: 'ed25519',
      signature: 'c2ln',
      payloadSha256: 'e'.repeat(64),
      proofTs: NOW,
    },
  },
]);

/**
 * Each command decided by `actor` on a state where every check but the role
 * passes for ACTOR_ID: an allowed role gets events, any other is refused.
 */
const previewableManifest = fold(
  manifestDecider,
  manifestApproved(manifestDocument({ preview: { entryPoint: 'run', args: [], limits: {} } })),
);
const PREVIEW_MAXIMUMS = {
  cpuTimeSeconds: 10,
  memoryBytes: 268_435_456,
  processCount: 64,
  openFileCount: 128,
  outputBytes: 1_048_576,
  wallClockMs: 30_000,
};

const DECISIONS: Record<CommandName, (actor: Actor) => unknown[]> = {
  StartPreview: (actor) =>
    previewDecider.decide(
      {
        type: 'StartPreview',
        actor,
        previewId: 'pv-1',
        listing: othersListing,
        manifest: previewableManifest,
        maxLimits: PREVIEW_MAXIMUMS,
        seed: 'seed',
        runner: 'bubblewrap@test',
      },
      previewDecider.initialState,
    ),
  SubmitManifest: (actor) =>
    manifestDecider.decide(
      { type: 'SubmitManifest', actor, manifest: manifestDocument({ publisherId: actor.id }) },
      manifestDecider.initialState,
    ),
  RecordArtifact: (actor) =>
    manifestDecider.decide(
      {
        type: 'RecordArtifact',
        actor,
        artifactSha256: manifestDocument().artifactSha256,
        sizeBytes: manifestDocument().sizeBytes,
        objectKey: 'artifacts/m-1/upload-1',
      },
      ownSubmitted,
    ),
  ApproveManifest: (actor) =>
    manifestDecider.decide(
      {
        type: 'ApproveManifest',
        actor,
        manifestSha256: 'b'.repeat(64),
        manifestSignatureId: 'msig-1',
        signature: SIGNATURE,
      },
      submitted,
    ),
  RejectManifest: (actor) => manifestDecider.decide({ type: 'RejectManifest', actor, reason: 'unsafe' }, submitted),
  ProposeUpgrade: (actor) =>
    upgradeDecider.decide({ type: 'ProposeUpgrade', actor, now: NOW, proposal }, upgradeDecider.initialState),
  ApproveUpgrade: (actor) => upgradeDecider.decide({ type: 'ApproveUpgrade', actor, now: NOW }, proposed),
  RejectUpgrade: (actor) => upgradeDecider.decide({ type: 'RejectUpgrade', actor, now: NOW, reason: 'veto' }, proposed),
  ExpireUpgrade: (actor) => upgradeDecider.decide({ type: 'ExpireUpgrade', actor, now: LATER }, proposed),
  PublishListing: (actor) =>
    listingDecider.decide(
      { type: 'PublishListing', actor, listingId: 'l-1', manifest: ownApprovedManifest },
      listingDecider.initialState,
    ),
  ChangeListingPrice: (actor) =>
    listingDecider.decide({ type: 'ChangeListingPrice', actor, priceMinor: 2499 }, ownListing),
  DelistListing: (actor) => listingDecider.decide({ type: 'DelistListing', actor, reason: 'takedown' }, ownListing),
  CreateOrder: (actor) =>
    orderDecider.decide(
      {
        type: 'CreateOrder',
        actor,
        orderId: 'o-1',
        listing: othersListing,
        deliveryPublicKey: DELIVERY_KEY,
        platformFeeBasisPoints: 1000,
      },
      orderDecider.initialState,
    ),
  RecordPayment: (actor) =>
    orderDecider.decide(
      {
        type: 'RecordPayment',
        actor,
        providerPaymentId: 'pay-1',
        amountMinor: 1999,
        currency: 'EUR',
        outcome: 'succeeded',
      },
      fold(orderDecider, created),
    ),
  FinalizeOrder: (actor) => orderDecider.decide({ type: 'FinalizeOrder', actor }, fold(orderDecider, paid)),
  RefundOrder: (actor) =>
    orderDecider.decide({ type: 'RefundOrder', actor, reason: 'broken' }, fold(orderDecider, paid)),
  CancelOrder: (actor) =>
    orderDecider.decide({ type: 'CancelOrder', actor, reason: 'changed my mind' }, fold(orderDecider, created)),
  PostLedgerTransaction: (actor) =>
    ledgerDecider.decide({ type: 'PostLedgerTransaction', actor, transaction }, ledgerDecider.initialState),
  RecordProof: (actor) => proofDecider.decide({ type: 'RecordProof', actor, proof }, proofDecider.initialState),
  RunPayouts: (actor) => payoutDecider.decide({ type: 'InitiatePayout', actor, payout }, payoutDecider.initialState),
  PlaceOrderHold: (actor) =>
    holdDecider.decide({ type: 'PlaceOrderHold', actor, orderId: 'o1', reason: 'disputed' }, holdDecider.initialState),
  ReleaseOrderHold: (actor) =>
    holdDecider.decide({ type: 'ReleaseOrderHold', actor, orderId: 'o1', reason: 'cleared' }, { status: 'held' }),
  SubmitPayout: (actor) => payoutDecider.decide({ type: 'SubmitPayout', actor, provider: 'sandbox' }, initiated),
  Reconcile: (actor) =>
    reconciliationDecider.decide(
      { type: 'RecordReconciliation', actor, recorded: reconciliation, discrepancies: [discrepancy] },
      reconciliationDecider.initialState,
    ),
  ResolveDiscrepancy: (actor) =>
    reconciliationDecider.decide(
      { type: 'ResolveDiscrepancy', actor, discrepancyId: 'd1', reason: 'checked with the provider' },
      reconciled,
    ),
  RequestDelivery: (actor) =>
    deliveryDecider.decide(
      { type: 'IssueDeliveryLink', actor, order: finalized, linkId: 'l-1', expiresAt: LATER },
      proven,
    ),
  PrepareDelivery: (actor) =>
    deliveryDecider.decide(
      { type: 'PrepareDelivery', actor, order: finalized, prepared },
      deliveryDecider.initialState,
    ),
  RecordPayoutOutcome: (actor) =>
    payoutDecider.decide(
      {
        type: 'RecordPayoutOutcome',
        actor,
        outcome: 'settled',
        providerEventId: 'evt-1',
        amountMinor: 1500,
        currency: 'EUR',
      },
      initiated,
    ),
  ModerateContent: (actor) => contentDecider.decide({ type: 'ReleaseContent', actor, reason: 'fine' }, quarantined),
  ExpireContent: (actor) =>
    contentDecider.decide({ type: 'ExpireContent', actor, nowMs: Date.parse(LATER) }, quarantined),
  ResolvePayoutDiscrepancy: (actor) =>
    payoutDecider.decide(
      { type: 'ResolvePayoutDiscrepancy', actor, discrepancyId: 'd1', reason: 'checked with Stripe' },
      fold(payoutDecider, [
        { type: 'payout.initiated', data: payout },
        {
          type: 'payout.discrepancy_opened',
          data: {
            payoutId: 'po-1',
            discrepancyId: 'd1',
            kind: 'second_transfer',
            providerEventId: 'evt-2',
            providerReference: 'tr_2',
            detail: 'a second transfer',
            partyIds: ['seller-1'],
          },
        },
      ]),
    ),
};

/** The command each POST route runs. */
const COMMAND_OF_ROUTE: Record<string, CommandName> = {
  submitManifest: 'SubmitManifest',
  uploadArtifact: 'RecordArtifact',
  approveManifest: 'ApproveManifest',
  rejectManifest: 'RejectManifest',
  proposeUpgrade: 'ProposeUpgrade',
  approveUpgrade: 'ApproveUpgrade',
  rejectUpgrade: 'RejectUpgrade',
  expireUpgrade: 'ExpireUpgrade',
  publishListing: 'PublishListing',
  changeListingPrice: 'ChangeListingPrice',
  delistListing: 'DelistListing',
  checkout: 'CreateOrder',
  recordPayment: 'RecordPayment',
  finalizeOrder: 'FinalizeOrder',
  refundOrder: 'RefundOrder',
  cancelOrder: 'CancelOrder',
  postLedgerTransaction: 'PostLedgerTransaction',
  issueLedgerProof: 'RecordProof',
  runPayouts: 'RunPayouts',
  resubmitPayout: 'SubmitPayout',
  placeOrderHold: 'PlaceOrderHold',
  releaseOrderHold: 'ReleaseOrderHold',
  recordPayoutOutcome: 'RecordPayoutOutcome',
  reconcile: 'Reconcile',
  resolveDiscrepancy: 'ResolveDiscrepancy',
  resolvePayoutDiscrepancy: 'ResolvePayoutDiscrepancy',
  requestDelivery: 'RequestDelivery',
  prepareDelivery: 'PrepareDelivery',
  startPreview: 'StartPreview',
  releaseContent: 'ModerateContent',
  deleteContent: 'ModerateContent',
  expireQuarantine: 'ExpireContent',
};

/** The roles the command's decider lets through, and how it refuses the others. */
function decide(command: CommandName, role: string): { accepted: true } | { accepted: false; error: unknown } {
  try {
    const events = DECISIONS[command]({ id: ACTOR_ID, role });
    if (events.length === 0) throw new Error(`${command} by ${role} decided nothing: the probe's state is wrong`);
    return { accepted: true };
  } catch (error) {
    return { accepted: false, error };
  }
}

test('every command route runs one command and takes its roles from that command’s definition', (t) => {
  t.deepEqual(
    new Set(commandRoutes.map((route) => COMMAND_OF_ROUTE[route.operationId])),
    new Set(Object.keys(COMMAND_ROLES)),
  );
  for (const route of commandRoutes) {
    const command = COMMAND_OF_ROUTE[route.operationId];
    if (command === undefined) {
      t.fail(`the command route ${route.operationId} is not mapped to a command here`);
      continue;
    }
    t.is(route.roles, COMMAND_ROLES[command], route.operationId);
  }
});

test('a route’s roles are exactly the roles its decider accepts; the decider refuses every other role with FORBIDDEN_ROLE', (t) => {
  for (const route of commandRoutes) {
    const command = COMMAND_OF_ROUTE[route.operationId]!;
    const allowed = route.roles as readonly string[];
    const accepted: string[] = [];
    for (const role of [...ROLES, UNKNOWN_ROLE]) {
      const outcome = decide(command, role);
      if (outcome.accepted) {
        accepted.push(role);
        continue;
      }
      const { error } = outcome;
      if (allowed.includes(role)) {
        t.fail(`${command} by ${role}: the route allows it, the decider refused: ${String(error)}`);
        continue;
      }
      t.true(
        error instanceof CodedError && error.code === 'FORBIDDEN_ROLE',
        `${command} by ${role} is refused with ${String(error)}`,
      );
      if (error instanceof CodedError)
        t.deepEqual(error.details['allowed'], [...allowed], `${command}: the list the decider checks`);
    }
    t.deepEqual(
      accepted,
      ROLES.filter((role) => allowed.includes(role)),
      `${route.operationId} (${command})`,
    );
  }
});

test('whoever may pay, finalize or refund an order may post what it implies to the ledger, as its actor', (t) => {
  for (const command of ['RecordPayment', 'FinalizeOrder', 'RefundOrder'] as const) {
    for (const role of COMMAND_ROLES[command])
      t.true(hasRole({ id: ACTOR_ID, role }, COMMAND_ROLES.PostLedgerTransaction), `${command} by ${role}`);
  }
  t.true(hasRole(PAYMENT_PROVIDER, COMMAND_ROLES.RecordPayment), 'the payment webhook records payments');
  t.true(hasRole(PAYMENT_PROVIDER, COMMAND_ROLES.RecordPayoutOutcome), 'the payout webhook records payout outcomes');
  for (const command of ['RunPayouts', 'RecordPayoutOutcome'] as const) {
    for (const role of COMMAND_ROLES[command])
      t.true(hasRole({ id: ACTOR_ID, role }, COMMAND_ROLES.PostLedgerTransaction), `${command} by ${role}`);
  }
});

test('every query route takes its roles from the read definitions', (t) => {
  const commands = new Set<unknown>(commandRoutes);
  const reads: readonly unknown[] = Object.values(READ_ROLES);
  const queries = ROUTES.filter((route) => Array.isArray(route.roles) && !commands.has(route));
  t.true(queries.length > 0);
  for (const route of queries) t.true(reads.includes(route.roles), `${route.operationId} has a role list of its own`);
});

test('every role that may read orders sees them through exactly one rule', (t) => {
  for (const role of READ_ROLES.orders) {
    const rules = Object.entries(ORDER_READERS).filter(([, roles]) => (roles as readonly string[]).includes(role));
    t.is(rules.length, 1, `${role}: ${rules.map(([rule]) => rule).join(', ') || 'no rule'}`);
  }
});
