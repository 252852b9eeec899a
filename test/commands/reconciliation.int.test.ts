/**
 * Reconciliation on a real database (PostgreSQL and PGlite): a marketplace
 * day and a payout run, a provider report generated from the same ledger
 * with one planted discrepancy of each kind, the holds they put on payouts,
 * resolving them, and bad reports that record nothing.
 */
import test, { type ExecutionContext } from 'ava';
import { contextFor } from '../../commands/context.ts';
import { runDemoWorkload } from '../../commands/demo/demoWorkload.ts';
import { FINANCE_LEAD } from '../../commands/demo/marketplaceFlow.ts';
import { runPayouts } from '../../commands/payouts/runPayouts.ts';
import { reconcile } from '../../commands/reconciliation/reconcile.ts';
import { resolveDiscrepancy } from '../../commands/reconciliation/resolveDiscrepancy.ts';
import { CodedError } from '../../domain/errors.ts';
import { heldParties, reconciliationReport } from '../../projections/reconciliation/reconciliationQueries.ts';
import { testApp, type TestApp } from '../helpers/app.ts';
import { ENGINES } from '../helpers/databases.ts';
import { chunksOf, csvOf, jsonlOf, reportFromLedger, type GeneratedLine } from '../helpers/providerReports.ts';

const quiet = (): void => undefined;
const today = (): string => new Date().toISOString().slice(0, 10);
const period = () => ({ from: today(), to: today() });

async function refused(t: ExecutionContext, app: TestApp, code: string, step: () => Promise<unknown>, why?: RegExp) {
  const before = await app.snapshot();
  const holds = await heldParties(app.test.db);
  const error = await t.throwsAsync(async () => step(), { instanceOf: CodedError });
  t.is(error?.code, code);
  if (why) t.regex(error?.message ?? '', why, code);
  t.deepEqual(await app.snapshot(), before, `${code}: nothing appended`);
  t.deepEqual(await heldParties(app.test.db), holds, `${code}: holds unchanged`);
}

/** The day's report with one discrepancy of each kind planted; returns it and the references planted. */
function plant(lines: GeneratedLine[]) {
  const charges = lines.filter((line) => line.type === 'charge');
  const [dropped, short, dollars, twice, fee] = charges as [GeneratedLine, ...GeneratedLine[]];
  const planted = lines
    .filter((line) => line !== dropped)
    .map((line) => {
      if (line === short) return { ...line, amount: line.amount - 1 };
      if (line === dollars) return { ...line, currency: 'USD' };
      if (line === fee) return { ...line, fee: 59 };
      return line;
    });
  planted.push({ ...twice!, id: 'txn_double' });
  planted.push({
    id: 'txn_stranger',
    type: 'charge',
    amount: 500,
    currency: 'EUR',
    created: dropped.created,
    reference: 'order-unknown',
  });
  return {
    lines: planted,
    expected: {
      missing_at_provider: dropped.reference,
      amount_mismatch: short!.reference,
      currency_mismatch: dollars!.reference,
      duplicate: twice!.reference,
      fee_difference: fee!.reference,
      missing_in_ledger: 'order-unknown',
    },
  };
}

for (const engine of ENGINES) {
  test(`${engine}: a report generated from the same day reconciles clean, in CSV and in JSON Lines, streamed in small chunks`, async (t) => {
    const app = await testApp(t, engine);
    await runDemoWorkload(app.deps, 8, quiet);
    await runPayouts(app.deps, {}, contextFor(FINANCE_LEAD));
    const lines = await reportFromLedger(app.test.db);
    t.true(lines.some((line) => line.type === 'refund') && lines.some((line) => line.type === 'payout'));
    for (const [format, text] of [
      ['csv', csvOf(lines)],
      ['jsonl', jsonlOf(lines)],
    ] as const) {
      const result = await reconcile(app.deps, { format, ...period() }, chunksOf(text), contextFor(FINANCE_LEAD));
      t.is(result.discrepancyCount, 0, format);
      t.like(result.counts, { matched: lines.length, missing_at_provider: 0 });
      t.is(result.events.length, 1, 'the run is recorded, with no discrepancy');
      const report = await reconciliationReport(app.test.db, result.reconciliationId);
      t.like(report, { lineCount: lines.length, reportSha256: result.reportSha256, format });
    }
    t.deepEqual([...(await heldParties(app.test.db))], []);
  });

  test(`${engine}: one planted discrepancy of each kind is found, exactly; its holds stop payouts until resolved`, async (t) => {
    const app = await testApp(t, engine);
    await runDemoWorkload(app.deps, 12, quiet);
    const { lines, expected } = plant(await reportFromLedger(app.test.db));
    const result = await reconcile(
      app.deps,
      { format: 'csv', ...period() },
      chunksOf(csvOf(lines), 64),
      contextFor(FINANCE_LEAD),
    );
    const report = (await reconciliationReport(app.test.db, result.reconciliationId))!;
    t.deepEqual(
      Object.fromEntries(report.discrepancies.map((d) => [d.kind, d.reference])),
      expected,
      'exactly the planted discrepancies, each found once',
    );
    t.is(report.discrepancies.length, 6);
    t.like(report.counts, { matched: lines.length - 5, missing_at_provider: 1, duplicate: 1, fee_difference: 1 });

    const held = await heldParties(app.test.db);
    t.true(held.size > 0, 'the orders touched hold their parties');
    const run = await runPayouts(app.deps, {}, contextFor(FINANCE_LEAD));
    for (const payout of run.payouts) t.false(held.has(payout.partyId), `${payout.partyId} is on hold`);

    await refused(t, app, 'FORBIDDEN_ROLE', () =>
      resolveDiscrepancy(
        app.deps,
        { reconciliationId: result.reconciliationId, discrepancyId: 'd1', reason: 'ok' },
        contextFor({ id: 'auditor-1', role: 'Auditor' }),
      ),
    );
    await refused(t, app, 'INVALID_INPUT', () =>
      resolveDiscrepancy(
        app.deps,
        { reconciliationId: result.reconciliationId, discrepancyId: 'd1' },
        contextFor(FINANCE_LEAD),
      ),
    );
    await refused(t, app, 'DISCREPANCY_NOT_FOUND', () =>
      resolveDiscrepancy(
        app.deps,
        { reconciliationId: result.reconciliationId, discrepancyId: 'd99', reason: 'x' },
        contextFor(FINANCE_LEAD),
      ),
    );
    for (const d of report.discrepancies)
      await resolveDiscrepancy(
        app.deps,
        {
          reconciliationId: result.reconciliationId,
          discrepancyId: d.discrepancyId,
          reason: `checked with the provider: ${d.kind}`,
        },
        contextFor(FINANCE_LEAD),
      );
    await refused(t, app, 'DISCREPANCY_ALREADY_RESOLVED', () =>
      resolveDiscrepancy(
        app.deps,
        { reconciliationId: result.reconciliationId, discrepancyId: 'd1', reason: 'again' },
        contextFor(FINANCE_LEAD),
      ),
    );
    t.deepEqual([...(await heldParties(app.test.db))], [], 'resolving lifts every hold');
    const resolved = (await reconciliationReport(app.test.db, result.reconciliationId))!;
    t.true(resolved.discrepancies.every((d) => d.status === 'resolved' && d.resolvedBy === FINANCE_LEAD.id));
    const next = await runPayouts(app.deps, {}, contextFor(FINANCE_LEAD));
    const paid = new Set(next.payouts.map((payout) => payout.partyId));
    for (const party of held)
      if (party !== 'order-unknown') t.true(paid.has(party), `${party} is paid once the hold lifts`);
  });

  test(`${engine}: bad reports are refused with their line and why; nothing is recorded and holds stay as they were`, async (t) => {
    const app = await testApp(t, engine);
    await runDemoWorkload(app.deps, 4, quiet);
    const lines = await reportFromLedger(app.test.db);
    const good = csvOf(lines).split('\n');
    const withLine = (index: number, text: string) => [...good.slice(0, index), text, ...good.slice(index)].join('\n');
    const bad: [string, string, RegExp][] = [
      ['malformed', withLine(2, 'txn_x,charge,12a,0,EUR,2025-11-01T00:00:00Z,o-1'), /line 3: amount/],
      [
        'unknown type',
        withLine(2, 'txn_x,chargeback,100,0,EUR,2025-11-01T00:00:00Z,o-1'),
        /line 3: unknown type "chargeback"/,
      ],
      ['phantom currency', withLine(3, 'txn_x,charge,100,0,ZZZ,2025-11-01T00:00:00Z,o-1'), /line 4: currency "ZZZ"/],
      ['duplicated id', withLine(2, good[1]!), /line 3: transaction id txn_000001 repeats the one of line 2/],
      [
        'bad header',
        `id,type,amount\n${good.slice(1).join('\n')}`,
        /line 1: the header lacks the column\(s\) currency, created/,
      ],
      ['bad time', withLine(2, 'txn_x,charge,100,0,EUR,yesterday,o-1'), /line 3: created/],
      ['too few fields', withLine(2, 'txn_x,charge,100'), /line 3: 3 fields/],
    ];
    for (const [, text, why] of bad) {
      await refused(
        t,
        app,
        'REPORT_INVALID',
        () => reconcile(app.deps, { format: 'csv', ...period() }, chunksOf(text, 100), contextFor(FINANCE_LEAD)),
        why,
      );
    }
    await refused(
      t,
      app,
      'REPORT_INVALID',
      () => reconcile(app.deps, { format: 'jsonl', ...period() }, chunksOf('{"id":"a"\n'), contextFor(FINANCE_LEAD)),
      /line 1: not a JSON object/,
    );
    await refused(t, app, 'FORBIDDEN_ROLE', () =>
      reconcile(
        app.deps,
        { format: 'csv', ...period() },
        chunksOf(csvOf(lines)),
        contextFor({ id: 'publisher-ada', role: 'Publisher' }),
      ),
    );
    await refused(t, app, 'INVALID_INPUT', () =>
      reconcile(
        app.deps,
        { format: 'csv', from: '2025-11-30', to: '2025-11-01' },
        chunksOf(csvOf(lines)),
        contextFor(FINANCE_LEAD),
      ),
    );
    async function* huge(): AsyncGenerator<Uint8Array> {
      yield Buffer.from(`${good[0]!}\n`);
      const block = Buffer.alloc(1024 * 1024, '\n');
      for (let index = 0; index < 200; index++) yield block;
    }
    await refused(t, app, 'REPORT_TOO_LARGE', () =>
      reconcile(app.deps, { format: 'csv', ...period() }, huge(), contextFor(FINANCE_LEAD)),
    );
    await refused(t, app, 'REPORT_TOO_LARGE', () =>
      reconcile(
        app.deps,
        { format: 'csv', ...period(), sizeBytes: 200 * 1024 * 1024 },
        huge(),
        contextFor(FINANCE_LEAD),
      ),
    );
  });
}
