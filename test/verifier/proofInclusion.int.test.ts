/**
 * Ledger and delivery proofs carry the inclusion proof of the record they
 * attest (docs/FORMAT.md section 14, "Inclusion in signed proofs";
 * verifier/proofInclusion.ts): made from the demo's chain once a checkpoint
 * covers the record, the proof with `inclusion` verifies, with and without
 * the chain; the proof as issued, without it, still verifies; an inclusion
 * of another record, a changed hash, another signer's checkpoint or a
 * member that is not a proof file are refused.
 */
import test from 'ava';
import { generateKeyPairSync, sign } from 'node:crypto';
import { parseNote, signedNote } from '../../chain/checkpoint.ts';
import type { SignedProof } from '../../chain/proof.ts';
import { contextFor } from '../../commands/context.ts';
import { runDemoWorkload } from '../../commands/demo/demoWorkload.ts';
import { FINANCE_LEAD } from '../../commands/demo/marketplaceFlow.ts';
import { issueLedgerProof } from '../../commands/ledger/issueLedgerProof.ts';
import { findDeliveryProof } from '../../projections/delivery/deliveryQueries.ts';
import { databaseReader } from '../../infra/adapters/sql/databaseReader.ts';
import { inclusionProofFile } from '../../infra/adapters/sql/treeLog.ts';
import { checkpointing } from '../../infra/wiring/checkpoints.ts';
import { inProcessChecker } from '../../verifier/inProcessChecker.ts';
import { verifyProof, type ProofReport } from '../../verifier/verifyProof.ts';
import { checkProofInclusion } from '../../verifier/proofInclusion.ts';
import { parseTlogProof } from '../../chain/proofFile.ts';
import type { SignerRegistry } from '../../chain/registry.ts';
import { testApp, type TestApp } from '../helpers/app.ts';
import { testServer } from '../helpers/http.ts';

const quiet = (): void => undefined;

async function verified(app: TestApp, document: object, withChain: boolean): Promise<ProofReport> {
  const { registry } = app.runtime;
  const checker = inProcessChecker(registry);
  try {
    const source = withChain ? { reader: databaseReader(app.test.db), checker } : undefined;
    return await verifyProof(JSON.stringify(document), { registry }, source);
  } finally {
    await checker.close();
  }
}

/** The proof file with its first proof hash line changed. */
function changedHash(file: string): string {
  const lines = file.split('\n');
  lines[3] = lines[3]!.startsWith('A') ? `B${lines[3]!.slice(1)}` : `A${lines[3]!.slice(1)}`;
  return lines.join('\n');
}

test('ledger and delivery proofs carry the inclusion of their record, verified; old proofs still verify', async (t) => {
  const app = await testApp(t, 'postgres');
  await runDemoWorkload(app.deps, 3, quiet);
  const ledger = (await issueLedgerProof(app.deps, {}, contextFor(FINANCE_LEAD))).proof! as SignedProof;
  const orderId = (
    await app.test.db.query<{ order_id: string }>('SELECT order_id FROM deliveries WHERE proof_id IS NOT NULL LIMIT 1')
  ).rows[0]!.order_id;
  const delivery = (await findDeliveryProof(app.test.db, orderId)) as { chain: string; delivery_seq: number };
  t.is(await inclusionProofFile(app.test.db, 'main', ledger.to_seq, 0), undefined, 'no checkpoint covers it yet');

  const tree = checkpointing(app.runtime);
  const note = await tree.makeIfDue('main', Date.now());
  const size = Number(parseNote(note!)!.body.split('\n')[1]);
  const ledgerInclusion = (await inclusionProofFile(app.test.db, 'main', ledger.to_seq, 0))!;
  const deliveryInclusion = (await inclusionProofFile(app.test.db, 'main', delivery.delivery_seq, 0))!;
  t.is(await inclusionProofFile(app.test.db, 'main', ledger.to_seq, 1), undefined, 'none with a cosignature');

  for (const [document, inclusion] of [
    [ledger, ledgerInclusion],
    [delivery, deliveryInclusion],
  ] as const) {
    for (const withChain of [false, true]) {
      const report = await verified(app, { ...document, inclusion }, withChain);
      t.true(report.ok, JSON.stringify(report.finding));
      t.like(report.inclusion, { origin: 'chainbook/main', treeSize: size, signedBy: app.runtime.signer.kid });
      const old = await verified(app, document, withChain);
      t.true(old.ok, 'the proof as issued, without inclusion');
      t.is(old.inclusion, undefined);
    }
    t.like(await verified(app, { ...document, inclusion: changedHash(inclusion) }, false), {
      ok: false,
      finding: { reason: 'inclusion-invalid' },
    });
    t.like(await verified(app, { ...document, inclusion: 42 }, false), {
      ok: false,
      finding: { reason: 'malformed-proof' },
    });
  }
  t.like(
    await verified(app, { ...ledger, inclusion: deliveryInclusion }, false),
    {
      ok: false,
      finding: { reason: 'inclusion-invalid' },
    },
    "the delivery record's inclusion is not the ledger proof's",
  );

  // The signer retired before the record was written cannot have signed a checkpoint covering it.
  const recordTs = Date.parse((JSON.parse(parseTlogProof(ledgerInclusion)!.record) as { ts: string }).ts);
  const retiredAt = (ms: number): SignerRegistry => {
    const signers = new Map(app.runtime.registry.signers);
    const entry = signers.get(app.runtime.signer.kid)!;
    signers.set(app.runtime.signer.kid, { ...entry, retiredAt: new Date(ms).toISOString(), retiredAtMs: ms });
    return { signers };
  };
  const attested = { chain: 'main', seq: ledger.to_seq, hash: ledger.head_hash };
  t.like(checkProofInclusion(ledgerInclusion, attested, { registry: retiredAt(recordTs + 1) }), {
    finding: undefined,
    facts: { treeSize: size },
  });
  t.like(checkProofInclusion(ledgerInclusion, attested, { registry: retiredAt(recordTs) }), {
    finding: { reason: 'inclusion-invalid' },
  });

  // The same checkpoint text signed by a key outside the registry, under the signer's name.
  const stranger = generateKeyPairSync('ed25519');
  const { body, signatures } = parseNote(note!)!;
  const forged = signedNote(body, [
    { ...signatures[0]!, signature: sign(null, Buffer.from(body), stranger.privateKey) },
  ]);
  const forgedFile = ledgerInclusion.replace(note!, forged);
  t.not(forgedFile, ledgerInclusion);
  t.like(await verified(app, { ...ledger, inclusion: forgedFile }, false), {
    ok: false,
    finding: { reason: 'inclusion-invalid' },
  });
});

test('a proof whose inclusion cannot be made is served without it, not a 500', async (t) => {
  const app = await testApp(t, 'postgres');
  await runDemoWorkload(app.deps, 1, quiet);
  const ledger = (await issueLedgerProof(app.deps, {}, contextFor(FINANCE_LEAD))).proof! as SignedProof;
  const orderId = (
    await app.test.db.query<{ order_id: string }>('SELECT order_id FROM deliveries WHERE proof_id IS NOT NULL LIMIT 1')
  ).rows[0]!.order_id;
  t.truthy(await checkpointing(app.runtime).makeIfDue('main', Date.now()));
  const server = await testServer(t, { test: app.test });
  const paths = [`/ledger/proofs/${ledger.proof_id}`, `/orders/${orderId}/delivery/proof`];
  for (const path of paths) {
    const served = await server.request('GET', path, { as: 'auditor' });
    t.is(served.status, 200, served.text);
    t.is(typeof served.body.inclusion, 'string', `${path}: with inclusion while the tiles are there`);
  }
  // A checkpoint row naming a tree larger than the one stored (a bad restore): the proof cannot be made.
  await app.test.db.query('UPDATE checkpoints SET tree_size = tree_size + 1000');
  await t.throwsAsync(inclusionProofFile(app.test.db, 'main', ledger.to_seq, 0));
  for (const path of paths) {
    const served = await server.request('GET', path, { as: 'auditor' });
    t.is(served.status, 200, served.text);
    t.is(served.body.inclusion, undefined, path);
    t.is(served.body.signature === undefined, false, `${path}: the signed document as it is`);
  }
});
