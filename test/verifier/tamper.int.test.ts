/**
 * A superuser can get around the append-only triggers; audit-verify must then
 * name what changed. Each case tampers with a chain of 30 records on a real
 * database and checks the finding.
 */
import test, { type ExecutionContext } from 'ava';
import { ZERO_HASH, type ChainRecord } from '../../chain/record.ts';
import { recordJcs } from '../../chain/canonical.ts';
import { hashPayload } from '../../chain/hash.ts';
import { payloadOf } from '../../chain/record.ts';
import { inProcessChecker } from '../../verifier/inProcessChecker.ts';
import { verify, type VerifyOptions } from '../../verifier/verify.ts';
import { databaseReader } from '../../infra/adapters/sql/databaseReader.ts';
import { ENGINES } from '../helpers/databases.ts';
import { testRuntime, type TestRuntime } from '../helpers/runtime.ts';

const RECORDS = 30;

async function chainOf30(t: ExecutionContext, engine: (typeof ENGINES)[number]): Promise<TestRuntime> {
  const rt = await testRuntime(t, engine);
  for (let n = 0; n < RECORDS; n++) {
    await rt.store.append('main', [
      {
        stream: `order-${n % 4}`,
        type: 'order.created',
        data: { priceMinor: 1000 + n },
        actor: { id: 'b', role: 'Buyer' },
      },
    ]);
  }
  return rt;
}

async function recordAt(rt: TestRuntime, seq: number): Promise<{ text: string; record: ChainRecord }> {
  const text = (await rt.db.query<{ record: string }>('SELECT record FROM events WHERE seq = $1', [seq])).rows[0]!
    .record;
  return { text, record: JSON.parse(text) as ChainRecord };
}

async function findingOf(rt: TestRuntime, options: VerifyOptions = {}) {
  return (await verify(databaseReader(rt.db), inProcessChecker(rt.registry), options)).finding;
}

for (const engine of ENGINES) {
  test(`${engine}: one changed byte in a stored record is reported at its seq`, async (t) => {
    const rt = await chainOf30(t, engine);
    const { text } = await recordAt(rt, 17);
    await rt.test.superuser('UPDATE events SET record = $1 WHERE seq = 17', [
      text.replace('"priceMinor":1016', '"priceMinor":9016'),
    ]);
    t.like(await findingOf(rt), { chain: 'main', seq: 17, reason: 'hash-mismatch' });
  });

  test(`${engine}: a lone surrogate in a stored record's meta or actor is a malformed record at its seq, not a crash`, async (t) => {
    const rt = await chainOf30(t, engine);
    const { text } = await recordAt(rt, 17);
    await rt.test.superuser('UPDATE events SET record = $1 WHERE seq = 17', [
      text.replace('"meta":{}', '"meta":{"traceId":"\\ud800"}'),
    ]);
    t.like(await findingOf(rt), { chain: 'main', seq: 17, reason: 'malformed-record' });
    await rt.test.superuser('UPDATE events SET record = $1 WHERE seq = 17', [
      text.replace('"id":"b"', '"id":"\\udc00"'),
    ]);
    t.like(await findingOf(rt), { chain: 'main', seq: 17, reason: 'malformed-record' });
  });

  test(`${engine}: a deleted middle record is reported at the gap`, async (t) => {
    const rt = await chainOf30(t, engine);
    await rt.test.superuser('DELETE FROM events WHERE seq = 12');
    t.like(await findingOf(rt), { seq: 12, reason: 'seq-gap' });
  });

  test(`${engine}: a rewritten record with a recomputed hash fails on its signature and on the next link`, async (t) => {
    const rt = await chainOf30(t, engine);
    const { record } = await recordAt(rt, 9);
    const forged = { ...record, data: { priceMinor: 1 } };
    forged.hash = hashPayload(payloadOf(forged), forged.prevHash).hash.toString('hex');
    await rt.test.superuser('UPDATE events SET record = $1 WHERE seq = 9', [recordJcs(forged)]);
    t.like(await findingOf(rt), { seq: 9, reason: 'bad-signature' });
    t.like(await findingOf(rt, { fromSeq: 10 }), { seq: 10, reason: 'prev-hash-mismatch' });
  });

  test(`${engine}: deleting the tail records is caught by the head row; deleting the tail and rolling the head back is not, here (the archive checkpoint catches it)`, async (t) => {
    const rt = await chainOf30(t, engine);
    await rt.test.superuser('DELETE FROM events WHERE seq > 27');
    t.like(await findingOf(rt), { seq: 28, reason: 'head-mismatch' });
    const { record } = await recordAt(rt, 27);
    await rt.test.superuser("UPDATE chain_heads SET seq = 27, hash = $1 WHERE chain = 'main'", [record.hash]);
    t.is(await findingOf(rt), undefined);
  });

  test(`${engine}: --limit checks the tail against its predecessor's stored hash`, async (t) => {
    const rt = await chainOf30(t, engine);
    const { text } = await recordAt(rt, 5);
    await rt.test.superuser('UPDATE events SET record = $1 WHERE seq = 5', [
      text.replace('"priceMinor":1004', '"priceMinor":1005'),
    ]);
    t.is(await findingOf(rt, { limit: 10 }), undefined, 'record 5 is outside the last 10');
    t.like(await findingOf(rt, { limit: 26 }), { seq: 5, reason: 'hash-mismatch' });
    await rt.test.superuser('DELETE FROM events WHERE seq = 20');
    t.like(await findingOf(rt, { limit: 10 }), { seq: 20, reason: 'missing-predecessor' });
  });

  test(`${engine}: an anchor from a trusted checkpoint is used instead of the stored predecessor`, async (t) => {
    const rt = await chainOf30(t, engine);
    const { record } = await recordAt(rt, 20);
    t.is(await findingOf(rt, { fromSeq: 21, prevHash: record.hash }), undefined);
    t.like(await findingOf(rt, { fromSeq: 21, prevHash: ZERO_HASH }), { seq: 21, reason: 'prev-hash-mismatch' });
  });
}
