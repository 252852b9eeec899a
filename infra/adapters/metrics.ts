/**
 * The process's Prometheus metrics: one prom-client Registry shared by every
 * part of infra. The HTTP API serves it at /metrics; metrics of other parts
 * are added here beside these.
 *
 * The signing metrics carry the names the signing runbook alerts on
 * (`kms_sign_latency_seconds`, `kms_errors_total`, `signing_proxy_health`);
 * the `backend` label says which signer (kms, pkcs11, proxy) they measure.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export const metricsRegistry = new Registry();

export const signLatencySeconds = new Histogram({
  name: 'kms_sign_latency_seconds',
  help: 'Latency of one successful remote signing call (KMS Sign, HSM C_Sign, signing proxy POST /sign), retries included; failures count in kms_errors_total',
  labelNames: ['backend'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [metricsRegistry],
});

export const signErrorsTotal = new Counter({
  name: 'kms_errors_total',
  help: 'Failed remote signing attempts, by backend and reason (throttled, timeout, circuit-open, unavailable, mismatch)',
  labelNames: ['backend', 'reason'] as const,
  registers: [metricsRegistry],
});

export const signingProxyHealth = new Gauge({
  name: 'signing_proxy_health',
  help: '1 when the last call to the signing proxy succeeded, 0 when it failed',
  registers: [metricsRegistry],
});

// The HTTP API's metrics, named as the marketplace and finance runbooks name
// them (dots become underscores in Prometheus).
const LATENCY_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export const checkpointWitnessFailuresTotal = new Counter({
  name: 'checkpoint_witness_failures_total',
  help: 'Checkpoints a configured witness did not cosign (unreachable, refused, a fork), by chain and witness name (docs/FORMAT.md section 14)',
  labelNames: ['chain', 'witness'] as const,
  registers: [metricsRegistry],
});

export const rateLimitRedisFallbacksTotal = new Counter({
  name: 'rate_limit_redis_fallbacks_total',
  help: 'Rate-limit decisions taken by this process alone because Redis failed or answered too late (fail open to per-process counting)',
  labelNames: ['route_class'] as const,
  registers: [metricsRegistry],
});

export const httpRequestDurationSeconds = new Histogram({
  name: 'http_request_duration_seconds',
  help: 'HTTP requests by method, route (the route pattern, not the URL) and status',
  labelNames: ['method', 'route', 'status'] as const,
  buckets: LATENCY_BUCKETS_SECONDS,
  registers: [metricsRegistry],
});

export const ordersTotal = new Counter({
  name: 'marketplace_orders_total',
  help: 'Order events appended, by event (created, paid, payment_failed, finalized, refunded, cancelled)',
  labelNames: ['event'] as const,
  registers: [metricsRegistry],
});

export const checkoutLatencySeconds = new Histogram({
  name: 'marketplace_checkout_latency_seconds',
  help: 'Latency of checkout (create order) commands, by outcome (ok or the error code)',
  labelNames: ['outcome'] as const,
  buckets: LATENCY_BUCKETS_SECONDS,
  registers: [metricsRegistry],
});

/** `marketplace.delivery_encrypt_failures_total` as the marketplace runbook names it (SLO: under 0.1% of orders). */
export const deliveryEncryptFailuresTotal = new Counter({
  name: 'marketplace_delivery_encrypt_failures_total',
  help: 'Delivery preparations that failed and were recorded as delivery.failed, by reason (artifact_missing, manifest_signature_invalid, …)',
  labelNames: ['reason'] as const,
  registers: [metricsRegistry],
});

/** Seconds from a buyer's request to a stored, recorded delivery (kernel check, encryption, storage, ledger proof). */
export const deliveryLatencySeconds = new Histogram({
  name: 'marketplace_delivery_latency_seconds',
  help: 'Latency of preparing a delivery (kernel signature check, encryption, storage, records), by outcome (prepared or the failure reason)',
  labelNames: ['outcome'] as const,
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
  registers: [metricsRegistry],
});

/** `marketplace.royalty_payouts_total` as the marketplace runbook names it: payouts to sellers and royalty holders. */
export const royaltyPayoutsTotal = new Counter({
  name: 'marketplace_royalty_payouts_total',
  help: 'Payout events appended, by event (initiated, submitted, settled, failed, reversed) and currency',
  labelNames: ['event', 'currency'] as const,
  registers: [metricsRegistry],
});

/** `finance.reconciliation_discrepancies_total` as the finance runbook names it: what reconciliation runs found. */
export const reconciliationDiscrepanciesTotal = new Counter({
  name: 'finance_reconciliation_discrepancies_total',
  help: 'Discrepancies with the payment provider, by kind: found by reconciliation runs (missing_in_ledger, missing_at_provider, amount_mismatch, currency_mismatch, duplicate, fee_difference) or by a payout provider answer that did not fit its payout (second_transfer, transfer_mismatch, reversed_after_settlement, partial_reversal)',
  labelNames: ['kind'] as const,
  registers: [metricsRegistry],
});

export const ledgerPostsTotal = new Counter({
  name: 'finance_ledger_posts_total',
  help: 'Ledger transactions posted (ledger.posted events appended), by the command that posted them',
  labelNames: ['command'] as const,
  registers: [metricsRegistry],
});

export const ledgerPostLatencySeconds = new Histogram({
  name: 'finance_ledger_post_latency_seconds',
  help: 'Latency of commands that posted to the ledger (payments, finalization, refunds, manual posts)',
  labelNames: ['command'] as const,
  buckets: LATENCY_BUCKETS_SECONDS,
  registers: [metricsRegistry],
});

export const proofGenerationDurationSeconds = new Histogram({
  name: 'finance_proof_generation_duration_seconds',
  help: 'Duration of ledger proof issuance (read the range, hash, sign, append), by outcome',
  labelNames: ['outcome'] as const,
  buckets: LATENCY_BUCKETS_SECONDS,
  registers: [metricsRegistry],
});

export const auditAppendLatencySeconds = new Histogram({
  name: 'audit_append_latency_seconds',
  help: 'Latency of one append to the chain (queue, seal, sign, commit), by outcome (ok or the error code)',
  labelNames: ['outcome'] as const,
  buckets: LATENCY_BUCKETS_SECONDS,
  registers: [metricsRegistry],
});

/**
 * Archive export (`chainbook export`), named as the runbooks alert on
 * (`<service>.audit_export_success_total`): the `service` label is the
 * archive's service (marketplace, finance, …).
 */
export const auditExportSuccessTotal = new Counter({
  name: 'audit_export_success_total',
  help: 'Export runs that completed: every pending record archived (or nothing was pending)',
  labelNames: ['service'] as const,
  registers: [metricsRegistry],
});

export const auditExportFailuresTotal = new Counter({
  name: 'audit_export_failures_total',
  help: 'Export runs that failed: reason integrity (the database or the archive failed a check) or error (could not run: storage, database, signer)',
  labelNames: ['service', 'reason'] as const,
  registers: [metricsRegistry],
});

export const archiveExportBatchesTotal = new Counter({
  name: 'archive_export_batches_total',
  help: 'Archive batches committed (object and signed manifest written)',
  labelNames: ['service', 'chain'] as const,
  registers: [metricsRegistry],
});

export const archiveExportRecordsTotal = new Counter({
  name: 'archive_export_records_total',
  help: 'Records archived',
  labelNames: ['service', 'chain'] as const,
  registers: [metricsRegistry],
});

export const archiveExportLastSuccessSeconds = new Gauge({
  name: 'archive_export_last_success_timestamp_seconds',
  help: 'Unix time of the last export run that completed',
  labelNames: ['service'] as const,
  registers: [metricsRegistry],
});

/** Live subscriptions to the chain over HTTP (GET /chain/stream), now. */
export const auditStreamSubscribers = new Gauge({
  name: 'audit_stream_subscribers',
  help: 'Subscriptions to the chain open now over GET /chain/stream',
  registers: [metricsRegistry],
});

export const auditStreamRecordsSentTotal = new Counter({
  name: 'audit_stream_records_sent_total',
  help: 'Records sent to subscribers of GET /chain/stream, by format (sse, ndjson)',
  labelNames: ['format'] as const,
  registers: [metricsRegistry],
});

/**
 * The relays of the audit stream (infra/adapters/stream/relay.ts): how far
 * the relay holding the lease is behind the chain's head, by relay
 * (`kafka:<topic>`, `eventstore:<prefix>`) and chain. A standby process
 * reports none.
 */
export const auditStreamLagRecords = new Gauge({
  name: 'audit_stream_lag_records',
  help: 'Records of the chain not yet acknowledged by the relay target (head seq minus the relay position), by relay and chain',
  labelNames: ['relay', 'chain'] as const,
  registers: [metricsRegistry],
});

export const auditStreamRelayStopped = new Gauge({
  name: 'audit_stream_relay_stopped',
  help: 'A relay stopped by an error no retry cures (1; 0 while it runs or waits for the lease), by relay and chain',
  labelNames: ['relay', 'chain'] as const,
  registers: [metricsRegistry],
});

export const auditStreamRelayedRecordsTotal = new Counter({
  name: 'audit_stream_relayed_records_total',
  help: 'Records the relay target acknowledged (sent again after a restart included), by relay',
  labelNames: ['relay'] as const,
  registers: [metricsRegistry],
});

export const auditStreamRelayErrorsTotal = new Counter({
  name: 'audit_stream_relay_errors_total',
  help: 'Failed relay attempts (a send the target did not acknowledge, the database unreachable), each tried again, by relay',
  labelNames: ['relay'] as const,
  registers: [metricsRegistry],
});

// The preview sandbox's metrics, named as the marketplace runbook names them (docs/PREVIEWS.md, "Metrics").
export const previewSessionCount = new Gauge({
  name: 'session_count',
  help: 'Preview sandbox sessions running now',
  registers: [metricsRegistry],
});

export const previewSessionDurationSeconds = new Histogram({
  name: 'session_duration_histogram',
  help: 'Wall-clock seconds of preview sandbox sessions, by outcome (exited, expired, truncated, killed)',
  labelNames: ['outcome'] as const,
  buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
  registers: [metricsRegistry],
});

export const sandboxFailuresTotal = new Counter({
  name: 'sandbox_failures_total',
  help: 'Preview runs that did not run to an exit: archive refused, sandbox unavailable, killed by drain or shutdown, pool full',
  labelNames: ['reason'] as const,
  registers: [metricsRegistry],
});

export const auditWriteFailuresTotal = new Counter({
  name: 'audit_write_failures_total',
  help: 'Preview outcomes that could not be appended to the chain at once (signer or database down); each is retried until it is',
  registers: [metricsRegistry],
});

export const previewQueueLength = new Gauge({
  name: 'preview_queue_length',
  help: 'Preview runs waiting for a free sandbox slot',
  registers: [metricsRegistry],
});

// Content inspection and the quarantine (docs/DOMAIN.md, "Content inspection"), named as the security
// pipeline's deployment guide alerts on them: inspection p95 over 500 ms, BLOCK and QUARANTINE rates,
// quarantine size, expired clean-up count and backlog.
export const contentInspectionSeconds = new Histogram({
  name: 'content_inspection_duration_seconds',
  help: 'Time of one content inspection, every plugin included, by subject (manifest, listing, artifact) and tier',
  labelNames: ['subject', 'tier'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [metricsRegistry],
});

export const contentDecisionsTotal = new Counter({
  name: 'content_decisions_total',
  help: 'Content inspections by tier (CLEAR, QUARANTINE, BLOCK) and subject',
  labelNames: ['tier', 'subject'] as const,
  registers: [metricsRegistry],
});

export const contentPluginFailuresTotal = new Counter({
  name: 'content_plugin_failures_total',
  help: 'Plugin results that were not answers: a timeout or an error (recorded with INSPECTION_FAILURE_TIER)',
  labelNames: ['plugin', 'outcome'] as const,
  registers: [metricsRegistry],
});

export const quarantineHeldBytes = new Gauge({
  name: 'quarantine_held_bytes',
  help: 'Bytes of content held in the quarantine (plaintext size; the objects are that plus 16 bytes each)',
  registers: [metricsRegistry],
});

export const quarantineHeldRecords = new Gauge({
  name: 'quarantine_held_records',
  help: 'Submissions held in the quarantine',
  registers: [metricsRegistry],
});

export const quarantineExpiredTotal = new Counter({
  name: 'quarantine_expired_total',
  help: 'Quarantined records the expiry job shredded and recorded as content.expired',
  registers: [metricsRegistry],
});

export const quarantineExpiryBacklog = new Gauge({
  name: 'quarantine_expiry_backlog',
  help: 'Held records already past QUARANTINE_EXPIRY_HOURS and not yet shredded',
  registers: [metricsRegistry],
});

export const rateLimitedTotal = new Counter({
  name: 'rate_limited_total',
  help: 'Requests answered 429 RATE_LIMITED, by limit tier',
  labelNames: ['tier'] as const,
  registers: [metricsRegistry],
});

// The kernel guide's section 9 metrics beside audit append latency: head-hash compute latency and
// signatures per second (rate() of signatures_total), and the failures its alerts name.

/** Time to link and hash one batch onto its chain head (canonical payloads, preimages, SHA-256), per batch. */
export const headHashComputeSeconds = new Histogram({
  name: 'audit_head_hash_compute_seconds',
  help: 'Time to link and hash one batch of records onto the chain head (docs/FORMAT.md sections 1 and 2), per batch',
  buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1],
  registers: [metricsRegistry],
});

/** Signatures made, by backend (local, kms, pkcs11, proxy, breakglass; session for delegated session keys) and algorithm. */
export const signaturesTotal = new Counter({
  name: 'signatures_total',
  help: 'Signatures made (records, manifests, proofs), by signer backend and algorithm; rate() is signatures per second',
  labelNames: ['backend', 'algorithm'] as const,
  registers: [metricsRegistry],
});

/** Records, batches or documents that failed verification, by where it was found and the finding's reason. */
export const verificationFailuresTotal = new Counter({
  name: 'audit_verification_failures_total',
  help: 'Verification findings (a hash, link or signature that does not hold; a fork a witness refused), by source (export, index, witness) and reason',
  labelNames: ['source', 'reason'] as const,
  registers: [metricsRegistry],
});

/** `finance.ledger_posts_total`'s failures: commands that would have posted to the ledger and did not. */
export const ledgerPostFailuresTotal = new Counter({
  name: 'finance_ledger_post_failures_total',
  help: 'Ledger-posting commands (payments, finalization, refunds, manual posts) that failed, by command and error code (LEDGER_UNBALANCED: an imbalance refused)',
  labelNames: ['command', 'code'] as const,
  registers: [metricsRegistry],
});
