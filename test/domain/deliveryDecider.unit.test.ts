/** The delivery decider (domain/delivery/deliveryDecider.ts): who may ask, in which order state, and what follows what. */
import test from 'ava';
import { fold } from '../../domain/decider.ts';
import { deliveryDecider, type DeliveryCommand } from '../../domain/delivery/deliveryDecider.ts';
import {
  MAX_DELIVERY_LINKS,
  MAX_RECORDED_DELIVERY_FAILURES,
  type DeliveryEvent,
  type DeliveryPrepared,
} from '../../domain/delivery/deliveryEvents.ts';
import { CodedError } from '../../domain/errors.ts';
import { orderDecider } from '../../domain/orders/orderDecider.ts';
import type { OrderEvent } from '../../domain/orders/orderEvents.ts';
import { orderCreated } from '../helpers/fixtures.ts';

const BUYER = { id: 'buyer-1', role: 'Buyer' };
const SERVICE = { id: 'marketplace-delivery', role: 'Service' };
const created = orderCreated({ buyerId: BUYER.id });
const { orderId } = created;
const history: OrderEvent[] = [
  { type: 'order.created', data: created },
  {
    type: 'order.paid',
    data: {
      orderId,
      providerPaymentId: 'pay-1',
      amountMinor: created.priceMinor,
      currency: created.currency,
      ledgerTransactionId: `payment-${orderId}`,
    },
  },
  {
    type: 'order.finalized',
    data: { orderId, ledgerTransactionId: `finalize-${orderId}`, manifestSignatureId: created.manifestSignatureId },
  },
];
const orderAt = (events: number) => fold(orderDecider, history.slice(0, events));
const finalized = orderAt(3);
const refunded = fold(orderDecider, [
  ...history,
  {
    type: 'order.refunded',
    data: {
      orderId,
      amountMinor: created.priceMinor,
      currency: created.currency,
      reason: 'broken',
      ledgerTransactionIds: [`refund-${orderId}`],
    },
  },
]);

const prepared = (deliveryId: string): DeliveryPrepared => ({
  orderId,
  deliveryId,
  buyerId: BUYER.id,
  manifestId: created.manifestId,
  artifactSha256: 'a'.repeat(64),
  artifactBytes: 1,
  objectKey: `deliveries/${orderId}/${deliveryId}`,
  ciphertextSha256: 'b'.repeat(64),
  ciphertextBytes: 2,
  envelope: 'CHAINBOOK-DELIVERY-1',
  algorithm: 'ECDH-ES+A256KW',
  keyProvenance: { type: 'buyer-key', keyType: 'x25519', spkiSha256: 'c'.repeat(64) },
  manifestSignatureId: created.manifestSignatureId,
  ledgerProofId: 'lp-1',
});
const proof = (deliveryId: string): DeliveryEvent => ({
  type: 'delivery.proof_issued',
  data: {
    orderId,
    deliveryId,
    proofId: `dproof-${deliveryId}`,
    kind: 'delivery',
    deliverySeq: 7,
    deliveryHash: 'd'.repeat(64),
    signerKid: 'k',
    alg: 'ed25519',
    signature: 'c2ln',
    payloadSha256: 'e'.repeat(64),
    proofTs: '2026-01-01T00:00:00.000Z',
  },
});
const proven = fold(deliveryDecider, [{ type: 'delivery.prepared', data: prepared('d-1') }, proof('d-1')]);
const link = (actor = BUYER, order = finalized): DeliveryCommand => ({
  type: 'IssueDeliveryLink',
  actor,
  order,
  linkId: 'l-1',
  expiresAt: '2026-01-01T01:00:00.000Z',
});

function codeOf(step: () => unknown): string | undefined {
  try {
    step();
    return undefined;
  } catch (error) {
    return error instanceof CodedError ? error.code : String(error);
  }
}

test('only a finalized order is prepared; before, DELIVERY_NOT_READY; refunded or cancelled, ORDER_NOT_DELIVERABLE', (t) => {
  const prepare = (order: typeof finalized) => () =>
    deliveryDecider.decide(
      { type: 'PrepareDelivery', actor: SERVICE, order, prepared: prepared('d-1') },
      deliveryDecider.initialState,
    );
  t.is(codeOf(prepare(orderAt(1))), 'DELIVERY_NOT_READY');
  t.is(codeOf(prepare(orderAt(2))), 'DELIVERY_NOT_READY');
  t.is(codeOf(prepare(refunded)), 'ORDER_NOT_DELIVERABLE');
  t.is(codeOf(prepare(fold(orderDecider, []))), 'ORDER_NOT_FOUND');
  t.deepEqual(
    prepare(finalized)().map((event) => event.type),
    ['delivery.prepared'],
  );
  t.is(
    codeOf(() =>
      deliveryDecider.decide(
        {
          type: 'PrepareDelivery',
          actor: SERVICE,
          order: finalized,
          prepared: { ...prepared('d-1'), buyerId: 'someone-else' },
        },
        deliveryDecider.initialState,
      ),
    ),
    'DELIVERY_MISMATCH',
  );
});

test('a link: only the order’s own buyer, only once proven, at most MAX_DELIVERY_LINKS, never after revocation', (t) => {
  t.deepEqual(
    deliveryDecider.decide(link(), proven).map((event) => event.type),
    ['delivery.link_issued'],
  );
  t.is(
    codeOf(() => deliveryDecider.decide(link({ id: 'buyer-2', role: 'Buyer' }), proven)),
    'ORDER_NOT_FOUND',
  );
  t.is(
    codeOf(() => deliveryDecider.decide(link({ id: 'buyer-1', role: 'Auditor' }), proven)),
    'FORBIDDEN_ROLE',
  );
  const unproven = fold(deliveryDecider, [{ type: 'delivery.prepared', data: prepared('d-1') }]);
  t.is(
    codeOf(() => deliveryDecider.decide(link(), unproven)),
    'DELIVERY_NOT_PREPARED',
  );
  const exhausted = { ...proven, links: MAX_DELIVERY_LINKS };
  t.is(
    codeOf(() => deliveryDecider.decide(link(), exhausted)),
    'DELIVERY_LINK_LIMIT',
  );
  const revoked = deliveryDecider.evolve(proven, {
    type: 'delivery.revoked',
    data: { orderId, deliveryId: 'd-1', objectKey: 'deliveries/x/d-1', reason: 'refund' },
  });
  t.is(
    codeOf(() => deliveryDecider.decide(link(), revoked)),
    'DELIVERY_REVOKED',
  );
  t.is(
    codeOf(() => deliveryDecider.decide(link(BUYER, refunded), proven)),
    'ORDER_NOT_DELIVERABLE',
  );
});

test('a proof is recorded once, for the current preparation only; a new preparation needs its own', (t) => {
  const unproven = fold(deliveryDecider, [{ type: 'delivery.prepared', data: prepared('d-1') }]);
  const record = (deliveryId: string, state = unproven) =>
    deliveryDecider.decide(
      {
        type: 'RecordDeliveryProof',
        actor: SERVICE,
        proof: (proof(deliveryId) as Extract<DeliveryEvent, { type: 'delivery.proof_issued' }>).data,
      },
      state,
    );
  t.deepEqual(
    record('d-1').map((event) => event.type),
    ['delivery.proof_issued'],
  );
  t.deepEqual(record('d-1', proven), [], 'again: nothing');
  t.is(
    codeOf(() => record('d-0')),
    'DELIVERY_NOT_PREPARED',
  );
  const again = deliveryDecider.evolve(proven, { type: 'delivery.prepared', data: prepared('d-2') });
  t.is(again.proof, null);
  t.is(
    codeOf(() => deliveryDecider.decide(link(), again)),
    'DELIVERY_NOT_PREPARED',
  );
});

test('revocation: once, only of something prepared, by the refund roles', (t) => {
  const revoke = (state = proven, actor = { id: 'op', role: 'Operator' }) =>
    deliveryDecider.decide({ type: 'RevokeDelivery', actor, reason: 'refund' }, state);
  t.deepEqual(
    revoke().map((event) => event.type),
    ['delivery.revoked'],
  );
  t.deepEqual(revoke(deliveryDecider.initialState), [], 'nothing delivered: nothing to revoke');
  const revoked = deliveryDecider.evolve(proven, revoke()[0]!);
  t.deepEqual(revoke(revoked), [], 'twice: nothing');
  t.is(
    codeOf(() => revoke(proven, BUYER)),
    'FORBIDDEN_ROLE',
  );
});

test('past MAX_RECORDED_DELIVERY_FAILURES a failure is answered but not recorded: a retrying client cannot fill the stream', (t) => {
  const full = { ...deliveryDecider.initialState, failures: MAX_RECORDED_DELIVERY_FAILURES };
  t.deepEqual(
    deliveryDecider.decide(
      { type: 'RecordDeliveryFailure', actor: SERVICE, order: finalized, code: 'artifact_missing', reason: 'gone' },
      full,
    ),
    [],
  );
});

test('a failure is recorded with its reason for a deliverable order, and counted', (t) => {
  const failed = deliveryDecider.decide(
    { type: 'RecordDeliveryFailure', actor: SERVICE, order: finalized, code: 'artifact_missing', reason: 'gone' },
    deliveryDecider.initialState,
  );
  t.deepEqual(failed, [{ type: 'delivery.failed', data: { orderId, code: 'artifact_missing', reason: 'gone' } }]);
  t.is(fold(deliveryDecider, failed).failures, 1);
  t.is(
    codeOf(() =>
      deliveryDecider.decide(
        { type: 'RecordDeliveryFailure', actor: SERVICE, order: finalized, code: 'artifact_missing', reason: '   ' },
        deliveryDecider.initialState,
      ),
    ),
    'INVALID_REASON',
  );
});
