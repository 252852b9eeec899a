/**
 * Signatures carried inside records (docs/FORMAT.md section 5, check 5b): the
 * kernel's signature in `manifest.approved` and a ledger proof's signature in
 * `ledger.proof_issued` are checked against the registry and its windows,
 * and a bad one is reported at its record's seq, by audit-verify and replay.
 */
import test from 'ava';
import { sha256Hex } from '../../chain/hash.ts';
import type { JsonObject } from '../../domain/json.ts';
import { runDemoWorkload } from '../../commands/demo/demoWorkload.ts';
import { inProcessChecker } from '../../verifier/inProcessChecker.ts';
import { verify } from '../../verifier/verify.ts';
import { databaseReader } from '../../infra/adapters/sql/databaseReader.ts';
import { workerChecker } from '../../infra/adapters/workers/checkPool.ts';
import { openRuntime } from '../../infra/wiring/runtime.ts';
import { sqlReplayTarget } from '../../infra/adapters/sql/replayTarget.ts';
import { replay } from '../../projections/replay/replay.ts';
import { testApp } from '../helpers/app.ts';
import { ENGINES } from '../helpers/databases.ts';
import { testRuntime } from '../helpers/runtime.ts';

const quiet = (): void => undefined;
const MANIFEST_SHA256 = sha256Hex('a manifest document');

for (const engine of ENGINES) {
  test(`${engine}: a manifest.approved whose kernel signature does not verify, or whose signer is unknown, is a finding at its seq`, async (t) => {
    const rt = await testRuntime(t, engine);
    const good = await rt.signer.signMessage(Buffer.from(MANIFEST_SHA256, 'hex'));
    const approved = (id: string, signature: { kid: string; alg: string; value: string }) => ({
      stream: `manifest-${id}`,
      type: 'manifest.approved',
      data: {
        manifestId: id,
        manifestSha256: MANIFEST_SHA256,
        manifestSignatureId: `msig-${id}`,
        approvedBy: 'kernel-operator',
        signature,
      },
      actor: { id: 'kernel-operator', role: 'Operator' },
    });
    await rt.store.append('main', [approved('m1', good)]);
    const verifyAll = async () => (await verify(databaseReader(rt.db), inProcessChecker(rt.registry))).finding;
    t.is(await verifyAll(), undefined, 'the real kernel signature checks');

    const otherHash = await rt.signer.signMessage(Buffer.from(sha256Hex('another document'), 'hex'));
    await rt.store.append('main', [approved('m2', otherHash)]);
    t.like(await verifyAll(), { chain: 'main', seq: 2, reason: 'embedded-signature-invalid' });
    t.regex((await verifyAll())!.message, /manifest\.approved.*does not verify/);
  });

  test(`${engine}: a manifest.approved signed by a kid outside the registry is a finding at its seq`, async (t) => {
    const rt = await testRuntime(t, engine);
    const good = await rt.signer.signMessage(Buffer.from(MANIFEST_SHA256, 'hex'));
    await rt.store.append('main', [
      {
        stream: 'manifest-m3',
        type: 'manifest.approved',
        data: {
          manifestId: 'm3',
          manifestSha256: MANIFEST_SHA256,
          manifestSignatureId: 'msig-m3',
          approvedBy: 'kernel-operator',
          signature: { ...good, kid: 'not-in-the-registry' },
        },
        actor: { id: 'kernel-operator', role: 'Operator' },
      },
    ]);
    const finding = (await verify(databaseReader(rt.db), inProcessChecker(rt.registry))).finding;
    t.like(finding, { chain: 'main', seq: 1, reason: 'embedded-signature-invalid' });
    t.regex(finding!.message, /not-in-the-registry/);
  });
}

test('a ledger.proof_issued is checked against the chain: its signature over the proof rebuilt from the range, by audit-verify and replay', async (t) => {
  const app = await testApp(t, 'pglite');
  const summary = await runDemoWorkload(app.deps, 1, quiet);
  const reader = () => databaseReader(app.test.db);
  t.is((await verify(reader(), inProcessChecker(app.runtime.registry))).finding, undefined, 'the demo chain checks');
  const [issued] = await app.runtime.store.readChain('main', { fromSeq: summary.toSeq, limit: 1 });
  t.is(issued!.record.type, 'ledger.proof_issued');
  const data = issued!.record.data;
  t.is(typeof data['proofTs'], 'string', 'the record carries the time the proof was signed');

  // The same proof recorded again under another id: its signature was over the first id.
  const head = await app.runtime.store.head('main');
  await app.runtime.store.append('main', [
    {
      stream: 'proof-copied',
      type: 'ledger.proof_issued',
      data: { ...data, proofId: 'copied' },
      actor: { id: 'finance-lead', role: 'DivisionLead' },
    },
  ]);
  const finding = (await verify(reader(), inProcessChecker(app.runtime.registry))).finding;
  t.like(finding, { chain: 'main', seq: head.seq + 1, reason: 'embedded-signature-invalid' });
  t.regex(finding!.message, /ledger\.proof_issued/);
  const replayed = await replay({
    target: sqlReplayTarget(app.test.db),
    checker: inProcessChecker(app.runtime.registry),
    compare: true,
  });
  t.false(replayed.committed);
  t.like(replayed.finding, { chain: 'main', seq: head.seq + 1, reason: 'embedded-signature-invalid' });
});

test('a ledger.proof_issued whose signature bytes were changed, or whose range_hash is not the range, is a finding at its seq', async (t) => {
  const app = await testApp(t, 'pglite');
  const summary = await runDemoWorkload(app.deps, 1, quiet);
  const [issued] = await app.runtime.store.readChain('main', { fromSeq: summary.toSeq, limit: 1 });
  const data = issued!.record.data;
  const signature = Buffer.from(data['signature'] as string, 'base64');
  signature[3] = signature[3]! ^ 0x01;
  const head = await app.runtime.store.head('main');
  const recordOf = (stream: string, changed: JsonObject) => ({
    stream,
    type: 'ledger.proof_issued',
    data: { ...data, ...changed },
    actor: { id: 'finance-lead', role: 'DivisionLead' },
  });
  // Appended by a writer without projections, as a tamperer holding the signer would: the proofs projection refuses a second record of one proof.
  const bare = await openRuntime(app.config, { projections: false, db: app.test.db });
  t.teardown(() => bare.close());
  await bare.store.append('main', [recordOf('proof-flipped', { signature: signature.toString('base64') })]);
  await bare.store.append('main', [recordOf('proof-range', { rangeHash: sha256Hex('not the range') })]);
  const checker = inProcessChecker(app.runtime.registry);
  const flipped = (await verify(databaseReader(app.test.db), checker)).finding;
  t.like(flipped, { seq: head.seq + 1, reason: 'embedded-signature-invalid' });
  t.regex(flipped!.message, /does not verify/);
  const range = (await verify(databaseReader(app.test.db), checker, { fromSeq: head.seq + 2 })).finding;
  t.like(range, { seq: head.seq + 2, reason: 'embedded-signature-invalid' });
  t.regex(range!.message, /range_hash/);
  // The checker audit-verify uses by default, on worker threads, finds the same.
  const workers = workerChecker(app.runtime.registry, 2);
  t.teardown(() => workers.close());
  t.deepEqual((await verify(databaseReader(app.test.db), workers)).finding, flipped);
});
