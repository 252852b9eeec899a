/**
 * audit-verify check 5b for `delivery.proof_issued` (docs/FORMAT.md sections
 * 5 and 13): the delivery proof is rebuilt from the record and the
 * `delivery.prepared` at its deliverySeq, and its signature checked against
 * the registry. Whatever the record says, a problem is a finding at the
 * proof_issued record's seq, never an exception.
 */
import { join } from 'node:path';
import test from 'ava';
import { deliveryProofFromChain } from '../../chain/deliveryProof.ts';
import { sha256Hex } from '../../chain/hash.ts';
import { databaseReader } from '../../infra/adapters/sql/databaseReader.ts';
import { fileReader } from '../../infra/adapters/files/fileReader.ts';
import { workerChecker } from '../../infra/adapters/workers/checkPool.ts';
import { inProcessChecker } from '../../verifier/inProcessChecker.ts';
import { verify } from '../../verifier/verify.ts';
import {
  appendEvent,
  appendPrepared,
  appendProofIssued,
  preparedData,
  signedProof,
  writeDump,
} from '../helpers/deliveryProofs.ts';
import { tempDir, testRuntime } from '../helpers/runtime.ts';

test('a delivery.proof_issued over its delivery.prepared passes, from the database, a dump and a range that starts after the prepared record', async (t) => {
  const rt = await testRuntime(t, 'pglite');
  const prepared = await appendPrepared(rt.store, preparedData('order-a', 'dlv-a1'));
  const { issued } = await signedProof(prepared, rt.signer);
  const recorded = await appendProofIssued(rt.store, 'order-a', issued);
  const checker = inProcessChecker(rt.registry);
  const report = await verify(databaseReader(rt.db), checker);
  t.is(report.finding, undefined);
  t.is(report.records, 2);
  t.is((await verify(databaseReader(rt.db), checker, { fromSeq: recorded.seq })).finding, undefined);
  const dump = join(tempDir('delivery-dump'), 'chain.jsonl');
  await writeDump(databaseReader(rt.db), dump);
  t.is((await verify(fileReader(dump), checker)).finding, undefined);
  t.is((await verify(fileReader(dump), checker, { fromSeq: recorded.seq })).finding, undefined);
});

test('each delivery.proof_issued that does not check against its delivery.prepared is a finding at its own seq', async (t) => {
  const rt = await testRuntime(t, 'pglite');
  const prepared = await appendPrepared(rt.store, preparedData('order-a', 'dlv-a1'));
  const { issued } = await signedProof(prepared, rt.signer);
  const good = await appendProofIssued(rt.store, 'order-a', issued);
  // Records a proof can wrongly point at: the same delivery prepared with another ciphertext, another order's, one whose data is not a delivery's.
  const other = await appendPrepared(
    rt.store,
    preparedData('order-a', 'dlv-a1', { ciphertextSha256: sha256Hex('another ciphertext') }),
  );
  const otherOrder = await appendPrepared(rt.store, preparedData('order-b', 'dlv-a1'));
  const broken = await appendEvent(rt.store, 'delivery-order-c', 'delivery.prepared', { orderId: 'order-c' });
  const flipped = Buffer.from(issued.signature, 'base64');
  flipped[5] = flipped[5]! ^ 0x01;
  const rebuiltSha256 = (changes: Partial<typeof issued>, over = prepared) =>
    sha256Hex(deliveryProofFromChain(over, { ...issued, ...changes }).canonical_payload);
  const unknownSigner = { ...issued, signerKid: 'not-in-the-registry' };
  const otherData = { ...issued, deliverySeq: other.seq, deliveryHash: other.hash };
  const cases: [string, object, RegExp][] = [
    ['a signature with one bit changed', { ...issued, signature: flipped.toString('base64') }, /does not verify/],
    ['a wrong deliveryHash', { ...issued, deliveryHash: sha256Hex('not the record') }, /deliveryHash is not the hash/],
    [
      'deliverySeq at a record that is not a delivery.prepared',
      { ...issued, deliverySeq: good.seq, deliveryHash: good.hash },
      /is a delivery\.proof_issued, not a delivery\.prepared/,
    ],
    ['deliverySeq at a later seq', { ...issued, deliverySeq: 1000 }, /deliverySeq 1000 is not an earlier record/],
    ['a prepared record whose data differs from the proof', otherData, /payloadSha256 is not the SHA-256/],
    [
      'that same record, with payloadSha256 made to fit it',
      { ...otherData, payloadSha256: rebuiltSha256({}, other) },
      /signature in delivery\.proof_issued.*does not verify/,
    ],
    [
      'a prepared record of another order',
      { ...issued, deliverySeq: otherOrder.seq, deliveryHash: otherOrder.hash },
      /another orderId or deliveryId/,
    ],
    [
      'a prepared record whose data is not a delivery',
      { ...issued, deliverySeq: broken.seq, deliveryHash: broken.hash },
      /has data of another form/,
    ],
    ['proofTs after the record', { ...issued, proofTs: '2999-01-01T00:00:00.000Z' }, /proofTs is after the record/],
    [
      'a signer outside the registry',
      { ...unknownSigner, payloadSha256: rebuiltSha256(unknownSigner) },
      /unknown-signer.*not-in-the-registry/,
    ],
    ['data without most members', { orderId: 'order-a' }, /data is not of the form/],
    ['deliverySeq as text', { ...issued, deliverySeq: 'one' }, /deliverySeq/],
    ['a member more', { ...issued, comment: 'hello' }, /data is not of the form/],
    ['a signature that is not text', { ...issued, signature: 42 }, /signature/],
    ['another kind', { ...issued, kind: 'ledger-range' }, /kind/],
  ];
  const seqs: number[] = [];
  for (const [, data] of cases) seqs.push((await appendProofIssued(rt.store, 'order-a', data)).seq);
  const checker = inProcessChecker(rt.registry);
  for (const [index, [name, , message]] of cases.entries()) {
    const seq = seqs[index]!;
    const finding = (await verify(databaseReader(rt.db), checker, { fromSeq: seq, toSeq: seq })).finding;
    t.like(finding, { chain: 'main', seq, reason: 'embedded-signature-invalid' }, name);
    t.regex(finding?.message ?? '', message, name);
  }
  // The whole chain: the first bad record is the finding, the same on worker threads and from a dump.
  const first = (await verify(databaseReader(rt.db), checker)).finding;
  t.like(first, { seq: seqs[0], reason: 'embedded-signature-invalid' });
  const workers = workerChecker(rt.registry, 2);
  t.teardown(() => workers.close());
  t.deepEqual((await verify(databaseReader(rt.db), workers)).finding, first);
  const dump = join(tempDir('delivery-dump'), 'chain.jsonl');
  await writeDump(databaseReader(rt.db), dump);
  t.deepEqual((await verify(fileReader(dump), checker)).finding, first);
});

test('a delivery.prepared changed in the database fails at its own seq, and the proof over it fails a range that starts after it', async (t) => {
  const rt = await testRuntime(t, 'pglite');
  const prepared = await appendPrepared(rt.store, preparedData('order-a', 'dlv-a1'));
  const { issued } = await signedProof(prepared, rt.signer);
  const recorded = await appendProofIssued(rt.store, 'order-a', issued);
  await rt.test.superuser(
    `UPDATE events SET record = replace(record, '"ciphertextBytes":4200', '"ciphertextBytes":4201') WHERE seq = $1`,
    [prepared.seq],
  );
  const checker = inProcessChecker(rt.registry);
  t.like((await verify(databaseReader(rt.db), checker)).finding, { seq: prepared.seq, reason: 'hash-mismatch' });
  const tail = (await verify(databaseReader(rt.db), checker, { fromSeq: recorded.seq })).finding;
  t.like(tail, { seq: recorded.seq, reason: 'embedded-signature-invalid' });
  t.regex(tail!.message, /does not recompute/);
});
