/**
 * The Merkle tree over HTTP (docs/FORMAT.md section 14), on both engines:
 * GET /checkpoint, the tiles in the tlog-tiles layout, the inclusion proof
 * file and the consistency proof; a tile read back equals the hashes
 * recomputed from the records; and every odd path, huge, negative or
 * too-large size is a 4xx in the error format, never a 500.
 */
import test, { type ExecutionContext } from 'ava';
import type { AppendEventInput } from '../../../../chain/input.ts';
import { rootOfHashes, verifyConsistency } from '../../../../chain/merkle.ts';
import { leafOf, treeHasher } from '../../../../chain/treeCommit.ts';
import { verifyInclusionFile } from '../../../../verifier/verifyInclusion.ts';
import { checkpointing } from '../../../../infra/wiring/checkpoints.ts';
import { ENGINES } from '../../../helpers/databases.ts';
import { testServer, type HttpResponse } from '../../../helpers/http.ts';
import { verifiedCosignatures } from '../../../../chain/cosignature.ts';
import { logVerifierKey, parsedKey, startTestWitness, verifyRawEd25519 } from '../../../helpers/witness.ts';

const buyer = { id: 'buyer-1', role: 'Buyer' };

function events(stream: string, count: number): AppendEventInput[] {
  return Array.from({ length: count }, (_, i) => ({ stream, type: 'quote.noted', data: { n: i }, actor: buyer }));
}

function refused(t: ExecutionContext, response: HttpResponse, status: number, what: string): void {
  t.is(response.status, status, `${what}: ${response.text}`);
  t.is(typeof response.body?.error?.code, 'string', `${what}: error format`);
}

for (const engine of ENGINES) {
  test(`${engine}: checkpoint, tiles and proofs over HTTP agree with the records, and bad paths and sizes are 4xx`, async (t) => {
    const server = await testServer(t, { engine });
    const { runtime } = server.app;
    refused(t, await server.request('GET', '/checkpoint', { as: 'auditor' }), 404, 'no checkpoint yet');
    for (let i = 0; i < 3; i++) await runtime.store.append('main', events(`quote-${i}`, 100));
    const tree = checkpointing(runtime);
    const note = await tree.makeIfDue('main', Date.now());

    const checkpoint = await server.request('GET', '/checkpoint', { as: 'auditor' });
    t.is(checkpoint.status, 200);
    t.is(checkpoint.text, note!);
    t.regex(checkpoint.headers.get('content-type') ?? '', /^text\/plain/);
    // Public, as tlog-tiles means them: the checkpoint with no token, always revalidated.
    const anonymous = await server.request('GET', '/checkpoint');
    t.is(anonymous.status, 200);
    t.is(anonymous.text, note!);
    t.is(anonymous.headers.get('cache-control'), 'no-cache');

    const records = await runtime.store.readChain('main', { limit: 1000 });
    const leaves = records.map((stored) => Buffer.from(leafOf(stored.record.hash)));
    const tile = async (path: string): Promise<Buffer> => {
      // Public, with no token; cached for good (a tile never changes once served).
      const response = await fetch(`${server.url}${path}`);
      t.is(response.status, 200, path);
      t.is(response.headers.get('content-type'), 'application/octet-stream');
      t.is(response.headers.get('cache-control'), 'public, max-age=31536000, immutable', path);
      return Buffer.from(await response.arrayBuffer());
    };
    // A tile read back equals the hashes recomputed from the records.
    t.deepEqual(await tile('/tile/0/000'), Buffer.concat(leaves.slice(0, 256)));
    t.deepEqual(await tile('/tile/0/001.p/44'), Buffer.concat(leaves.slice(256, 300)));
    t.deepEqual(await tile('/tile/0/001.p/3'), Buffer.concat(leaves.slice(256, 259)));
    t.deepEqual(await tile('/tile/1/000.p/1'), Buffer.from(rootOfHashes(treeHasher, leaves.slice(0, 256))));

    const proof = await server.request('GET', '/proof/inclusion?seq=257', { as: 'auditor' });
    t.is(proof.status, 200, proof.text);
    const key = { name: runtime.signer.kid, publicKey: runtime.registry.signers.get(runtime.signer.kid)!.publicKey };
    t.like(verifyInclusionFile(proof.text, key, 'chainbook/main'), { ok: true, seq: 257, treeSize: 300 });
    const atSize = await server.request('GET', '/proof/inclusion?seq=3&size=300', { as: 'auditor' });
    t.like(verifyInclusionFile(atSize.text, key), { ok: true, seq: 3 });

    await runtime.store.append('main', events('quote-late', 20));
    const consistency = await server.request('GET', '/proof/consistency?old=300&new=320', { as: 'auditor' });
    t.is(consistency.status, 200, consistency.text);
    const b64 = (text: string): Buffer => Buffer.from(text, 'base64');
    const body = consistency.body as { oldRoot: string; newRoot: string; proof: string[] };
    t.true(verifyConsistency(treeHasher, 300, 320, body.proof.map(b64), b64(body.oldRoot), b64(body.newRoot)));
    t.true(note!.includes(`\n${body.oldRoot}\n`), 'the old root is the checkpoint root');

    const head = await server.snapshot();
    for (const [path, status] of [
      ['/tile/0/001', 404],
      ['/tile/0/001.p/65', 404],
      ['/tile/0/002.p/1', 404],
      ['/tile/1/000', 404],
      ['/tile/0/1', 400],
      ['/tile/0/000.p/0', 400],
      ['/tile/0/000.p/256', 400],
      ['/tile/0/000.p/01', 400],
      ['/tile/7/000', 400],
      ['/tile/0/x000/000', 400],
      ['/tile/0/-01', 400],
      ['/tile/0', 400],
      ['/tile/entries/000', 400],
      ['/tile/0/x999/x999/x999/x999/x999/x999/999', 400],
      [`/tile/0/${'x123/'.repeat(40)}000`, 400],
      ['/tile/0/%2e%2e/000', 400],
      ['/proof/inclusion', 400],
      ['/proof/inclusion?seq=0', 400],
      ['/proof/inclusion?seq=-1', 400],
      ['/proof/inclusion?seq=1e3', 400],
      ['/proof/inclusion?seq=99999999999999999999', 400],
      ['/proof/inclusion?seq=301', 404],
      ['/proof/inclusion?seq=5&size=4', 400],
      ['/proof/inclusion?seq=5&size=299', 404],
      ['/proof/consistency?old=0&new=5', 400],
      ['/proof/consistency?old=6&new=5', 400],
      ['/proof/consistency?old=5&new=321', 400],
      ['/proof/consistency?old=5&new=9007199254740993', 400],
      ['/proof/consistency?old=5', 400],
    ] as const)
      refused(t, await server.request('GET', path, { as: 'auditor' }), status, path);
    // The same with no token (the tiles are public): huge, negative, padded, too wide or escaping paths are 400.
    for (const path of [
      '/tile/0/x999999999999',
      '/tile/0/x999/x999/x999/x999/x999/999.p/1',
      '/tile/0/0000',
      '/tile/00/000',
      '/tile/-1/000',
      '/tile/0/-000',
      '/tile/0/000.p/257',
      '/tile/0/000.p/-1',
      '/tile/0/000.p/',
      '/tile/0/000.p/1/2',
      '/tile/0/..%2f000',
      '/tile/0/000%00',
      `/tile/0/${'9'.repeat(400)}`,
    ])
      refused(t, await server.request('GET', path), 400, `${path} with no token`);
    t.deepEqual(await server.snapshot(), head, 'nothing changed');
  });
}

test('with CHECKPOINT_WITNESS_QUORUM, /checkpoint and the proofs publish only a cosigned checkpoint; the witness missing is asked again', async (t) => {
  const witness = await startTestWitness(t, {});
  const server = await testServer(t, {
    env: { CHECKPOINT_WITNESSES: `${witness.url} ${witness.vkey}`, CHECKPOINT_WITNESS_QUORUM: '1' },
  });
  const { runtime } = server.app;
  await runtime.store.append('main', events('quote-a', 50));
  const failures: string[] = [];
  const tree = checkpointing(runtime, { onWitnessFailure: (f) => failures.push(f.reason) });
  const note = await tree.makeIfDue('main', Date.now());
  t.truthy(note, 'made and stored');
  t.regex(failures.join(), /answered 404/, 'the witness does not know this log yet');
  refused(t, await server.request('GET', '/checkpoint', { as: 'auditor' }), 404, 'not cosigned: not published');
  refused(t, await server.request('GET', '/proof/inclusion?seq=5', { as: 'auditor' }), 404, 'no proof against it');
  refused(t, await server.request('GET', '/proof/inclusion?seq=5&size=50', { as: 'auditor' }), 404, 'nor by size');

  witness.logs.set('chainbook/main', [parsedKey(logVerifierKey(runtime))]);
  t.is(await tree.cosignLatest('main'), 1);
  const published = await server.request('GET', '/checkpoint', { as: 'auditor' });
  t.is(published.status, 200);
  t.true(published.text.startsWith(note!), "the log's note, then the cosignature");
  t.deepEqual(
    verifiedCosignatures(published.text, [parsedKey(witness.vkey)], verifyRawEd25519).map((c) => c.name),
    [witness.name],
  );
  const proof = await server.request('GET', '/proof/inclusion?seq=5', { as: 'auditor' });
  t.is(proof.status, 200, proof.text);
  t.true(proof.text.endsWith(published.text), 'the proof file carries the cosigned checkpoint');
  t.is(await tree.cosignLatest('main'), 0, 'nothing left to ask');
});
