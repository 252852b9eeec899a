/**
 * Delivering a finalized order (docs/DOMAIN.md, "Delivery"). The buyer asks
 * (requestDelivery); the marketplace's delivery service prepares what is
 * not prepared yet, then the buyer gets a short-lived link:
 *
 *   1. the kernel's signature over the manifest is checked again against the
 *      signer registry; a manifest whose signature no longer verifies is not
 *      delivered;
 *   2. the artifact streams from the artifact store through the envelope
 *      (docs/FORMAT.md section 11), encrypted for the buyer's key (Option A)
 *      or a fresh managed data key (Option B), into the delivery store,
 *      counted and hashed on the way;
 *   3. one append records a ledger proof over the order's postings and
 *      `delivery.prepared`; a second signs the delivery proof over that
 *      record (its seq and hash are known only once it is committed) and
 *      records `delivery.proof_issued`;
 *   4. `delivery.link_issued` records each link.
 *
 * A failure of 1 or 2 is recorded as `delivery.failed` with its code and the
 * order stays finalized: asking again retries. A refused append leaves no
 * object behind. A delivery whose object is gone (its lifetime ended) is
 * prepared again under a new delivery id.
 */
import { createHash, createSecretKey } from 'node:crypto';
import { z } from 'zod';
import { jcs } from '../../chain/canonical.ts';
import { deliveryProofPayload, signDeliveryProof, type SignedDeliveryProof } from '../../chain/deliveryProof.ts';
import { sha256Hex } from '../../chain/hash.ts';
import { signProof, type SignedProof } from '../../chain/proof.ts';
import type { ChainRecord } from '../../chain/record.ts';
import type { Actor } from '../../domain/actor.ts';
import {
  checkDeliveryRequest,
  checkPreparable,
  deliveryDecider,
  type DeliveryCommand,
  type DeliveryState,
} from '../../domain/delivery/deliveryDecider.ts';
import {
  deliveryEventSchemas,
  type DeliveryFailureCode,
  type DeliveryPrepared,
  type KeyProvenance,
} from '../../domain/delivery/deliveryEvents.ts';
import { CodedError } from '../../domain/errors.ts';
import { proofDecider } from '../../domain/ledger/proofDecider.ts';
import { manifestDecider } from '../../domain/manifests/manifestDecider.ts';
import type { ManifestEvent } from '../../domain/manifests/manifestEvents.ts';
import { orderDecider, type OrderState } from '../../domain/orders/orderDecider.ts';
import { orderTransactionIds } from '../../domain/orders/orderPostings.ts';
import { streams } from '../../domain/streams.ts';
import type { ListableBlobStore } from '../blobStore.ts';
import {
  answeredBefore,
  execute,
  loadStream,
  parseInput,
  type CommandContext,
  type CommandDeps,
  type CommandResult,
  type StreamAppend,
} from '../command.ts';
import { entityIdSchema, typesOf } from '../decideStream.ts';
import { issuedEvent, rangePayload } from '../ledger/issueLedgerProof.ts';
import { MANIFEST_EVENT_TYPES } from '../manifests/submitManifest.ts';
import { deliveryKeyOf, KEY_MANAGEMENT_ALGORITHM } from '../orders/deliveryKey.ts';
import { ORDER_EVENT_TYPES } from '../orders/orderStreams.ts';
import type { DataKeyService } from './dataKeys.ts';
import { encryptEnvelope, ENVELOPE_MAGIC, type EnvelopeRecipient } from './deliveryEnvelope.ts';
import { DELIVERY_OBJECT_PREFIX } from './sweepDeliveries.ts';

export const DELIVERY_EVENT_TYPES = typesOf(deliveryEventSchemas);

/** The marketplace's delivery service: the actor of what it records on a buyer's request. */
export const DELIVERY_SERVICE_ACTOR: Actor = { id: 'marketplace-delivery', role: 'Service' };

/**
 * A ledger proof of a delivery covers the order's payment through its
 * finalization when that range holds at most this many records; on a busier
 * chain, the finalization alone (the posting that splits the sale).
 */
export const DELIVERY_LEDGER_PROOF_MAX_RECORDS = 10_000;

/** What delivery needs besides the command deps every handler has. */
export interface DeliveryDeps {
  /** Where ciphertexts are kept (DELIVERY_S3_BUCKET or `<data dir>/deliveries`). */
  store: ListableBlobStore;
  /** Option B's data keys (DELIVERY_KEY_SERVICE). */
  dataKeys: DataKeyService;
  /** DELIVERY_LINK_TTL, in seconds. */
  linkTtlSeconds: number;
  /** DELIVERY_OBJECT_LIFETIME, in seconds: a ciphertext that would not outlive a link issued now is prepared again. */
  objectLifetimeSeconds: number;
  /** The time a proof is signed and a link issued (RFC 3339 UTC, ms); the wall clock unless a test gives one. */
  clock?: () => string;
  /** The problem with a kernel signature under the signer registry at `tsMs`, or undefined (docs/FORMAT.md section 5, check 5b). */
  kernelSignatureProblem(
    signature: { kid: string; alg: string; value: string },
    tsMs: number,
    message: Uint8Array,
  ): string | undefined;
  /** Counts and times each preparation (marketplace_delivery_encrypt_failures_total, marketplace_delivery_latency_seconds). */
  observe?(outcome: 'prepared' | DeliveryFailureCode, seconds: number): void;
}

export const requestDeliveryInputSchema = z.strictObject({ orderId: entityIdSchema });
export const prepareDeliveryInputSchema = z.strictObject({ orderId: entityIdSchema });

/** What the buyer is given: a link to record, what the ciphertext is, and the proof that names it. */
export interface DeliveryAnswer {
  orderId: string;
  deliveryId: string;
  objectKey: string;
  ciphertextSha256: string;
  ciphertextBytes: number;
  keyProvenance: KeyProvenance;
  proofId: string;
  link?: { linkId: string; expiresAt: string };
}

/** A preparation that failed and was recorded: the command answers it as an error after the record. */
export class DeliveryFailed extends CodedError {
  constructor(
    readonly failure: DeliveryFailureCode,
    reason: string,
    readonly seq: number | undefined,
  ) {
    super(`DELIVERY_FAILED`, `the delivery could not be prepared (${failure}): ${reason}`, {
      failure,
      reason,
      ...(seq === undefined ? {} : { seq }),
    });
  }
}

interface LoadedDelivery {
  version: number;
  state: DeliveryState;
  /** The current `delivery.prepared` record's seq and hash, for its proof. */
  preparedRecord: { seq: number; hash: string; ts: string } | undefined;
}

async function loadDelivery(deps: CommandDeps, orderId: string): Promise<LoadedDelivery> {
  let preparedRecord: LoadedDelivery['preparedRecord'];
  const { version, state } = await loadStream(
    deps.store,
    streams.delivery(orderId),
    deliveryDecider,
    DELIVERY_EVENT_TYPES,
    (event, record) => {
      if (event.type === 'delivery.prepared') preparedRecord = { seq: record.seq, hash: record.hash, ts: record.ts };
    },
  );
  return { version, state, preparedRecord };
}

async function loadOrder(deps: CommandDeps, orderId: string): Promise<OrderState> {
  return (await loadStream(deps.store, streams.order(orderId), orderDecider, ORDER_EVENT_TYPES)).state;
}

function deliveryDeps(deps: CommandDeps): DeliveryDeps {
  if (!deps.delivery) throw new CodedError('DELIVERY_UNAVAILABLE', 'delivery is not configured in this process', {});
  return deps.delivery;
}

function nowOf(delivery: DeliveryDeps): string {
  return delivery.clock?.() ?? new Date().toISOString();
}

/**
 * What a failure's record says of its cause: our own coded message, or only
 * the name of a storage or key-service error (never its text, which may carry
 * paths or bucket names into the append-only chain).
 */
function causeOf(error: unknown): string {
  if (error instanceof CodedError) return error.message;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const name = error instanceof Error ? error.name : typeof error;
  return typeof code === 'string' ? `${name} ${code}` : name;
}

function serviceContext(context: CommandContext): CommandContext {
  // The buyer's idempotency key is not the service's: each step of a preparation is decided on the stream.
  return { ...context, actor: DELIVERY_SERVICE_ACTOR, idempotencyKey: undefined };
}

/** The first record of a stream (a ledger transaction's one `ledger.posted`), or undefined. */
async function firstRecord(deps: CommandDeps, stream: string): Promise<ChainRecord | undefined> {
  return (await deps.store.readStream(stream, { fromVersion: 1, limit: 1 }))[0]?.record;
}

/** The approved manifest, its kernel signature as recorded, and the time it was recorded: one read of its stream. */
async function approvedManifest(deps: CommandDeps, manifestId: string) {
  let approval: { data: Extract<ManifestEvent, { type: 'manifest.approved' }>['data']; ts: string } | undefined;
  const loaded = await loadStream(
    deps.store,
    streams.manifest(manifestId),
    manifestDecider,
    MANIFEST_EVENT_TYPES,
    (event, record) => {
      if (event.type === 'manifest.approved') approval = { data: event.data, ts: record.ts };
    },
  );
  if (loaded.state.status !== 'approved') return undefined;
  return { state: loaded.state, approval };
}

/** Step 1: the reason the kernel's signature over the order's manifest does not hold today, or undefined. */
async function kernelSignatureFailure(
  deps: CommandDeps,
  delivery: DeliveryDeps,
  order: Extract<OrderState, { order: unknown }>['order'],
): Promise<string | undefined> {
  const manifest = await approvedManifest(deps, order.manifestId);
  if (!manifest?.approval) return `manifest ${order.manifestId} is not approved`;
  const { data, ts } = manifest.approval;
  if (data.manifestSignatureId !== order.manifestSignatureId)
    return `the manifest's signature is ${data.manifestSignatureId}, the order cites ${order.manifestSignatureId}`;
  if (sha256Hex(jcs(manifest.state.manifest)) !== data.manifestSha256)
    return 'the signed manifestSha256 is not the SHA-256 of the manifest document';
  const problem = delivery.kernelSignatureProblem(
    data.signature,
    Date.parse(ts),
    Buffer.from(data.manifestSha256, 'hex'),
  );
  return problem && `the kernel signature ${order.manifestSignatureId}: ${problem}`;
}

/** Passes the chunks on while counting and hashing them. */
async function* counted(
  body: AsyncIterable<Uint8Array>,
  result: { bytes: number; sha256: string },
): AsyncIterable<Uint8Array> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of body) {
    bytes += chunk.byteLength;
    hash.update(chunk);
    yield chunk;
  }
  result.bytes = bytes;
  result.sha256 = hash.digest('hex');
}

/** The envelope's recipient and how the chain names it. */
async function recipientOf(
  delivery: DeliveryDeps,
  order: Extract<OrderState, { order: unknown }>['order'],
  deliveryId: string,
): Promise<{
  recipient: EnvelopeRecipient;
  provenance: KeyProvenance;
  algorithm: DeliveryPrepared['algorithm'];
  /** Forgets the managed data key once the envelope is written. */
  discard(): void;
}> {
  if (order.deliveryPublicKey !== undefined) {
    const key = deliveryKeyOf(order.deliveryPublicKey);
    return {
      recipient: key,
      provenance: { type: 'buyer-key', keyType: key.keyType, spkiSha256: key.spkiSha256 },
      algorithm: KEY_MANAGEMENT_ALGORITHM[key.keyType],
      discard: () => undefined,
    };
  }
  const { dataKeys } = delivery;
  const generated = await dataKeys.generate(order.orderId);
  const keyId = `dk-${deliveryId}`;
  return {
    recipient: { alg: 'A256KW', key: createSecretKey(generated.plaintext), kid: keyId },
    provenance: {
      type: 'managed-key',
      keyId,
      origin: dataKeys.origin,
      wrappingKeyId: dataKeys.wrappingKeyId,
      wrappedKey: generated.wrapped.toString('base64url'),
    },
    algorithm: 'A256KW',
    // The KeyObject holds its own copy, dropped with it; this zeroes ours.
    discard: () => generated.plaintext.fill(0),
  };
}

/** Records a failed preparation and answers it as DELIVERY_FAILED. */
async function fail(
  deps: CommandDeps,
  context: CommandContext,
  orderId: string,
  code: DeliveryFailureCode,
  reason: string,
  started: number,
): Promise<never> {
  deliveryDeps(deps).observe?.(code, (performance.now() - started) / 1000);
  const result = await execute(
    deps,
    serviceContext(context),
    { operation: 'recordDeliveryFailure', input: { orderId } },
    async () => {
      const [order, loaded] = await Promise.all([loadOrder(deps, orderId), loadDelivery(deps, orderId)]);
      const command: DeliveryCommand = {
        type: 'RecordDeliveryFailure',
        actor: DELIVERY_SERVICE_ACTOR,
        order,
        code,
        reason: reason.slice(0, 1000),
      };
      return [
        {
          stream: streams.delivery(orderId),
          expectedVersion: loaded.version,
          events: deliveryDecider.decide(command, loaded.state),
        },
      ];
    },
  );
  throw new DeliveryFailed(code, reason, result.seqs[0]);
}

/** Step 3a: the ledger proof over the order's postings, decided and signed, ready to append. */
async function orderLedgerProof(
  deps: CommandDeps,
  context: CommandContext,
  orderId: string,
): Promise<{ append: StreamAppend; proof: SignedProof }> {
  const payment = await firstRecord(deps, streams.ledgerTransaction(orderTransactionIds.payment(orderId)));
  const finalize = await firstRecord(deps, streams.ledgerTransaction(orderTransactionIds.finalize(orderId)));
  if (!payment || !finalize)
    throw new CodedError('DELIVERY_NOT_READY', `order ${orderId} has no finalization posting yet`, { orderId });
  const fromSeq = finalize.seq - payment.seq < DELIVERY_LEDGER_PROOF_MAX_RECORDS ? payment.seq : finalize.seq;
  const proofId = context.newId();
  const payload = await rangePayload(deps, { fromSeq, toSeq: finalize.seq }, proofId, context.now);
  const proof = await signProof(payload, deps.signer);
  const events = proofDecider.decide(
    { type: 'RecordProof', actor: DELIVERY_SERVICE_ACTOR, proof: issuedEvent(proof) },
    proofDecider.initialState,
  );
  return { append: { stream: streams.proof(proofId), expectedVersion: 0, events }, proof };
}

/**
 * Steps 1–3: encrypts and stores the artifact, records it with a ledger
 * proof. Two requests preparing the same order at once both encrypt, but only
 * the first to append records its delivery: the other finds the delivery it
 * started from replaced, deletes its own object and uses the winner's.
 */
async function prepare(deps: CommandDeps, context: CommandContext, orderId: string): Promise<void> {
  const delivery = deliveryDeps(deps);
  const started = performance.now();
  const order = await loadOrder(deps, orderId);
  const before = await loadDelivery(deps, orderId);
  checkPreparable(DELIVERY_SERVICE_ACTOR, order, before.state);
  const seen = before.state.prepared?.deliveryId ?? null;
  const created = (order as Extract<OrderState, { order: unknown }>).order;
  const failed = (code: DeliveryFailureCode, reason: string) => fail(deps, context, orderId, code, reason, started);
  const signatureFailure = await kernelSignatureFailure(deps, delivery, created);
  if (signatureFailure) return failed('manifest_signature_invalid', signatureFailure);
  const artifact = (await approvedManifest(deps, created.manifestId))!.state.artifact;
  if (!artifact) return failed('artifact_missing', `manifest ${created.manifestId} has no stored artifact`);
  const deliveryId = context.newId();
  // The key first: a key service that fails leaves no artifact stream open.
  let recipient: Awaited<ReturnType<typeof recipientOf>>;
  try {
    recipient = await recipientOf(delivery, created, deliveryId);
  } catch (error) {
    return failed('key_service_unavailable', `the key service did not make a data key (${causeOf(error)})`);
  }
  try {
    await encryptAndRecord(deps, context, { orderId, deliveryId, seen, created, artifact, recipient, started });
  } finally {
    recipient.discard();
  }
}

interface Preparation {
  orderId: string;
  deliveryId: string;
  /** The delivery the preparation started from (null: none). */
  seen: string | null;
  created: Extract<OrderState, { order: unknown }>['order'];
  artifact: { objectKey: string; sizeBytes: number; artifactSha256: string };
  recipient: Awaited<ReturnType<typeof recipientOf>>;
  started: number;
}

async function encryptAndRecord(deps: CommandDeps, context: CommandContext, preparation: Preparation): Promise<void> {
  const delivery = deliveryDeps(deps);
  const { orderId, deliveryId, seen, created, artifact, recipient, started } = preparation;
  const failed = (code: DeliveryFailureCode, reason: string) => fail(deps, context, orderId, code, reason, started);
  let body: AsyncIterable<Uint8Array> | undefined;
  try {
    body = await deps.artifacts.store.get(artifact.objectKey);
  } catch (error) {
    return failed('storage_failed', `the artifact store did not answer (${causeOf(error)})`);
  }
  if (!body)
    return failed('artifact_missing', `the artifact of manifest ${created.manifestId} is not in the artifact store`);
  const objectKey = `${DELIVERY_OBJECT_PREFIX}${orderId}/${deliveryId}`;
  const ciphertext = { bytes: 0, sha256: '' };
  try {
    await delivery.store.put(
      objectKey,
      counted(
        encryptEnvelope(body, recipient.recipient, {
          sizeBytes: artifact.sizeBytes,
          artifactSha256: artifact.artifactSha256,
        }),
        ciphertext,
      ),
    );
  } catch (error) {
    const changed = error instanceof CodedError && error.code === 'DELIVERY_ARTIFACT_CHANGED';
    return changed
      ? failed('artifact_changed', causeOf(error))
      : failed('storage_failed', `the artifact could not be read or the delivery store written (${causeOf(error)})`);
  }
  const prepared: DeliveryPrepared = {
    orderId,
    deliveryId,
    buyerId: created.buyerId,
    manifestId: created.manifestId,
    artifactSha256: artifact.artifactSha256,
    artifactBytes: artifact.sizeBytes,
    objectKey,
    ciphertextSha256: ciphertext.sha256,
    ciphertextBytes: ciphertext.bytes,
    envelope: ENVELOPE_MAGIC,
    algorithm: recipient.algorithm,
    keyProvenance: recipient.provenance,
    manifestSignatureId: created.manifestSignatureId,
    ledgerProofId: '',
  };
  const service = serviceContext(context);
  let ledgerProof: SignedProof | undefined;
  let superseded = false;
  try {
    await execute(deps, service, { operation: 'prepareDelivery', input: { orderId } }, async () => {
      const [current, loaded] = await Promise.all([loadOrder(deps, orderId), loadDelivery(deps, orderId)]);
      checkPreparable(DELIVERY_SERVICE_ACTOR, current, loaded.state);
      // Another request recorded a delivery since this one started: it is the order's, ours is dropped.
      superseded = (loaded.state.prepared?.deliveryId ?? null) !== seen;
      if (superseded) return [];
      const { append, proof } = await orderLedgerProof(deps, service, orderId);
      ledgerProof = proof;
      const command: DeliveryCommand = {
        type: 'PrepareDelivery',
        actor: DELIVERY_SERVICE_ACTOR,
        order: current,
        prepared: { ...prepared, ledgerProofId: proof.proof_id },
      };
      const events = deliveryDecider.decide(command, loaded.state);
      return [append, { stream: streams.delivery(orderId), expectedVersion: loaded.version, events }];
    });
  } catch (error) {
    // Nothing was recorded: the object is no one's.
    await delivery.store.delete(objectKey).catch(() => undefined);
    throw error;
  }
  if (superseded) {
    await delivery.store.delete(objectKey).catch(() => undefined);
    return;
  }
  // Recorded: from here the object is the delivery's, whatever fails.
  delivery.observe?.('prepared', (performance.now() - started) / 1000);
  if (ledgerProof)
    await deps.proofs.save(ledgerProof).catch(() => {
      throw new CodedError(
        'DELIVERY_UNAVAILABLE',
        'the delivery was recorded but its ledger proof document could not be kept (replay rebuilds it): ask again',
        { orderId },
      );
    });
}

/** Step 3b: the signed delivery proof over the current `delivery.prepared` record. */
async function prove(
  deps: CommandDeps,
  context: CommandContext,
  orderId: string,
): Promise<SignedDeliveryProof | undefined> {
  const service = serviceContext(context);
  let document: SignedDeliveryProof | undefined;
  await execute(deps, service, { operation: 'proveDelivery', input: { orderId } }, async () => {
    const loaded = await loadDelivery(deps, orderId);
    const { prepared, proof } = loaded.state;
    if (!prepared || proof || !loaded.preparedRecord) return [];
    const payload = deliveryProofPayload(
      { chain: deps.chain, ...loaded.preparedRecord, data: prepared },
      {
        proofId: `dproof-${prepared.deliveryId}`,
        ts: nowOf(deliveryDeps(deps)),
        signerKid: deps.signer.kid,
        alg: deps.signer.algorithm,
      },
    );
    document = await signDeliveryProof(payload, deps.signer);
    const events = deliveryDecider.decide(
      {
        type: 'RecordDeliveryProof',
        actor: DELIVERY_SERVICE_ACTOR,
        proof: {
          orderId,
          deliveryId: prepared.deliveryId,
          proofId: document.proof_id,
          kind: 'delivery',
          deliverySeq: document.delivery_seq,
          deliveryHash: document.delivery_hash,
          signerKid: document.signer_kid,
          alg: document.alg,
          signature: document.signature,
          payloadSha256: sha256Hex(document.canonical_payload),
          proofTs: document.ts,
        },
      },
      loaded.state,
    );
    return [{ stream: streams.delivery(orderId), expectedVersion: loaded.version, events }];
  });
  return document;
}

/**
 * Whether the current preparation can be linked to: its ciphertext is still
 * stored, and will be for a whole link's lifetime from now (the store's
 * lifetime sweep would otherwise cut a fresh link short).
 */
async function linkable(delivery: DeliveryDeps, loaded: LoadedDelivery): Promise<boolean> {
  const { prepared } = loaded.state;
  if (!prepared || !loaded.preparedRecord) return false;
  const sweptAtMs = Date.parse(loaded.preparedRecord.ts) + delivery.objectLifetimeSeconds * 1000;
  if (Date.parse(nowOf(delivery)) + delivery.linkTtlSeconds * 1000 > sweptAtMs) return false;
  try {
    return (await delivery.store.head(prepared.objectKey)) !== undefined;
  } catch (error) {
    throw new CodedError('DELIVERY_UNAVAILABLE', `the delivery store did not answer (${causeOf(error)})`, {});
  }
}

/**
 * Prepares and proves what is missing, from the delivery as `loaded` saw it;
 * answers the delivery as it then stands, read again only when something
 * was appended (a link to a delivery already proven costs no second read).
 */
async function ensurePrepared(
  deps: CommandDeps,
  context: CommandContext,
  orderId: string,
  loaded: LoadedDelivery,
): Promise<LoadedDelivery> {
  let current = loaded;
  if (!(await linkable(deliveryDeps(deps), current))) {
    await prepare(deps, context, orderId);
    current = await loadDelivery(deps, orderId);
  }
  if (current.state.proof !== null) return current;
  await prove(deps, context, orderId);
  return loadDelivery(deps, orderId);
}

function answerOf(state: DeliveryState): DeliveryAnswer {
  const { prepared, proof } = state;
  if (!prepared || !proof) throw new CodedError('DELIVERY_NOT_PREPARED', 'the delivery is not prepared', {});
  return {
    orderId: prepared.orderId,
    deliveryId: prepared.deliveryId,
    objectKey: prepared.objectKey,
    ciphertextSha256: prepared.ciphertextSha256,
    ciphertextBytes: prepared.ciphertextBytes,
    keyProvenance: prepared.keyProvenance,
    proofId: proof.proofId,
  };
}

/**
 * The buyer's request: prepares the delivery if needed and issues a fresh
 * link (`delivery.link_issued`), valid DELIVERY_LINK_TTL from now.
 */
export async function requestDelivery(
  deps: CommandDeps,
  input: unknown,
  context: CommandContext,
): Promise<CommandResult & Partial<DeliveryAnswer>> {
  const { orderId } = parseInput(requestDeliveryInputSchema, input);
  const request = { operation: 'requestDelivery', input };
  // A retry under the same key is the first answer, before anything is encrypted again.
  const earlier = await answeredBefore<DeliveryAnswer>(deps, context, request);
  if (earlier) return earlier;
  const delivery = deliveryDeps(deps);
  const [order, loaded] = await Promise.all([loadOrder(deps, orderId), loadDelivery(deps, orderId)]);
  checkDeliveryRequest(context.actor, order, loaded.state);
  const ready = await ensurePrepared(deps, context, orderId, loaded);
  return execute<DeliveryAnswer>(deps, context, request, async (attempt) => {
    // First attempt on what was read: the delivery stream's expected version catches any change since (a refund revokes there).
    const [current, state] =
      attempt === 0 ? [order, ready] : await Promise.all([loadOrder(deps, orderId), loadDelivery(deps, orderId)]);
    const linkId = context.newId();
    // The link's lifetime starts when it is issued, not when the request arrived (a preparation takes time).
    const expiresAt = new Date(Date.parse(nowOf(delivery)) + delivery.linkTtlSeconds * 1000).toISOString();
    const events = deliveryDecider.decide(
      { type: 'IssueDeliveryLink', actor: context.actor, order: current, linkId, expiresAt },
      state.state,
    );
    return {
      appends: [{ stream: streams.delivery(orderId), expectedVersion: state.version, events }],
      answer: { ...answerOf(state.state), link: { linkId, expiresAt } },
    };
  });
}

/** An operator's retry (or the service's own): prepares and proves what is missing, issues no link. */
export async function prepareDelivery(
  deps: CommandDeps,
  input: unknown,
  context: CommandContext,
): Promise<CommandResult & Partial<DeliveryAnswer>> {
  const { orderId } = parseInput(prepareDeliveryInputSchema, input);
  const [order, loaded] = await Promise.all([loadOrder(deps, orderId), loadDelivery(deps, orderId)]);
  checkPreparable(context.actor, order, loaded.state);
  const ready = await ensurePrepared(deps, context, orderId, loaded);
  return { chain: deps.chain, seqs: [], events: [], versions: {}, replayed: false, ...answerOf(ready.state) };
}

/** The managed data key of an order's current delivery (Option B), as a JWK: only for the order's buyer. */
export interface ReleasedDataKey {
  orderId: string;
  deliveryId: string;
  keyId: string;
  origin: string;
  jwk: { kty: 'oct'; k: string; alg: 'A256KW'; kid: string };
}

export async function releaseDataKey(deps: CommandDeps, input: unknown, actor: Actor): Promise<ReleasedDataKey> {
  const { orderId } = parseInput(requestDeliveryInputSchema, input);
  const delivery = deliveryDeps(deps);
  const [order, loaded] = await Promise.all([loadOrder(deps, orderId), loadDelivery(deps, orderId)]);
  checkDeliveryRequest(actor, order, loaded.state);
  const prepared = loaded.state.prepared;
  if (!prepared)
    throw new CodedError('DELIVERY_NOT_PREPARED', `the delivery of order ${orderId} is not prepared yet`, { orderId });
  const provenance = prepared.keyProvenance;
  if (provenance.type !== 'managed-key')
    throw new CodedError(
      'DELIVERY_KEY_NOT_MANAGED',
      `order ${orderId} is delivered to the buyer's own key; there is no key to release`,
      {
        orderId,
      },
    );
  const key = await delivery.dataKeys.unwrap(
    orderId,
    Buffer.from(provenance.wrappedKey, 'base64url'),
    provenance.wrappingKeyId,
  );
  return {
    orderId,
    deliveryId: prepared.deliveryId,
    keyId: provenance.keyId,
    origin: provenance.origin,
    jwk: { kty: 'oct', k: key.toString('base64url'), alg: 'A256KW', kid: provenance.keyId },
  };
}
