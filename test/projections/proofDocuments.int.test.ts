/**
 * Replay restores the ledger proof documents (projections/replay/proofDocuments.ts):
 * after a restore into a fresh database each document is the one kept when it
 * was issued, byte for byte, GET /ledger/proofs/{id} serves it and
 * verify-proof checks it against the restored chain; a proof that cannot be
 * rebuilt is reported, never thrown.
 */
import test from 'ava';
import { contextFor } from '../../commands/context.ts';
import { runDemoWorkload } from '../../commands/demo/demoWorkload.ts';
import { issueLedgerProof } from '../../commands/ledger/issueLedgerProof.ts';
import type { ChainRecord } from '../../chain/record.ts';
import { databaseReader } from '../../infra/adapters/sql/databaseReader.ts';
import { proofListing, sqlProofStore } from '../../infra/adapters/sql/proofDocuments.ts';
import { sqlReplayTarget } from '../../infra/adapters/sql/replayTarget.ts';
import type { SqlExecutor } from '../../infra/adapters/sql/sql.ts';
import { rebuildProofDocuments, type ProofDocumentStore } from '../../projections/replay/proofDocuments.ts';
import { projectionDigests } from '../../projections/projections.ts';
import { replay } from '../../projections/replay/replay.ts';
import { inProcessChecker } from '../../verifier/inProcessChecker.ts';
import type { RecordReader } from '../../verifier/reader.ts';
import { verifyProof } from '../../verifier/verifyProof.ts';
import { testApp } from '../helpers/app.ts';
import { ENGINES, openTestDatabase } from '../helpers/databases.ts';
import { testServer } from '../helpers/http.ts';

const quiet = (): void => undefined;
const FINANCE_LEAD = { id: 'finance-lead', role: 'DivisionLead' };

interface DocumentRow {
  chain: string;
  proof_id: string;
  from_seq: string | number;
  to_seq: string | number;
  from_ts: string;
  to_ts: string;
  payload_sha256: string;
  document: string;
}

async function documentRows(db: SqlExecutor): Promise<DocumentRow[]> {
  const { rows } = await db.query<DocumentRow>(
    `SELECT chain, proof_id, from_seq::text AS from_seq, to_seq::text AS to_seq, from_ts, to_ts, payload_sha256, document
     FROM ledger_proof_documents ORDER BY chain, proof_id`,
  );
  return rows;
}

function sqlDocuments(db: SqlExecutor): ProofDocumentStore {
  return {
    listing: (chain, afterSeq, limit) => proofListing(db, chain, afterSeq, limit),
    save: sqlProofStore(db).save,
  };
}

for (const engine of ENGINES) {
  test(`${engine}: replay into a fresh database rebuilds every ledger proof document byte for byte, served by GET /ledger/proofs/{id} and checked by verify-proof`, async (t) => {
    const app = await testApp(t, engine);
    await runDemoWorkload(app.deps, 3, quiet);
    const live = await documentRows(app.test.db);
    t.true(live.length > 1, 'the demo issued a ledger proof over it all and one per delivery');
    const fresh = await openTestDatabase(engine);
    t.teardown(() => fresh.drop());
    const restored = await replay({
      target: sqlReplayTarget(fresh.db),
      source: { reader: databaseReader(app.test.db), digests: () => projectionDigests(app.test.db) },
      checker: inProcessChecker(app.runtime.registry),
      compare: true,
    });
    t.true(restored.ok, JSON.stringify(restored.finding ?? restored.differences));
    t.deepEqual(restored.proofDocuments, { kept: 0, rebuilt: live.length, notRebuilt: 0, problems: [] });
    t.deepEqual(await documentRows(fresh.db), live);

    for (const { document } of live) {
      const checked = await verifyProof(
        document,
        { registry: app.runtime.registry },
        { reader: databaseReader(fresh.db), checker: inProcessChecker(app.runtime.registry) },
      );
      t.true(checked.ok && checked.chainChecked, JSON.stringify(checked.finding));
    }
    const server = await testServer(t, { test: fresh });
    for (const { proof_id, document } of live) {
      const served = await server.request('GET', `/ledger/proofs/${proof_id}`, { as: 'auditor' });
      t.is(served.status, 200, served.text);
      t.deepEqual(served.body, JSON.parse(document));
    }
    const listed = await server.request('GET', '/ledger/proofs', { as: 'auditor' });
    t.is(listed.status, 200, listed.text);
    const items = listed.body.items as { stored: boolean }[];
    t.is(items.length, live.length);
    t.true(
      items.every((proof) => proof.stored),
      'every proof is listed as stored',
    );

    // Replayed again in place, every document is there already: nothing is rebuilt.
    const again = await replay({ target: sqlReplayTarget(fresh.db), checker: inProcessChecker(app.runtime.registry) });
    t.true(again.ok);
    t.deepEqual(again.proofDocuments, { kept: live.length, rebuilt: 0, notRebuilt: 0, problems: [] });
    t.deepEqual(await documentRows(fresh.db), live);
  });
}

test('a ledger.proof_issued recorded without proofTs is reported as not rebuildable, and the replay still succeeds', async (t) => {
  const app = await testApp(t, 'pglite');
  const summary = await runDemoWorkload(app.deps, 1, quiet);
  const [issued] = await app.runtime.store.readChain('main', { fromSeq: summary.toSeq, limit: 1 });
  t.is(issued!.record.type, 'ledger.proof_issued');
  // As a record written before proofTs was recorded: check 5b checks its signer only.
  const { proofTs: _proofTs, ...older } = issued!.record.data;
  const appended = await app.runtime.store.append('main', [
    { stream: 'proof-older', type: 'ledger.proof_issued', data: { ...older, proofId: 'older' }, actor: FINANCE_LEAD },
  ]);
  const fresh = await openTestDatabase('pglite');
  t.teardown(() => fresh.drop());
  const restored = await replay({
    target: sqlReplayTarget(fresh.db),
    source: { reader: databaseReader(app.test.db) },
    checker: inProcessChecker(app.runtime.registry),
  });
  t.true(restored.ok, JSON.stringify(restored.finding));
  t.true(restored.committed);
  const live = await documentRows(app.test.db);
  t.like(restored.proofDocuments, { kept: 0, rebuilt: live.length, notRebuilt: 1 });
  t.like(restored.proofDocuments.problems, [{ chain: 'main', seq: appended.events[0]!.seq, proofId: 'older' }]);
  t.regex(restored.proofDocuments.problems[0]!.reason, /proofTs/);
  t.deepEqual(await documentRows(fresh.db), live);
});

/** The database's reader with the records of the chain changed on the way: `damage` returns a record's new text, or undefined to leave it out. */
function damagedReader(
  reader: RecordReader,
  damage: (record: ChainRecord, text: string) => string | undefined,
): RecordReader {
  return {
    ...reader,
    async *pages(chain, fromSeq, toSeq) {
      for await (const page of reader.pages(chain, fromSeq, toSeq))
        yield page.flatMap((text) => damage(JSON.parse(text) as ChainRecord, text) ?? []);
    },
  };
}

test('a proof whose range is damaged (a record missing, a ledger row changed) is reported with its reason, not thrown, and the others are rebuilt', async (t) => {
  const app = await testApp(t, 'pglite');
  await runDemoWorkload(app.deps, 2, quiet);
  const early = await issueLedgerProof(app.deps, { fromSeq: 1, toSeq: 3 }, contextFor(FINANCE_LEAD));
  const live = await documentRows(app.test.db);
  await app.test.db.query('DELETE FROM ledger_proof_documents');
  const listing = await proofListing(app.test.db, 'main', 0, 1000);
  const covering = (seq: number) => listing.filter((proof) => proof.fromSeq <= seq && seq <= proof.toSeq);
  const postedSeq = Number(
    (await app.test.db.query<{ seq: string }>('SELECT max(seq)::text AS seq FROM ledger_transactions')).rows[0]!.seq,
  );
  t.true(covering(postedSeq).length > 0 && covering(postedSeq).length < listing.length);

  const missing = damagedReader(databaseReader(app.test.db), (record, text) =>
    record.seq === postedSeq ? undefined : text,
  );
  const report = await rebuildProofDocuments(missing, sqlDocuments(app.test.db), ['main']);
  t.is(report.notRebuilt, covering(postedSeq).length);
  t.is(report.rebuilt, listing.length - report.notRebuilt);
  t.deepEqual(
    report.problems.map((problem) => problem.proofId).sort(),
    covering(postedSeq)
      .map((p) => p.proofId)
      .sort(),
  );
  for (const problem of report.problems) t.regex(problem.reason, /cannot all be read/);
  const kept = await documentRows(app.test.db);
  t.deepEqual(
    kept,
    live.filter((row) => !covering(postedSeq).some((proof) => proof.proofId === row.proof_id)),
  );
  t.true(
    kept.some((row) => row.proof_id === early.proof!.proof_id),
    'a proof over an undamaged range is rebuilt',
  );

  const changed = damagedReader(databaseReader(app.test.db), (record, text) =>
    record.seq === postedSeq ? text.replace(/"amountMinor":(\d)/, '"amountMinor":9$1') : text,
  );
  const again = await rebuildProofDocuments(changed, sqlDocuments(app.test.db), ['main']);
  t.like(again, { kept: kept.length, rebuilt: 0, notRebuilt: covering(postedSeq).length });
  for (const problem of again.problems) t.regex(problem.reason, /rangeHash \(range_hash\) is not what the records/);
});
