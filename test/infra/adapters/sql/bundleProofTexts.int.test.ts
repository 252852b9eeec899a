/** The proofs a bundle reads from the database (infra/adapters/sql/proofDocuments.ts), at the edges of the time range. */
import test from 'ava';
import { contextFor } from '../../../../commands/context.ts';
import { runDemoWorkload } from '../../../../commands/demo/demoWorkload.ts';
import { issueLedgerProof } from '../../../../commands/ledger/issueLedgerProof.ts';
import { bundleProofTexts, MAX_PROOF_DOCUMENTS } from '../../../../infra/adapters/sql/proofDocuments.ts';
import { testApp } from '../../../helpers/app.ts';

test('postgres: a range reaching the last instant RFC 3339 can write still finds every proof, ledger and delivery', async (t) => {
  const app = await testApp(t, 'postgres');
  await runDemoWorkload(app.deps, 2, () => undefined);
  const issued = await issueLedgerProof(app.deps, {}, contextFor({ id: 'finance-lead', role: 'DivisionLead' }));
  const texts = await bundleProofTexts(app.test.db, 'main', '0001-01-01T00:00:00.000Z', '9999-12-31T23:00:00.000Z');
  const ids = texts.map((text) => (JSON.parse(text.text) as { proof_id: string }).proof_id);
  t.true(ids.includes(issued.proof!.proof_id));
  const { rows } = await app.test.db.query<{ proof_id: string }>('SELECT proof_id FROM delivery_proofs');
  t.true(rows.length > 0);
  for (const { proof_id } of rows) t.true(ids.includes(proof_id), `delivery proof ${proof_id}`);
});

test('postgres: more stored proofs than one page are all read, none cut', async (t) => {
  const app = await testApp(t, 'postgres');
  await runDemoWorkload(app.deps, 1, () => undefined);
  const lead = contextFor({ id: 'finance-lead', role: 'DivisionLead' });
  const issued = new Set<string>();
  for (let index = 0; index < MAX_PROOF_DOCUMENTS + 5; index++)
    issued.add((await issueLedgerProof(app.deps, { fromSeq: 1, toSeq: 2 }, lead)).proof!.proof_id);
  const texts = await bundleProofTexts(app.test.db, 'main', '2000-01-01T00:00:00.000Z', '2100-01-01T00:00:00.000Z');
  const ids = new Set(texts.map((text) => (JSON.parse(text.text) as { proof_id: string }).proof_id));
  t.is(texts.length, ids.size, 'each once');
  for (const id of issued) t.true(ids.has(id));
});
