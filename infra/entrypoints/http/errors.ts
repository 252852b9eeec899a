/**
 * Every error code a caller can see, mapped to its HTTP status, in one place
 * (docs/STYLE.md rule 5). The body is always `{"error": {"code", "message",
 * "details"}}`; an error that is not a CodedError is a bug: the client gets
 * 500 INTERNAL with the request id, the log gets the stack.
 * test/infra/entrypoints/http/httpErrors.unit.test.ts checks that every code the domain, the
 * commands, the projections and the chain can throw is mapped here.
 */
import { CodedError } from '../../../domain/errors.ts';

/** Codes the HTTP layer itself produces. */
export const HTTP_ERROR_CODES = {
  INVALID_JSON: 400,
  INVALID_HEADER: 400,
  UNAUTHENTICATED: 401,
  /** mTLS required and the connection presented no client certificate (a non-public route). */
  CLIENT_CERTIFICATE_REQUIRED: 401,
  /** A client certificate that does not verify against TLS_CLIENT_CA_FILE (another CA, expired): refused even with a token. */
  CLIENT_CERTIFICATE_REJECTED: 401,
  WEBHOOK_SIGNATURE_INVALID: 401,
  NOT_FOUND: 404,
  RECORD_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  REQUEST_TIMEOUT: 408,
  BODY_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  /** More GET /chain/stream subscriptions open for one caller than MAX_STREAMS_PER_ACTOR. */
  STREAMS_PER_CLIENT_EXCEEDED: 429,
  HEADERS_TOO_LARGE: 431,
  /** A download link past its expiry, or of a revoked delivery (410: ask for a fresh link). */
  DELIVERY_LINK_EXPIRED: 410,
  DELIVERY_LINK_INVALID: 403,
  /** A moderator's view link to quarantined content past its expiry (410), or not one that was issued (403). */
  QUARANTINE_LINK_EXPIRED: 410,
  QUARANTINE_LINK_INVALID: 403,
  INTERNAL: 500,
  SHUTTING_DOWN: 503,
  WEBHOOK_NOT_CONFIGURED: 503,
  AUTHENTICATION_UNAVAILABLE: 503,
  /** The rate-limit tiers have not been read once yet: refused rather than unlimited (fail closed). */
  RATE_LIMITS_UNAVAILABLE: 503,
} as const;

/** Shape of the request (400): which field and why is in details. */
const VALIDATION = [
  'INVALID_INPUT',
  'INVALID_ID',
  'INVALID_REASON',
  'INVALID_DESCRIPTION',
  'INVALID_PRICE',
  'INVALID_CURRENCY',
  'INVALID_DELIVERY_KEY',
  'DELIVERY_KEY_NOT_FOR_ENCRYPTION',
  'INVALID_EVENT',
  'INVALID_CHAIN_NAME',
  'INVALID_ARGUMENT',
  'LEDGER_INVALID_AMOUNT',
  'LEDGER_INVALID_ACCOUNT',
  'LEDGER_INVALID_CURRENCY',
  'LEDGER_TOO_FEW_ENTRIES',
  'LEDGER_TOO_MANY_ENTRIES',
  'PAYOUT_INVALID_AMOUNT',
  'TREE_SIZE_OUT_OF_RANGE',
] as const;
/** The caller is known but may not do this (403). */
const FORBIDDEN = [
  'FORBIDDEN_ROLE',
  'LISTING_NOT_OWNER',
  'MANIFEST_PUBLISHER_MISMATCH',
  'ARTIFACT_NOT_PUBLISHER',
  'UPGRADE_APPROVER_NOT_NAMED',
  // A moderator does not moderate content it submitted itself.
  'CONTENT_SELF_MODERATION',
] as const;
/** What the command names does not exist (404). */
const NOT_FOUND = [
  'MANIFEST_NOT_FOUND',
  'PREVIEW_NOT_FOUND',
  'LISTING_NOT_FOUND',
  'ORDER_NOT_FOUND',
  'UPGRADE_NOT_FOUND',
  'UNKNOWN_CHAIN',
  'SIGNER_NOT_REGISTERED',
  'PAYOUT_NOT_FOUND',
  'PARTY_NOT_FOUND',
  'RECONCILIATION_NOT_FOUND',
  'PROOF_NOT_FOUND',
  'ARCHIVE_EMPTY',
  'ARCHIVE_OBJECT_NOT_FOUND',
  'DISCREPANCY_NOT_FOUND',
  'DELIVERY_NOT_FOUND',
  // GET /audit/bundle: the archive holds no batch, or no record, of the range (archive/auditBundle.ts).
  'BUNDLE_RANGE_EMPTY',
  'CHECKPOINT_NOT_FOUND',
  'CONTENT_NOT_FOUND',
] as const;
/** The current state forbids it, or another request changed it first (409): read again, then decide. */
const CONFLICT = [
  'STREAM_VERSION_CONFLICT',
  'STREAM_IN_OTHER_CHAIN',
  'STREAM_TOO_LONG',
  'CHAIN_EXISTS',
  'MANIFEST_EXISTS',
  'MANIFEST_NOT_PENDING',
  'MANIFEST_NOT_APPROVED',
  'ARTIFACT_ALREADY_STORED',
  'ARTIFACT_NOT_STORED',
  'LISTING_EXISTS',
  'LISTING_NOT_ACTIVE',
  'PREVIEW_EXISTS',
  'PREVIEW_ALREADY_FINISHED',
  'LISTING_PRICE_UNCHANGED',
  'ORDER_EXISTS',
  'ORDER_ALREADY_PAID',
  'ORDER_CANCELLED',
  'ORDER_NOT_AWAITING_PAYMENT',
  'ORDER_TOO_MANY_PAYMENT_ATTEMPTS',
  'ORDER_NOT_PAID',
  'ORDER_ALREADY_FINALIZED',
  'ORDER_NOT_REFUNDABLE',
  'ORDER_NOT_CANCELLABLE',
  'PAYMENT_CONFLICT',
  'PAYMENT_ID_IN_USE',
  'LEDGER_TRANSACTION_CONFLICT',
  'LEDGER_ACCOUNT_WOULD_GO_NEGATIVE',
  'UPGRADE_EXISTS',
  'UPGRADE_NOT_PENDING',
  'UPGRADE_EXPIRED',
  'UPGRADE_NOT_EXPIRED',
  'UPGRADE_ALREADY_APPROVED',
  'PROOF_EXISTS',
  'PAYOUT_EXISTS',
  'PAYOUT_ALREADY_DECIDED',
  'PAYOUT_TOO_MANY_DISCREPANCIES',
  'ORDER_ALREADY_HELD',
  'ORDER_NOT_HELD',
  'TOO_MANY_ORDER_HOLDS',
  'RECONCILIATION_EXISTS',
  'DISCREPANCY_ALREADY_RESOLVED',
  // Resubmitting a payout (commands/payouts/resubmitPayout.ts): held by a discrepancy, or past the provider's idempotency window.
  'PAYOUT_PARTY_HELD',
  'PAYOUT_RESUBMIT_WINDOW_PASSED',
  // Delivery (commands/delivery/deliverOrder.ts): the order or its delivery is not there yet, or not any more.
  'DELIVERY_NOT_READY',
  'ORDER_NOT_DELIVERABLE',
  'DELIVERY_REVOKED',
  'DELIVERY_NOT_PREPARED',
  'DELIVERY_LINK_LIMIT',
  'DELIVERY_MISMATCH',
  'DELIVERY_KEY_NOT_MANAGED',
  // Operator tools (signer rotation, replay): not HTTP routes today, mapped so any future route answers right.
  'SIGNER_EXISTS',
  'SIGNER_NOT_YET_DEPLOYED',
  'SIGNER_RETIRED',
  'SIGNER_NOT_IN_USE',
  'SIGNER_IN_USE',
  'REPLAY_TARGET_NOT_EMPTY',
  // GET /audit/bundle: the archive fails verification (details name the record), or lost a batch while it was bundled.
  'ARCHIVE_VERIFICATION_FAILED',
  // Checkpoints are Ed25519 signed notes (docs/FORMAT.md section 14): a chain signed with another algorithm has none.
  'CHECKPOINT_SIGNER_UNSUPPORTED',
  'ARCHIVE_CHANGED',
  // Content inspection (commands/content/): the submission is held for a moderator; the content is no longer held
  // (released, deleted, expired); quarantine is off; the held object fails its GCM check (reported, never served).
  'CONTENT_QUARANTINED',
  'CONTENT_NOT_HELD',
  'CONTENT_DECIDED',
  'CONTENT_NOT_EXPIRED',
  'QUARANTINE_DISABLED',
  'QUARANTINE_TAMPERED',
] as const;
/** Well-formed but breaks a business rule whatever the state (422). */
const UNPROCESSABLE = [
  'IDEMPOTENCY_KEY_REUSED',
  'ROYALTY_SPLIT_INVALID',
  'MANIFEST_SELF_APPROVAL',
  'ORDER_SELF_PURCHASE',
  // A preview the listing cannot give (docs/PREVIEWS.md): a hostile or oversized archive, limits above the operator's, none declared.
  'PREVIEW_ARCHIVE_REFUSED',
  'PREVIEW_LIMITS_ABOVE_MAXIMUM',
  'PREVIEW_NOT_DECLARED',
  'PREVIEW_ARTIFACT_MISSING',
  'PAYMENT_AMOUNT_MISMATCH',
  'ARTIFACT_SIZE_MISMATCH',
  // Opening a delivery envelope (commands/delivery/deliveryEnvelope.ts): what a buyer's tool reports.
  'DELIVERY_ENVELOPE_INVALID',
  'DELIVERY_DECRYPTION_FAILED',
  'ARTIFACT_HASH_MISMATCH',
  'LEDGER_UNBALANCED',
  'UPGRADE_THRESHOLD_INVALID',
  'UPGRADE_APPROVERS_INVALID',
  'UPGRADE_EXPIRY_INVALID',
  'PROOF_RANGE_INVALID',
  'PROOF_RANGE_EMPTY',
  'PROOF_RANGE_TOO_LARGE',
  'DEPLOYED_AT_NOT_IN_FUTURE',
  'RETIRED_AT_IN_PAST',
  'PAYOUT_AMOUNT_MISMATCH',
  'PAYOUT_INVALID_SOURCE',
  'PAYOUT_UNBALANCED',
  'PAYOUT_INVALID_TRANSACTION',
  'REPORT_INVALID',
  'RECONCILIATION_TOO_MANY_DISCREPANCIES',
  'RECONCILIATION_PERIOD_TOO_LARGE',
  // The content inspector blocked the submission (details: inspectionId, labels, the decision's seq).
  'CONTENT_BLOCKED',
] as const;
/** Larger than a documented bound (413). */
const TOO_LARGE = [
  'EVENT_TOO_LARGE',
  'TOO_MANY_EVENTS',
  'ARTIFACT_TOO_LARGE',
  'TOO_MANY_ACCOUNTS',
  'REPORT_TOO_LARGE',
  'BUNDLE_TOO_MANY_PROOFS',
  'QUARANTINE_TOO_LARGE_TO_VIEW',
] as const;
/** The service cannot take commands now; queries go on (503, retry later). */
const UNAVAILABLE = [
  'SIGNING_UNAVAILABLE',
  'WRITER_OVERLOADED',
  'WRITER_CLOSED',
  'PROJECTIONS_BEHIND',
  'PAYOUT_PROVIDER_NOT_CONFIGURED',
  // A delivery whose preparation failed and was recorded (details.failure, details.seq): asking again retries.
  'DELIVERY_FAILED',
  'DELIVERY_KEY_UNAVAILABLE',
  'DELIVERY_UNAVAILABLE',
  'PAYOUT_PROVIDER_UNAVAILABLE',
  'BUNDLES_BUSY',
  'STREAMS_BUSY',
  // The preview sandbox pool is drained (breakout procedure, shutdown) or cannot run here (no bubblewrap, no filter).
  'PREVIEW_POOL_DRAINED',
  'PREVIEW_SANDBOX_UNAVAILABLE',
  // The quarantine's master key is not the one that wrapped the content's data key.
  'QUARANTINE_KEY_MISMATCH',
  // Content to be held could not be stored (the quarantine bucket or the database failed): nothing recorded, retry.
  'QUARANTINE_UNAVAILABLE',
] as const;
/** A bug or corrupt data, never the caller's fault (500). */
const INTERNAL = [
  'INVALID_DOMAIN_EVENT',
  'INVALID_SIGNER_REGISTRY',
  'DELIVERY_ARTIFACT_CHANGED',
  // A chain that shows a gap or a broken link to a subscriber (chain/subscription.ts): ends a stream, never an answer.
  'STREAM_DISCONTINUITY',
] as const;

function statuses(codes: readonly string[], status: number): [string, number][] {
  return codes.map((code) => [code, status]);
}

export const HTTP_STATUS_BY_CODE: Readonly<Record<string, number>> = Object.freeze({
  ...Object.fromEntries([
    ...statuses(VALIDATION, 400),
    ...statuses(FORBIDDEN, 403),
    ...statuses(NOT_FOUND, 404),
    ...statuses(CONFLICT, 409),
    ...statuses(UNPROCESSABLE, 422),
    ...statuses(TOO_LARGE, 413),
    ...statuses(UNAVAILABLE, 503),
    ...statuses(INTERNAL, 500),
  ]),
  ...HTTP_ERROR_CODES,
  /** The preview pool and its queue are full (429, Retry-After: the pool's retryAfterSeconds). */
  PREVIEW_POOL_FULL: 429,
  /** The buyer has maxPerBuyer previews going on (429, Retry-After: the pool's retryAfterSeconds). */
  PREVIEW_BUYER_LIMIT: 429,
  /** Viewing quarantined content that was released, deleted or expired, before or while it was read (410). */
  QUARANTINE_CONTENT_GONE: 410,
});

/** Seconds a client should wait before retrying, by code (sent as Retry-After). */
const RETRY_AFTER_SECONDS: Readonly<Record<string, number>> = {
  SIGNING_UNAVAILABLE: 5,
  WRITER_OVERLOADED: 1,
  WRITER_CLOSED: 5,
  SHUTTING_DOWN: 5,
  PROJECTIONS_BEHIND: 30,
  AUTHENTICATION_UNAVAILABLE: 5,
  RATE_LIMITS_UNAVAILABLE: 5,
};

/** An error of the HTTP layer itself, with its response headers. */
export class HttpError extends CodedError {
  readonly headers: Readonly<Record<string, string>>;
  constructor(
    code: keyof typeof HTTP_ERROR_CODES,
    message: string,
    details: Record<string, unknown> = {},
    headers: Record<string, string> = {},
  ) {
    super(code, message, details);
    this.headers = headers;
  }
}

export interface ErrorBody {
  error: { code: string; message: string; details: Record<string, unknown> };
}

export interface ErrorResponse {
  status: number;
  body: ErrorBody;
  headers: Record<string, string>;
  /** Not a CodedError: a bug, logged with its stack. */
  internal: boolean;
}

/** Express's body parser reports failures with `type` and `status`. */
function bodyParserError(error: unknown): CodedError | undefined {
  const type = (error as { type?: unknown } | null)?.type;
  if (typeof type !== 'string') return undefined;
  const limit = (error as { limit?: unknown }).limit;
  switch (type) {
    case 'entity.too.large':
      return new HttpError('BODY_TOO_LARGE', `the body is larger than ${String(limit)} bytes`, { limitBytes: limit });
    case 'entity.parse.failed':
      return new HttpError('INVALID_JSON', 'the body is not a JSON object or array', {});
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new HttpError('UNSUPPORTED_MEDIA_TYPE', 'the body must be UTF-8 JSON', {});
    case 'request.aborted':
    case 'request.size.invalid':
    case 'stream.encoding.set':
    case 'parameters.too.many':
      return new HttpError('INVALID_JSON', `the body could not be read (${type})`, {});
    default:
      return undefined;
  }
}

/** The router decodes path parameters with decodeURIComponent, which throws on `%ud800` or a lone `%`. */
function undecodablePath(error: unknown): CodedError | undefined {
  if (!(error instanceof URIError)) return undefined;
  const problem = 'path: a parameter is not valid percent-encoded UTF-8';
  return new CodedError('INVALID_INPUT', `invalid input: ${problem}`, { problems: [problem] });
}

export function errorResponse(error: unknown, requestId: string): ErrorResponse {
  const coded = error instanceof CodedError ? error : (bodyParserError(error) ?? undecodablePath(error));
  const status = coded ? HTTP_STATUS_BY_CODE[coded.code] : undefined;
  if (!coded || status === undefined || status === 500) {
    return {
      status: 500,
      body: {
        error: {
          code: 'INTERNAL',
          message: `internal error; the log has it under request id ${requestId}`,
          details: { requestId },
        },
      },
      headers: {},
      internal: true,
    };
  }
  const headers: Record<string, string> = { ...(coded instanceof HttpError ? coded.headers : {}) };
  // A refusal that knows its own wait (the preview pool's retryAfterSeconds) says it; else the code's.
  const own = coded.details['retryAfterSeconds'];
  const retryAfter =
    typeof own === 'number' && Number.isInteger(own) && own > 0 ? own : RETRY_AFTER_SECONDS[coded.code];
  if (retryAfter !== undefined && headers['Retry-After'] === undefined) headers['Retry-After'] = String(retryAfter);
  return {
    status,
    body: { error: { code: coded.code, message: coded.message, details: { ...coded.details } } },
    headers,
    internal: false,
  };
}
