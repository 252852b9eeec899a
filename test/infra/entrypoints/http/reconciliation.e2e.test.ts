/** Reconciliation over HTTP: the streamed report, its refusals, the reports in JSON and CSV, resolving, the metric. */
import test, { type ExecutionContext } from 'ava';
import { deliveryKey } from '../../../../commands/demo/marketplaceFlow.ts';
import { webhookSignature } from '../../../../infra/entrypoints/http/routes/webhooks.ts';
import { ENGINES } from '../../../helpers/databases.ts';
import {
  listedProduct,
  testServer,
  WEBHOOK_SECRET,
  type HttpResponse,
  type TestServer,
} from '../../../helpers/http.ts';
import { csvOf, reportFromLedger } from '../../../helpers/providerReports.ts';

async function sale(server: TestServer, listingId: string, paymentId: string): Promise<string> {
  const created = await server.request('POST', '/orders', {
    as: 'buyer',
    body: { listingId, deliveryPublicKey: deliveryKey() },
  });
  const orderId = created.body.orderId as string;
  const raw = JSON.stringify({
    eventId: `evt-${paymentId}`,
    orderId,
    providerPaymentId: paymentId,
    amountMinor: 1999,
    currency: 'EUR',
    outcome: 'succeeded',
  });
  const t = Math.floor(Date.now() / 1000);
  await server.request('POST', '/webhooks/payments', {
    raw,
    headers: {
      'content-type': 'application/json',
      'payment-signature': `t=${t},v1=${webhookSignature(WEBHOOK_SECRET, t, raw)}`,
    },
  });
  await server.request('POST', `/orders/${orderId}/finalize`, { as: 'service' });
  return orderId;
}

async function unchanged(
  t: ExecutionContext,
  server: TestServer,
  status: number,
  code: string,
  step: () => Promise<HttpResponse>,
) {
  const before = await server.snapshot();
  const response = await step();
  t.is(response.status, status, `${code}: ${response.text}`);
  t.is(response.body?.error?.code, code);
  t.deepEqual(await server.snapshot(), before, `${code}: nothing appended`);
  return response;
}

for (const engine of ENGINES) {
  test(`${engine}: a provider report is reconciled over HTTP, its discrepancy holds payouts until a finance role resolves it`, async (t) => {
    const server = await testServer(t, { engine });
    const { listingId } = await listedProduct(server);
    const first = await sale(server, listingId, 'pay-1');
    await sale(server, listingId, 'pay-2');
    const lines = (await reportFromLedger(server.test.db)).map((line) =>
      line.reference === first ? { ...line, amount: line.amount + 100 } : line,
    );
    const day = new Date().toISOString().slice(0, 10);
    const path = `/reconcile?from=${day}&to=${day}`;
    const csv = { 'content-type': 'text/csv' };

    await unchanged(t, server, 403, 'FORBIDDEN_ROLE', () =>
      server.request('POST', path, { as: 'publisher', raw: csvOf(lines), headers: csv }),
    );
    await unchanged(t, server, 403, 'FORBIDDEN_ROLE', () =>
      server.request('POST', path, { as: 'auditor', raw: csvOf(lines), headers: csv }),
    );
    await unchanged(t, server, 415, 'UNSUPPORTED_MEDIA_TYPE', () =>
      server.request('POST', path, { as: 'lead', raw: csvOf(lines), headers: { 'content-type': 'text/plain' } }),
    );
    await unchanged(t, server, 400, 'INVALID_INPUT', () =>
      server.request('POST', '/reconcile?from=yesterday', { as: 'lead', raw: csvOf(lines), headers: csv }),
    );
    const malformed = await unchanged(t, server, 422, 'REPORT_INVALID', () =>
      server.request('POST', path, {
        as: 'lead',
        raw: `${csvOf(lines)}txn_bad,charge,-5,0,EUR,2025-11-01T00:00:00Z,x\n`,
        headers: csv,
      }),
    );
    t.regex(malformed.body.error.message, new RegExp(`report line ${lines.length + 2}: amount`));
    t.is(malformed.body.error.details.line, lines.length + 2);

    const run = await server.request('POST', path, { as: 'lead', raw: csvOf(lines), headers: csv });
    t.is(run.status, 200, run.text);
    t.is(run.body.discrepancyCount, 1);
    t.like(run.body.counts, { matched: lines.length - 1, amount_mismatch: 1 });
    const id = run.body.reconciliationId as string;

    const report = await server.request('GET', `/reconcile/${id}/report`, { as: 'auditor' });
    t.is(report.status, 200);
    t.like(report.body.discrepancies[0], {
      discrepancyId: 'd1',
      kind: 'amount_mismatch',
      reference: first,
      ledgerAmountMinor: 1999,
      reportedAmountMinor: 2099,
      status: 'open',
    });
    t.deepEqual(report.body.discrepancies[0].partyIds.sort(), ['artist-7', 'publisher-1']);
    const asCsv = await server.request('GET', `/reconcile/${id}/report.csv`, { as: 'lead' });
    t.is(asCsv.status, 200);
    t.regex(asCsv.headers.get('content-type') ?? '', /^text\/csv/);
    t.regex(
      asCsv.text,
      new RegExp(
        `^discrepancy_id,kind,status,line,.*\\nd1,amount_mismatch,open,\\d+,txn_\\d+,charge,${first},1999,EUR,2099,EUR,0,`,
      ),
    );
    t.is((await server.request('GET', '/reconcile/nope/report', { as: 'lead' })).status, 404);

    const held = await server.request('POST', '/payouts/runs', { as: 'lead', body: {} });
    t.deepEqual(held.body.payouts, [], 'the discrepancy holds the seller and the royalty holder');

    const resolve = `/reconcile/${id}/discrepancies/d1/resolve`;
    await unchanged(t, server, 403, 'FORBIDDEN_ROLE', () =>
      server.request('POST', resolve, { as: 'auditor', body: { reason: 'ok' } }),
    );
    await unchanged(t, server, 400, 'INVALID_INPUT', () => server.request('POST', resolve, { as: 'lead', body: {} }));
    await unchanged(t, server, 404, 'DISCREPANCY_NOT_FOUND', () =>
      server.request('POST', `/reconcile/${id}/discrepancies/d2/resolve`, { as: 'lead', body: { reason: 'x' } }),
    );
    const resolved = await server.request('POST', resolve, {
      as: 'lead',
      body: { reason: 'the provider corrected its report' },
    });
    t.is(resolved.status, 200, resolved.text);
    t.deepEqual(
      resolved.body.events.map((e: { type: string }) => e.type),
      ['reconciliation.discrepancy_resolved'],
    );
    await unchanged(t, server, 409, 'DISCREPANCY_ALREADY_RESOLVED', () =>
      server.request('POST', resolve, { as: 'lead', body: { reason: 'again' } }),
    );
    const paid = await server.request('POST', '/payouts/runs', { as: 'lead', body: {} });
    t.deepEqual(
      paid.body.payouts.map((p: { partyId: string }) => p.partyId).sort(),
      ['artist-7', 'publisher-1'],
      'the hold lifted',
    );

    const metrics = await server.request('GET', '/metrics');
    t.regex(metrics.text, /finance_reconciliation_discrepancies_total\{kind="amount_mismatch"\} [1-9]/);
  });
}
