/**
 * The happy material of the golden vectors: two chains, `finance` and `main`,
 * written in batches at fixed times, signed by a key that is rotated at
 * ROTATION_TS (v1 before, v2 from that instant on). The data exercises what
 * a JCS implementation gets wrong: member order by UTF-16 code units,
 * non-ASCII text, escapes, U+2028, large integers, empty objects.
 */
import {
  fixedUuid,
  registryEntryOf,
  sealChain,
  vectorKey,
  type RegistryEntry,
  type VectorKey,
  type VectorObject,
} from './build.ts';

export const KEY_V1 = vectorKey('vectors-ed25519-v1');
export const KEY_V2 = vectorKey('vectors-ed25519-v2');
/** In no registry: signs the unknown-signer vector. */
export const KEY_ROGUE = vectorKey('vectors-ed25519-rogue');

export const V1_DEPLOYED_AT = '2026-01-01T00:00:00Z';
/** v1 retires and v2 is deployed at this instant; a record at exactly this time must be signed by v2. */
export const ROTATION_TS = '2026-11-23T10:00:30.000Z';

export function happyRegistry(): { signers: RegistryEntry[] } {
  return {
    signers: [
      registryEntryOf(KEY_V1, V1_DEPLOYED_AT, ROTATION_TS, 'golden vectors: first signer, retired at the rotation'),
      registryEntryOf(KEY_V2, ROTATION_TS, null, 'golden vectors: second signer, from the rotation on'),
    ],
  };
}

/** The signer the writer would have used at the record's time. */
export function signerAt(payload: VectorObject): VectorKey {
  return Date.parse(payload['ts'] as string) < Date.parse(ROTATION_TS) ? KEY_V1 : KEY_V2;
}

interface EventSpec {
  stream: string;
  type: string;
  actor: { id: string; role: string };
  data: VectorObject;
  meta?: Record<string, string>;
}

interface Batch {
  ts: string;
  events: EventSpec[];
}

const buyer = { id: 'buyer-0042', role: 'Buyer' };
const publisher = { id: 'publisher-7', role: 'Publisher' };
const psp = { id: 'payment-webhook', role: 'Service' };
const operator = { id: 'operator-ana', role: 'Operator' };
const ledger = { id: 'finance-service', role: 'Service' };

const LISTING = 'listing-kc7';
const ORDER_A = 'order-0190a1';
const ORDER_B = 'order-0190b2';
const ORDER_C = 'order-0190c3';

const MAIN_BATCHES: Batch[] = [
  {
    ts: '2026-11-23T10:00:00.000Z',
    events: [
      {
        stream: LISTING,
        type: 'listing.published',
        actor: publisher,
        data: {
          manifestId: 'manifest-31',
          title: 'Café ☕ 漢字 — “quoted”',
          priceMinor: 1999,
          currency: 'EUR',
          tags: ['font', 'display'],
        },
        meta: { correlationId: 'corr-publish-1' },
      },
    ],
  },
  {
    ts: '2026-11-23T10:00:05.250Z',
    events: [
      {
        stream: ORDER_A,
        type: 'order.created',
        actor: buyer,
        data: { listing: LISTING, priceMinor: 1999, currency: 'EUR' },
        meta: { idempotencyKey: 'checkout-a1' },
      },
      {
        stream: ORDER_A,
        type: 'order.paid',
        actor: psp,
        data: { paymentId: 'pay_9Zx', amountMinor: 1999, currency: 'EUR' },
        meta: { idempotencyKey: 'psp-event-771', causationId: 'checkout-a1' },
      },
    ],
  },
  {
    ts: '2026-11-23T10:00:12.500Z',
    events: [
      {
        stream: ORDER_B,
        type: 'order.created',
        actor: buyer,
        // Keys sort by UTF-16 code units: "Z" < "a" < "é" < "😀" (U+D83D…) < "！" (U+FF01).
        data: {
          '！': 'fullwidth',
          '😀': 'emoji',
          é: 'e-acute',
          a: 'lower',
          Z: 'upper',
          note: 'tab\tquote"backslash\\ line\u2028sep \u001f',
          priceMinor: 4500,
          currency: 'JPY',
        },
        meta: {},
      },
    ],
  },
  {
    // The same time as the batch before: the clock was behind the head, so the head's time is kept.
    ts: '2026-11-23T10:00:12.500Z',
    events: [
      { stream: ORDER_A, type: 'order.finalized', actor: operator, data: {} },
      {
        stream: ORDER_A,
        type: 'order.delivered',
        actor: operator,
        data: {
          artifact: { sha256: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', sizeBytes: 1048576 },
        },
      },
    ],
  },
  {
    ts: '2026-11-23T10:00:20.125Z',
    events: [
      {
        stream: ORDER_B,
        type: 'order.paid',
        actor: psp,
        data: { paymentId: 'pay_2Qb', amountMinor: 4500, currency: 'JPY' },
        meta: { traceId: '4bf92f3577b34da6a3ce929d0e0e4736' },
      },
      {
        stream: LISTING,
        type: 'listing.price_changed',
        actor: publisher,
        data: { fromMinor: 1999, toMinor: 2499, currency: 'EUR' },
      },
    ],
  },
  {
    ts: '2026-11-23T10:00:29.999Z',
    events: [
      {
        stream: ORDER_C,
        type: 'order.created',
        actor: buyer,
        data: { listing: LISTING, priceMinor: 2499, currency: 'EUR', quantity: 1 },
      },
    ],
  },
  {
    ts: ROTATION_TS,
    events: [
      {
        stream: ORDER_C,
        type: 'order.paid',
        actor: psp,
        data: { paymentId: 'pay_7Kc', amountMinor: 2499, currency: 'EUR' },
      },
      { stream: ORDER_B, type: 'order.finalized', actor: operator, data: {} },
    ],
  },
  {
    ts: '2026-11-23T10:00:41.999Z',
    events: [
      {
        stream: ORDER_B,
        type: 'order.refunded',
        actor: operator,
        data: { amountMinor: 4500, currency: 'JPY', reason: 'buyer request' },
      },
    ],
  },
  {
    ts: '2026-11-23T10:01:00.000Z',
    events: [
      { stream: ORDER_C, type: 'order.finalized', actor: operator, data: {} },
      {
        stream: ORDER_C,
        type: 'order.delivered',
        actor: operator,
        data: {
          artifact: { sha256: '60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752', sizeBytes: 2048 },
        },
      },
      {
        stream: LISTING,
        type: 'listing.price_changed',
        actor: publisher,
        data: { fromMinor: 2499, toMinor: 2999, currency: 'EUR' },
      },
    ],
  },
  {
    ts: '2026-11-23T10:01:07.007Z',
    events: [
      { stream: 'preview-s1', type: 'preview.started', actor: buyer, data: { listing: LISTING, maxSeconds: 600 } },
    ],
  },
  {
    ts: '2026-11-23T10:02:00.000Z',
    events: [
      { stream: 'preview-s1', type: 'preview.exited', actor: buyer, data: { seconds: 42 } },
      {
        stream: 'order-0190d4',
        type: 'order.created',
        actor: buyer,
        data: {
          listing: LISTING,
          priceMinor: 2999,
          currency: 'EUR',
          limits: { min: -9007199254740991, max: 9007199254740991 },
        },
      },
    ],
  },
  {
    ts: '2026-11-23T10:02:30.500Z',
    events: [
      {
        stream: 'order-0190d4',
        type: 'order.paid',
        actor: psp,
        data: { paymentId: 'pay_1Dd', amountMinor: 2999, currency: 'EUR' },
        meta: { idempotencyKey: 'psp-event-804' },
      },
      { stream: LISTING, type: 'listing.delisted', actor: publisher, data: { reason: null, final: true } },
    ],
  },
];

const FINANCE_BATCHES: Batch[] = [
  {
    ts: '2026-11-23T10:00:06.000Z',
    events: [
      {
        stream: 'ledger-2026-11',
        type: 'ledger.posted',
        actor: ledger,
        data: {
          transactionId: 'tx-1',
          entries: [
            { account: 'cash', debitMinor: 1999, currency: 'EUR' },
            { account: 'revenue', creditMinor: 1999, currency: 'EUR' },
          ],
        },
        meta: { idempotencyKey: 'post-pay_9Zx', causationId: 'psp-event-771' },
      },
      {
        stream: 'ledger-2026-11',
        type: 'ledger.posted',
        actor: ledger,
        data: {
          transactionId: 'tx-2',
          entries: [
            { account: 'fees', debitMinor: 45, currency: 'EUR' },
            { account: 'cash', creditMinor: 45, currency: 'EUR' },
          ],
        },
      },
    ],
  },
  {
    ts: '2026-11-23T10:00:44.000Z',
    events: [
      {
        stream: 'ledger-2026-11',
        type: 'ledger.posted',
        actor: ledger,
        data: {
          transactionId: 'tx-3',
          entries: [
            { account: 'revenue', debitMinor: 4500, currency: 'JPY' },
            { account: 'cash', creditMinor: 4500, currency: 'JPY' },
          ],
        },
      },
    ],
  },
  {
    ts: '2026-11-23T10:01:10.000Z',
    events: [
      {
        stream: 'reconciliation-2026-11-23',
        type: 'reconciliation.completed',
        actor: ledger,
        data: { discrepancies: 0, checkedTransactions: 3 },
      },
    ],
  },
  {
    ts: '2026-11-23T10:02:31.000Z',
    events: [
      {
        stream: 'payout-p1',
        type: 'payout.scheduled',
        actor: operator,
        data: { publisher: 'publisher-7', amountMinor: 1954, currency: 'EUR' },
      },
      {
        stream: 'royalty-publisher-7',
        type: 'royalty.accrued',
        actor: ledger,
        data: { amountMinor: 1954, currency: 'EUR', basisPoints: 9775 },
      },
    ],
  },
];

/** Payloads with seq, stream version and id assigned as the writer would. */
function payloadsOf(chain: string, batches: readonly Batch[]): VectorObject[] {
  const versions = new Map<string, number>();
  let seq = 0;
  return batches.flatMap((batch) =>
    batch.events.map((event) => {
      seq += 1;
      const version = (versions.get(event.stream) ?? 0) + 1;
      versions.set(event.stream, version);
      return {
        v: 1,
        chain,
        seq,
        id: fixedUuid(batch.ts, `${chain}/${seq}`),
        type: event.type,
        stream: event.stream,
        version,
        ts: batch.ts,
        actor: event.actor,
        data: event.data,
        meta: event.meta ?? {},
      };
    }),
  );
}

export const MAIN = 'main';
export const FINANCE = 'finance';

export function mainPayloads(): VectorObject[] {
  return payloadsOf(MAIN, MAIN_BATCHES);
}

export function financePayloads(): VectorObject[] {
  return payloadsOf(FINANCE, FINANCE_BATCHES);
}

export interface HappyChains {
  finance: VectorObject[];
  main: VectorObject[];
}

export function happyChains(): HappyChains {
  return { finance: sealChain(financePayloads(), signerAt), main: sealChain(mainPayloads(), signerAt) };
}
