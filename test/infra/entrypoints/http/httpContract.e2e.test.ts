import test from 'ava';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type express from 'express';
import { deliveryKey, demoArtifact } from '../../../../commands/demo/marketplaceFlow.ts';
import { webhookSignature } from '../../../../infra/entrypoints/http/routes/webhooks.ts';
import { ROUTES } from '../../../../infra/entrypoints/http/server.ts';
import { openApiPath } from '../../../../infra/entrypoints/http/route.ts';
import { checkpointing } from '../../../../infra/wiring/checkpoints.ts';
import {
  PRODUCT,
  testServer,
  uploadArtifactOver,
  WEBHOOK_SECRET,
  type ActorName,
  type HttpResponse,
  type TestServer,
} from '../../../helpers/http.ts';
import {
  STAND_IN_SECRET_KEY,
  STAND_IN_WEBHOOK_SECRET,
  stripeEvent,
  stripeStandIn,
  type StripeStandIn,
} from '../../../helpers/stripeStandIn.ts';

type Schema = Record<string, unknown>;
interface Operation {
  operationId: string;
  responses: Record<string, { content?: Record<string, { schema: Schema }> }>;
}
interface Document {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: { Error: Schema } };
}

/** Checks each response against the document: a documented status, a body valid under its schema. */
function contract(document: Document) {
  const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
  const validateError = ajv.compile(document.components.schemas.Error);
  const templates = Object.keys(document.paths).map((path) => ({
    path,
    // `{path}` is a wildcard, the rest of the path (GET /tile/{path}: `/tile/0/x001/234.p/7`).
    pattern: new RegExp(`^${path.replace(/\{[^}]+\}/g, (name) => (name === '{path}' ? '.+' : '[^/]+'))}$`),
  }));
  const exercised = new Set<string>();
  return {
    exercised,
    check(method: string, url: string, response: HttpResponse): string | undefined {
      const pathname = url.split('?')[0]!;
      const template = templates
        .filter(
          (candidate) => candidate.pattern.test(pathname) && document.paths[candidate.path]![method.toLowerCase()],
        )
        .sort((a, b) => b.path.split('{').length - a.path.split('{').length)
        .reverse()[0];
      if (!template) return `${method} ${pathname} is not in the document`;
      const operation = document.paths[template.path]![method.toLowerCase()]!;
      exercised.add(operation.operationId);
      const documented = operation.responses[String(response.status)];
      if (!documented) return `${operation.operationId} answered ${response.status}, which the document does not list`;
      const schema = documented.content?.['application/json']?.schema;
      if (!schema) return undefined;
      const validate = '$ref' in schema ? validateError : ajv.compile(schema);
      return validate(response.body)
        ? undefined
        : `${operation.operationId} ${response.status}: ${ajv.errorsText(validate.errors)} in ${response.text.slice(0, 300)}`;
    },
  };
}

async function exerciseEverything(
  server: TestServer,
  standIn: StripeStandIn,
  call: (
    method: string,
    path: string,
    as?: ActorName,
    body?: unknown,
    headers?: Record<string, string>,
  ) => Promise<HttpResponse>,
): Promise<void> {
  const key = deliveryKey();
  const m1 = (await call('POST', '/manifests', 'publisher', PRODUCT)).body.manifestId as string;
  const m2 = (await call('POST', '/manifests', 'publisher', { ...PRODUCT, name: 'Rejected' })).body
    .manifestId as string;
  await call(
    'RECORD',
    `/manifests/${m1}/artifact`,
    undefined,
    await uploadArtifactOver(server, m1, demoArtifact(4096)),
  );
  await call('POST', `/manifests/${m1}/approve`, 'operator');
  await call('POST', `/manifests/${m2}/reject`, 'operator', { reason: 'malware' });
  await call('GET', `/manifests/${m1}`, 'buyer');
  const listingId = (await call('POST', '/listings', 'publisher', { manifestId: m1 })).body.listingId as string;
  await call('POST', `/listings/${listingId}/price`, 'publisher', { priceMinor: 2500 });
  await call('GET', `/listings/${listingId}`, 'buyer');
  // The product declares no preview (422 PREVIEW_NOT_DECLARED); test/infra/entrypoints/http/httpPreviews.e2e.test.ts runs them.
  await call('POST', `/listings/${listingId}/previews`, 'buyer', {});
  await call('GET', '/previews/no-such-preview', 'buyer');
  await call('GET', '/catalog?limit=10', 'buyer');
  const o1 = (await call('POST', '/orders', 'buyer', { listingId, deliveryPublicKey: key })).body.orderId as string;
  const raw = JSON.stringify({
    eventId: 'evt-c1',
    orderId: o1,
    providerPaymentId: 'pay-c1',
    amountMinor: 2500,
    currency: 'EUR',
    outcome: 'succeeded',
  });
  const t = Math.floor(Date.now() / 1000);
  const paid = await server.request('POST', '/webhooks/payments', {
    raw,
    headers: {
      'content-type': 'application/json',
      'payment-signature': `t=${t},v1=${webhookSignature(WEBHOOK_SECRET, t, raw)}`,
    },
  });
  await call('RECORD', '/webhooks/payments', undefined, paid);
  await call('POST', `/orders/${o1}/finalize`, 'service');
  const delivered = await call('POST', `/orders/${o1}/delivery`, 'buyer');
  const link = new URL(delivered.body.link.url as string);
  await call('GET', `${link.pathname}${link.search}`, undefined);
  await call('GET', `${link.pathname}?expires=x&signature=y`, undefined);
  await call('POST', `/orders/${o1}/delivery/prepare`, 'operator');
  await call('GET', `/orders/${o1}/delivery`, 'buyer');
  await call('GET', `/orders/${o1}/delivery/proof`, 'auditor');
  await call('GET', `/orders/${o1}/delivery/key`, 'buyer');
  const run = await call('POST', '/payouts/runs', 'lead', {});
  const [first, second] = run.body.payouts as { payoutId: string; amountMinor: number }[];
  // The provider (Stripe, its stand-in here) accepted it in the run: answered with nothing appended.
  await call('POST', `/payouts/${first!.payoutId}/resubmit`, 'lead');
  await call('POST', `/orders/${o1}/hold`, 'lead', { reason: 'disputed' });
  await call('POST', `/orders/${o1}/release`, 'lead', { reason: 'cleared' });
  await call('GET', '/payout-holds?status=released', 'auditor');
  const answer = JSON.stringify({
    eventId: 'pevt-c1',
    payoutId: first!.payoutId,
    status: 'settled',
    amountMinor: first!.amountMinor,
    currency: 'EUR',
  });
  const settled = await server.request('POST', '/webhooks/payouts', {
    raw: answer,
    headers: {
      'content-type': 'application/json',
      'payment-signature': `t=${t},v1=${webhookSignature(WEBHOOK_SECRET, t, answer)}`,
    },
  });
  // Payouts go through Stripe here: the sandbox's webhook answers 503, documented.
  await call('RECORD', '/webhooks/payouts', undefined, settled);
  // Stripe's events: one about no payout (ignored), the first payout's transfer (it settles it), then a second
  // transfer for the same payout (a discrepancy, resolved below).
  if (!standIn.transfers.has(`chainbook-payout-${first!.payoutId}`)) throw new Error('the run sent no transfer');
  const firstTransfer = standIn.transfers.get(`chainbook-payout-${first!.payoutId}`)!;
  for (const stripe of [
    stripeEvent('evt_1Contract', 'balance.available', { object: 'balance' }),
    stripeEvent('evt_2Contract', 'transfer.created', firstTransfer),
    stripeEvent('evt_3Contract', 'transfer.created', { ...firstTransfer, id: 'tr_9Contract' }),
  ])
    await call(
      'RECORD',
      '/webhooks/stripe',
      undefined,
      await server.request('POST', '/webhooks/stripe', { raw: stripe.raw, headers: stripe.headers }),
    );
  await call('GET', '/payout-discrepancies?status=open', 'auditor');
  await call('POST', `/payouts/${first!.payoutId}/discrepancies/d1/resolve`, 'lead', { reason: 'reversed in Stripe' });
  await call('POST', `/payouts/${second!.payoutId}/outcome`, 'operator', {
    outcome: 'failed',
    providerEventId: 'pevt-c2',
    amountMinor: second!.amountMinor,
    currency: 'EUR',
    reason: 'account closed',
  });
  await call('POST', `/payouts/${second!.payoutId}/resubmit`, 'lead');
  await call('GET', '/payouts?partyId=publisher-1', 'publisher');
  await call('GET', '/parties/publisher-1/statement', 'publisher');
  await call('GET', '/parties/publisher-1/statement', 'otherPublisher');
  const day = new Date().toISOString().slice(0, 10);
  const reconciled = await server.request('POST', `/reconcile?from=${day}&to=${day}`, {
    as: 'lead',
    raw: `id,type,amount,currency,created,reference\ntxn_c1,charge,2500,EUR,${day}T00:00:01Z,order-unknown\n`,
    headers: { 'content-type': 'text/csv' },
  });
  await call('RECORD', '/reconcile', undefined, reconciled);
  const reconciliationId = reconciled.body.reconciliationId as string;
  await call('GET', `/reconcile/${reconciliationId}/report`, 'auditor');
  await call('GET', `/reconcile/${reconciliationId}/report.csv`, 'auditor');
  const refusedReport = await server.request('POST', `/reconcile?from=${day}&to=${day}`, {
    as: 'lead',
    raw: 'id,type\n',
    headers: { 'content-type': 'text/csv' },
  });
  await call('RECORD', '/reconcile', undefined, refusedReport);
  await call('POST', `/reconcile/${reconciliationId}/discrepancies/d1/resolve`, 'lead', { reason: 'not ours' });
  await call('POST', `/orders/${o1}/refund`, 'operator', { reason: 'broken download' });
  const o2 = (await call('POST', '/orders', 'buyer', { listingId, deliveryPublicKey: key })).body.orderId as string;
  await call('POST', `/orders/${o2}/payments`, 'service', {
    providerPaymentId: 'pay-c2',
    amountMinor: 2500,
    currency: 'EUR',
    outcome: 'failed',
    failureReason: 'card declined',
  });
  await call('POST', `/orders/${o2}/cancel`, 'buyer', { reason: 'changed my mind' });
  await call('GET', `/orders/${o1}`, 'buyer');
  await call('GET', '/orders', 'buyer');
  await call('POST', `/listings/${listingId}/delist`, 'operator', { reason: 'takedown' });
  await call('POST', '/ledger/transactions', 'lead', {
    reason: 'opening',
    entries: [
      { account: 'asset:bank', direction: 'debit', amountMinor: 9, currency: 'EUR' },
      { account: 'equity:capital', direction: 'credit', amountMinor: 9, currency: 'EUR' },
    ],
  });
  const proof = await call('POST', '/ledger/proofs', 'operator', {});
  await call('GET', `/ledger/proofs/${proof.body.proof.proof_id as string}`, 'auditor');
  await call('GET', '/ledger/proofs', 'auditor');
  await call('GET', '/archive/batches', 'auditor');
  await call(
    'GET',
    '/archive/manifest?key=chainbook%2F2026-01-01%2Fmain-000000000001-000000000010.manifest.json',
    'auditor',
  );
  // The archive is empty here: the bundle's refusal (the bundle itself is tested in auditBundle.e2e.test.ts).
  await call('GET', '/audit/bundle?fromTs=2026-01-01T00:00:00Z&toTs=2026-01-02T00:00:00Z', 'auditor');
  const expiresAt = new Date(Date.now() + 86_400_000).toISOString();
  const u1 = (
    await call('POST', '/upgrades', 'admin', {
      description: 'kernel 2',
      payloadSha256: 'd'.repeat(64),
      threshold: 2,
      approvers: ['operator-1', 'lead-1'],
      expiresAt,
    })
  ).body.upgradeId as string;
  await call('POST', `/upgrades/${u1}/approve`, 'operator');
  await call('POST', `/upgrades/${u1}/reject`, 'lead', { reason: 'not now' });
  const soon = new Date(Date.now() + 1500).toISOString();
  const u2 = (
    await call('POST', '/upgrades', 'admin', {
      description: 'kernel 3',
      payloadSha256: 'e'.repeat(64),
      threshold: 1,
      approvers: ['operator-1'],
      expiresAt: soon,
    })
  ).body.upgradeId as string;
  await new Promise((resolve) => setTimeout(resolve, 1700));
  await call('POST', `/upgrades/${u2}/expire`, 'service');
  await call('GET', `/upgrades/${u1}`, 'auditor');
  await call('GET', '/upgrades?status=rejected', 'auditor');
  for (const path of [
    '/ledger/accounts',
    '/ledger/journal',
    '/ledger/trial-balance',
    '/chain/head',
    '/chain/records?from=2&limit=3',
    '/chain/records/1',
    '/chain/stream?from=2&format=ndjson',
    '/projections/digests',
    '/kernel/security/status',
  ])
    await call('GET', path, 'auditor');
  for (const path of [
    '/health',
    '/ready',
    '/metrics',
    '/openapi.json',
    '/openapi.yaml',
    '/auditor',
    '/auditor/checker.mjs',
  ])
    await call('GET', path);
  // The Merkle tree (docs/FORMAT.md section 14): a checkpoint of what the flow above appended, then its reads.
  await checkpointing(server.app.runtime).makeIfDue('main', Date.now());
  for (const path of [
    '/checkpoint',
    '/tile/0/000.p/1',
    '/tile/0/000.p/255',
    '/proof/inclusion?seq=1',
    '/proof/consistency?old=1&new=2',
    '/proof/consistency?old=2&new=1',
  ])
    await call('GET', path, 'auditor');
  // Some refusals: their statuses must be documented too.
  await call('POST', '/orders', undefined, { listingId, deliveryPublicKey: key });
  await call('POST', '/orders', 'auditor', { listingId, deliveryPublicKey: key });
  await call('POST', '/orders', 'buyer', { listingId: '' });
  await call('POST', '/orders', 'buyer', { listingId, deliveryPublicKey: key });
  await call('GET', '/orders/nope', 'buyer');
  await call('POST', `/listings/${listingId}/price`, 'publisher', { priceMinor: 1 }, { 'if-match': '"1"' });
  // Content inspection: a held manifest, its moderation, a blocked one (docs/DOMAIN.md, "Content inspection").
  await call('POST', '/manifests', 'publisher', { ...PRODUCT, name: 'Blocked: warez' });
  const held = await call('POST', '/manifests', 'publisher', { ...PRODUCT, name: 'A keygen' });
  const inspectionId = held.body.error.details.inspectionId as string;
  await call('GET', '/content/quarantine', 'operator');
  await call('GET', '/content/quarantine', 'publisher');
  const viewLink = await call('POST', `/content/${inspectionId}/view-link`, 'operator');
  const view = new URL(viewLink.body.url as string);
  await call('GET', `${view.pathname}${view.search}`);
  await call('GET', `/content/${inspectionId}/view?expires=2020-01-01T00:00:00.000Z&signature=AAAA`);
  await call('POST', `/content/${inspectionId}/release`, 'operator', { reason: 'our own license tool' });
  await call('POST', `/content/${inspectionId}/delete`, 'operator', { reason: 'again' });
  await call('POST', '/content/expire', 'service', {});
}

test('every route is in the OpenAPI document and every answer matches it', async (t) => {
  // The payout provider is Stripe, answering through a loopback stand-in (test/helpers/stripeStandIn.ts).
  const standIn = await stripeStandIn(t);
  const server = await testServer(t, {
    env: {
      PAYOUT_PROVIDER: 'stripe',
      STRIPE_SECRET_KEY: STAND_IN_SECRET_KEY,
      STRIPE_WEBHOOK_SECRET: STAND_IN_WEBHOOK_SECRET,
      STRIPE_CONNECTED_ACCOUNTS: 'publisher-1:acct_1Publisher,artist-7:acct_2Artist',
      STRIPE_API_BASE: standIn.url,
      QUARANTINE_ENABLED: 'true',
      ENCRYPTION_MASTER_KEY: Buffer.alloc(32, 7).toString('base64'),
      CONTENT_BLOCKED_WORDS: 'warez',
      CONTENT_QUARANTINE_WORDS: 'keygen',
    },
  });
  const served = await server.request('GET', '/openapi.json');
  const document = served.body as Document;
  t.is(document.openapi, '3.1.0');
  // The server mounts exactly the documented operations.
  const app = server.running.server.listeners('request')[0] as express.Express;
  const mounted = (app.router.stack as unknown as { route?: { path: string; methods: Record<string, boolean> } }[])
    .filter((layer) => layer.route)
    .flatMap((layer) =>
      Object.keys(layer.route!.methods)
        // `_all`: the 405 answer of a known path for the methods it does not have, not an operation.
        .filter((method) => method !== '_all')
        .map((method) => `${method} ${openApiPath(layer.route!.path)}`),
    );
  const documented = Object.entries(document.paths).flatMap(([path, operations]) =>
    Object.keys(operations).map((method) => `${method} ${path}`),
  );
  t.deepEqual([...mounted].sort(), [...documented].sort());
  t.is(documented.length, ROUTES.length);
  const checker = contract(document);
  const problems: string[] = [];
  await exerciseEverything(server, standIn, async (method, path, as, body, headers) => {
    if (method === 'RECORD') {
      const problem = checker.check('POST', path, body as HttpResponse);
      if (problem) problems.push(problem);
      return body as HttpResponse;
    }
    const response = await server.request(method, path, {
      as,
      ...(body === undefined ? {} : { body }),
      ...(headers ? { headers } : {}),
    });
    const problem = checker.check(method, path, response);
    if (problem) problems.push(problem);
    return response;
  });
  t.deepEqual(problems, []);
  const missing = ROUTES.map((route) => route.operationId).filter((operationId) => !checker.exercised.has(operationId));
  t.deepEqual(missing, [], 'every operation is exercised');
});
