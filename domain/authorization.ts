/**
 * Who may do what, in one place (DESIGN.md roles). Per command (by the type
 * of the decider's command), the roles that may run it; per read, the roles
 * that may read. Deciders check these lists with requireRole; the HTTP routes
 * take their `roles` from the same lists and check them first. Rules that
 * depend on state stay in the deciders (a Publisher manages only its own
 * listings, a Buyer cancels only its own orders, only named approvers decide
 * on an upgrade), and which orders a reader sees in the orders projection.
 */
import { ROLES, type Role } from './actor.ts';

/** Kernel roles that may approve or reject a manifest (kernel runbook, RBAC). */
const KERNEL_ROLES: readonly Role[] = ['Operator', 'DivisionLead', 'SuperAdmin'];
/** Roles that may run finance operations: manual ledger posts, proofs. */
const FINANCE_ROLES: readonly Role[] = ['Operator', 'DivisionLead', 'SuperAdmin', 'Service'];
/** Roles that may settle orders on behalf of the platform (payment webhook, finalization). */
const SETTLEMENT_ROLES: readonly Role[] = ['Service', 'Operator', 'SuperAdmin'];
/** Roles that may propose a kernel upgrade. */
const GOVERNANCE_ROLES: readonly Role[] = ['SuperAdmin', 'DivisionLead'];
/** Roles that read everything (an Auditor reads everything and writes nothing). */
const READ_ALL_ROLES: readonly Role[] = ['SuperAdmin', 'DivisionLead', 'Operator', 'Auditor', 'Service'];

/** Operators may act on any listing (takedowns); a Publisher only on its own. */
export const LISTING_ADMIN_ROLES: readonly Role[] = ['Operator', 'DivisionLead', 'SuperAdmin'];
/** Roles that refund an order, and cancel any order; a Buyer cancels only its own. */
export const REFUND_ROLES: readonly Role[] = [...new Set([...SETTLEMENT_ROLES, ...KERNEL_ROLES])];

/** Recording how a preview run ended: the service that ran it (no route: the preview runner records it). */
export const PREVIEW_RECORDER_ROLES: readonly Role[] = ['Service'];

const LISTING_ROLES: readonly Role[] = ['Publisher', ...LISTING_ADMIN_ROLES];
/** Who submits content that is inspected (manifests, artifacts, listings): the decision is recorded as theirs (docs/DOMAIN.md, "Content inspection"). */
export const CONTENT_SUBMITTER_ROLES: readonly Role[] = LISTING_ROLES;

/** The roles that may run each command, by the type of the decider's command. */
export const COMMAND_ROLES = {
  SubmitManifest: ['Publisher'],
  /** Uploading the artifact of a submitted manifest: only its own publisher. */
  RecordArtifact: ['Publisher'],
  ApproveManifest: KERNEL_ROLES,
  RejectManifest: KERNEL_ROLES,
  ProposeUpgrade: GOVERNANCE_ROLES,
  /** And only the upgrade's named approvers. */
  ApproveUpgrade: KERNEL_ROLES,
  RejectUpgrade: KERNEL_ROLES,
  ExpireUpgrade: [...GOVERNANCE_ROLES, 'Operator', 'Service'],
  PublishListing: LISTING_ROLES,
  ChangeListingPrice: LISTING_ROLES,
  DelistListing: LISTING_ROLES,
  /** Checkout. */
  CreateOrder: ['Buyer'],
  RecordPayment: SETTLEMENT_ROLES,
  FinalizeOrder: SETTLEMENT_ROLES,
  RefundOrder: REFUND_ROLES,
  CancelOrder: ['Buyer', ...REFUND_ROLES],
  /** Order commands post to the ledger as their actor too. */
  PostLedgerTransaction: [...new Set([...FINANCE_ROLES, ...SETTLEMENT_ROLES])],
  /** Issuing a ledger proof: an Auditor verifies proofs, it appends nothing. */
  RecordProof: FINANCE_ROLES,
  /** A payout run: one payout per party and currency, from its payables. */
  RunPayouts: FINANCE_ROLES,
  /** Holding what one order put in the payables out of payout runs, with a reason (docs/DOMAIN.md, "Payouts"). */
  PlaceOrderHold: FINANCE_ROLES,
  /** Releasing that hold, with a reason: the next run pays it. */
  ReleaseOrderHold: FINANCE_ROLES,
  /** Recording that the payout provider accepted a payout: in a run, or when finance resubmits one it never accepted. */
  SubmitPayout: FINANCE_ROLES,
  /** The payout provider's answer (its webhook, as Service), or finance recording it by hand. */
  RecordPayoutOutcome: SETTLEMENT_ROLES,
  /** Reconciling the ledger with a payment provider's report (docs/DOMAIN.md, "Reconciliation"). */
  Reconcile: FINANCE_ROLES,
  /** Resolving a discrepancy, with a reason: this lifts the hold on payouts it put. */
  ResolveDiscrepancy: FINANCE_ROLES,
  /** Resolving a payout's discrepancy (a provider answer that did not fit), with a reason: its hold lifts. */
  ResolvePayoutDiscrepancy: FINANCE_ROLES,
  /** Asking for an order's delivery and its links: only the order's own buyer (checked in the decider). */
  RequestDelivery: ['Buyer'],
  /** Encrypting, storing and proving a delivery: the marketplace's delivery service (on the buyer's request), or an operator retrying one. */
  PrepareDelivery: ['Service', 'Operator'],
  /** Running a listed item's preview in the sandbox (docs/PREVIEWS.md): a buyer, for itself. */
  StartPreview: ['Buyer'],
  /** Viewing, releasing or deleting quarantined content: human admin roles only (never Service, never an Auditor). */
  ModerateContent: KERNEL_ROLES,
  /** The expiry job shreds quarantined content past QUARANTINE_EXPIRY_HOURS. */
  ExpireContent: ['Service', ...KERNEL_ROLES],
} as const satisfies Record<string, readonly Role[]>;
export type CommandName = keyof typeof COMMAND_ROLES;

/** The roles that may read each part of the read side. */
export const READ_ROLES = {
  /** Listings and manifests: everyone with a token (the listing page itself, GET /catalog, is public: the shop window). */
  catalog: ROLES,
  /** Everyone with a token, each seeing the orders ORDER_READERS gives it. */
  orders: ROLES,
  ledger: [...new Set([...FINANCE_ROLES, 'Auditor' as const])],
  /** Payouts and statements: finance and Auditors see every party's, a Publisher only its own (PAYOUT_READERS). */
  payouts: [...new Set([...FINANCE_ROLES, 'Auditor' as const, 'Publisher' as const])],
  /** The archive's batches and manifests (auditor exports): read-only. */
  archive: READ_ALL_ROLES,
  /** A managed delivery key (Option B): only a buyer, of its own order (checked in the handler). */
  deliveryKey: ['Buyer'],
  /** Reconciliation runs and their reports. */
  reconciliation: [...new Set([...FINANCE_ROLES, 'Auditor' as const])],
  governance: READ_ALL_ROLES,
  chain: READ_ALL_ROLES,
  /** The live stream of the chain (GET /chain/stream): the audit stream's consumers, Auditors, services and the admin roles. */
  stream: READ_ALL_ROLES,
  /** A preview run: only the buyer that asked for it (checked in the handler; others see no such preview). */
  previews: ['Buyer'],
  /** What the quarantine holds (metadata, view links): the moderators, human admin roles only. */
  quarantine: KERNEL_ROLES,
} as const satisfies Record<string, readonly Role[]>;

/** Which parties' payouts and statements a reader sees: every party's, or its own (a Publisher). */
export const PAYOUT_READERS = {
  all: [...new Set([...FINANCE_ROLES, 'Auditor' as const])],
  own: ['Publisher'],
} as const satisfies Record<string, readonly Role[]>;

/** Which orders a reader sees: every order, those it placed (buyer), or those of its listings (seller). */
export const ORDER_READERS = {
  all: READ_ALL_ROLES,
  buyer: ['Buyer'],
  seller: ['Publisher'],
} as const satisfies Record<string, readonly Role[]>;
