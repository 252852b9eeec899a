/**
 * The demo: a realistic morning on the marketplace, through the commands the
 * HTTP API will call. Publishers submit manifests, the kernel approves or
 * rejects them, listings go up, buyers check out, payments arrive (some
 * duplicated, some failing, one for the wrong amount), orders are finalized
 * with royalties, one is refunded, one cancelled, a 3-of-5 upgrade is applied,
 * and a ledger proof is issued over it all.
 */
import type { CommandDeps } from '../command.ts';
import { changeListingPrice, publishListing } from '../catalog/listingCommands.ts';
import { approveUpgrade, proposeUpgrade } from '../governance/upgradeCommands.ts';
import { issueLedgerProof } from '../ledger/issueLedgerProof.ts';
import { postLedgerTransaction } from '../ledger/postLedgerTransaction.ts';
import { approveManifest } from '../manifests/approveManifest.ts';
import { rejectManifest } from '../manifests/rejectManifest.ts';
import { submitManifest } from '../manifests/submitManifest.ts';
import { cancelOrder } from '../orders/cancelOrder.ts';
import { checkout } from '../orders/checkout.ts';
import { finalizeOrder } from '../orders/finalizeOrder.ts';
import { recordPayment } from '../orders/recordPayment.ts';
import { requestDelivery } from '../delivery/deliverOrder.ts';
import { refundOrder } from '../orders/refundOrder.ts';
import type { SignedProof } from '../../chain/proof.ts';
import type { Actor } from '../../domain/actor.ts';
import { assert, CodedError } from '../../domain/errors.ts';
import { sha256Hex } from '../../chain/hash.ts';
import { contextFor } from '../context.ts';
import {
  deliveryKey,
  FINANCE_LEAD,
  KERNEL_OPERATOR,
  demoArtifactFields,
  listProduct,
  PAYMENT_WEBHOOK,
  SETTLEMENT_SERVICE,
  type ListedProduct,
  type Product,
} from './marketplaceFlow.ts';

/** Orders the demo places at most (each is a handful of commands). */
export const MAX_DEMO_ORDERS = 10_000;

const PUBLISHERS: Actor[] = ['ada', 'bo', 'cy'].map((name) => ({ id: `publisher-${name}`, role: 'Publisher' }));
const BUYERS: Actor[] = Array.from({ length: 5 }, (_, index) => ({ id: `buyer-${index + 1}`, role: 'Buyer' }));

function product(name: string, priceMinor: number, publisher: Actor, royaltyParty?: string): Product {
  const royaltySplits = royaltyParty
    ? [
        { partyId: publisher.id, basisPoints: 7500 },
        { partyId: royaltyParty, basisPoints: 2500 },
      ]
    : [{ partyId: publisher.id, basisPoints: 10_000 }];
  return {
    name,
    version: '1.0.0',
    priceMinor,
    currency: 'EUR',
    royaltySplits,
    ...demoArtifactFields(1_048_576 + priceMinor),
  };
}

export interface DemoSummary {
  fromSeq: number;
  toSeq: number;
  orders: number;
  proof: SignedProof | undefined;
  rejections: number;
}

/** Runs `step` and reports its business rejection instead of failing: the demo shows them on purpose. */
async function expectRejection(
  say: (line: string) => void,
  what: string,
  step: () => Promise<unknown>,
): Promise<number> {
  try {
    await step();
  } catch (error) {
    if (!(error instanceof CodedError)) throw error;
    say(`  refused as it should be: ${what} → ${error.code}`);
    return 1;
  }
  assert(false, `the demo expected "${what}" to be refused`);
}

async function catalog(
  deps: CommandDeps,
  say: (line: string) => void,
): Promise<{ listings: ListedProduct[]; rejections: number }> {
  const [ada, bo, cy] = PUBLISHERS as [Actor, Actor, Actor];
  const listings = [
    await listProduct(deps, ada, product('Terrain generator', 1999, ada, 'artist-mo')),
    await listProduct(deps, bo, product('Voice pack', 4900, bo, 'voice-actor-li')),
    await listProduct(deps, cy, product('Shader bundle', 999, cy)),
  ];
  say(
    `catalog: 3 manifests submitted, approved (kernel signatures ${listings.map((l) => l.manifestSignatureId.slice(0, 13)).join(', ')}…) and listed`,
  );
  let rejections = 0;
  const { manifestId } = await submitManifest(deps, product('Crypto miner', 100, cy), contextFor(cy));
  rejections += await expectRejection(say, `${cy.id} approves its own manifest`, () =>
    approveManifest(deps, { manifestId }, contextFor({ id: cy.id, role: 'Operator' })),
  );
  rejections += await expectRejection(say, 'listing a manifest the kernel has not approved', () =>
    publishListing(deps, { manifestId }, contextFor(cy)),
  );
  await rejectManifest(deps, { manifestId, reason: 'artifact failed the malware scan' }, contextFor(KERNEL_OPERATOR));
  say('  the kernel rejected the fourth manifest (malware scan)');
  const cheaper = listings[1]!;
  await changeListingPrice(deps, { listingId: cheaper.listingId, priceMinor: 3900 }, contextFor(bo));
  listings[1] = { ...cheaper, priceMinor: 3900 };
  say('  Voice pack repriced from 49.00 to 39.00 EUR');
  return { listings, rejections };
}

/** One order through its payment story; returns its id and whether it was paid. */
async function order(
  deps: CommandDeps,
  index: number,
  listing: ListedProduct,
  say: (line: string) => void,
): Promise<{ orderId: string; buyer: Actor; paid: boolean; rejections: number }> {
  const buyer = BUYERS[index % BUYERS.length]!;
  const { orderId } = await checkout(
    deps,
    { listingId: listing.listingId, deliveryPublicKey: deliveryKey() },
    contextFor(buyer),
  );
  const pay = (providerPaymentId: string, outcome: 'succeeded' | 'failed', amountMinor = listing.priceMinor) =>
    recordPayment(
      deps,
      {
        orderId,
        providerPaymentId,
        amountMinor,
        currency: listing.currency,
        outcome,
        ...(outcome === 'failed' ? { failureReason: 'card declined' } : {}),
      },
      contextFor(PAYMENT_WEBHOOK),
    );
  let rejections = 0;
  if (index % 6 === 5) {
    await cancelOrder(deps, { orderId, reason: 'changed my mind' }, contextFor(buyer));
    return { orderId, buyer, paid: false, rejections };
  }
  if (index % 5 === 1) await pay(`pay-${orderId}-declined`, 'failed');
  if (index % 7 === 3)
    rejections += await expectRejection(say, `a webhook for order …${orderId.slice(-8)} with the wrong amount`, () =>
      pay(`pay-${orderId}-short`, 'succeeded', listing.priceMinor - 1),
    );
  await pay(`pay-${orderId}`, 'succeeded');
  if (index % 4 === 2) {
    const again = await pay(`pay-${orderId}`, 'succeeded');
    assert(again.seqs.length === 0, 'a duplicated webhook appended');
  }
  await finalizeOrder(deps, { orderId }, contextFor(SETTLEMENT_SERVICE));
  return { orderId, buyer, paid: true, rejections };
}

async function governance(deps: CommandDeps, now: number, say: (line: string) => void): Promise<number> {
  const approvers: Actor[] = ['kernel-ana', 'kernel-ben', 'kernel-caro', 'kernel-dev', 'kernel-eli'].map((id) => ({
    id,
    role: 'Operator',
  }));
  const proposal = {
    description: 'kernel 2.1: stricter manifest scan',
    payloadSha256: sha256Hex('kernel-2.1'),
    threshold: 3,
    approvers: approvers.map((a) => a.id),
    expiresAt: new Date(now + 86_400_000).toISOString(),
  };
  const { upgradeId } = await proposeUpgrade(deps, proposal, contextFor({ id: 'admin-root', role: 'SuperAdmin' }));
  await approveUpgrade(deps, { upgradeId }, contextFor(approvers[0]!));
  const rejections = await expectRejection(say, `${approvers[0]!.id} approves the upgrade a second time`, () =>
    approveUpgrade(deps, { upgradeId }, contextFor(approvers[0]!)),
  );
  await approveUpgrade(deps, { upgradeId }, contextFor(approvers[2]!));
  const applied = await approveUpgrade(deps, { upgradeId }, contextFor(approvers[4]!));
  say(
    `governance: upgrade …${upgradeId.slice(-8)} proposed as 3 of 5, ${applied.events.map((e) => e.type).join(' + ')} at the third approval`,
  );
  return rejections;
}

export async function runDemoWorkload(
  deps: CommandDeps,
  orders: number,
  say: (line: string) => void,
): Promise<DemoSummary> {
  if (!Number.isSafeInteger(orders) || orders < 1 || orders > MAX_DEMO_ORDERS)
    throw new CodedError('USAGE', `--orders must be between 1 and ${MAX_DEMO_ORDERS}`);
  const fromSeq = (await deps.store.head(deps.chain)).seq + 1;
  const { listings, rejections: catalogRejections } = await catalog(deps, say);
  let rejections = catalogRejections;
  const paid: { orderId: string; buyer: Actor }[] = [];
  for (let index = 0; index < orders; index++) {
    const result = await order(deps, index, listings[index % listings.length]!, say);
    rejections += result.rejections;
    if (result.paid) paid.push(result);
  }
  say(
    `orders: ${orders} checked out, ${paid.length} paid and finalized with royalties (some payments declined first, some webhooks duplicated), ${orders - paid.length} cancelled`,
  );
  if (deps.delivery) {
    for (const { orderId, buyer } of paid) await requestDelivery(deps, { orderId }, contextFor(buyer));
    say(
      `delivery: ${paid.length} artifacts encrypted to their buyers' X25519 keys, stored, each with a signed delivery proof and a download link`,
    );
  }
  if (paid[0] !== undefined) {
    const { orderId } = paid[0];
    await refundOrder(deps, { orderId, reason: 'artifact would not install' }, contextFor(KERNEL_OPERATOR));
    say(
      `  order …${orderId.slice(-8)} refunded: the split reversed, the money returned${deps.delivery ? ', its delivery revoked and the ciphertext deleted' : ''}`,
    );
  }
  const payout = {
    entries: [
      {
        account: 'liability:seller-payable:publisher-cy',
        direction: 'debit',
        amountMinor: 10_000_000,
        currency: 'EUR',
      },
      { account: 'asset:payment-provider', direction: 'credit', amountMinor: 10_000_000, currency: 'EUR' },
    ],
    reason: 'payout larger than what is owed',
  };
  rejections += await expectRejection(say, 'a payout of 100,000 EUR to publisher-cy', () =>
    postLedgerTransaction(deps, payout, contextFor(FINANCE_LEAD)),
  );
  rejections += await governance(deps, Date.now(), say);
  const toSeq = (await deps.store.head(deps.chain)).seq;
  const issued = await issueLedgerProof(deps, { fromSeq, toSeq }, contextFor(FINANCE_LEAD));
  say(
    `ledger proof ${issued.proof?.proof_id ?? '?'} over seq ${fromSeq}..${toSeq}: ${issued.proof?.ledger_row_ids.length ?? 0} ledger rows, range_hash ${issued.proof?.range_hash.slice(0, 16) ?? ''}…`,
  );
  return { fromSeq, toSeq: (await deps.store.head(deps.chain)).seq, orders, proof: issued.proof, rejections };
}
