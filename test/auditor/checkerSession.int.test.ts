/**
 * The independent checker over a chain signed by delegated session keys
 * (docs/FORMAT.md section 4b), written by the real writer on PGlite: it
 * learns the session signer from the chain's signer.delegated record as
 * audit-verify does, and gives audit-verify's finding when any byte changes.
 */
import test from 'ava';
import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as checker from '../../auditor/checker.mjs';
import { linesReader, readLinesBytes } from '../../infra/adapters/files/fileReader.ts';
import { sqlBundleTree } from '../../infra/adapters/sql/bundleTree.ts';
import { inProcessChecker } from '../../verifier/inProcessChecker.ts';
import { verify } from '../../verifier/verify.ts';
import { writeTestBundle } from '../helpers/auditorBundle.ts';
import { appendMany, sessionSignedRuntime } from '../helpers/signing.ts';

test('a session-signed chain passes the checker as it passes audit-verify, and any changed byte gets the same finding from both', async (t) => {
  const { rt, root, signersPath } = await sessionSignedRuntime(t, 'checker-session');
  await appendMany((chain, events) => rt.store.append(chain, events), 30, 4);
  const stored = await rt.store.readChain('main', { limit: 1000 });
  t.is(stored[0]!.record.type, 'signer.delegated');
  t.true(
    stored.slice(1).every(({ record }) => record.sig.kid !== root.kid),
    'signed by the session key',
  );
  const file = Buffer.from(stored.map(({ text }) => `${text}\n`).join(''));
  const loaded = await checker.loadRegistry(readFileSync(signersPath, 'utf8'));
  if (!loaded.registry) return t.fail(loaded.problems.join('; '));
  const registry = loaded.registry;

  const verdicts = async (bytes: Uint8Array) => {
    const theirs = await verify(linesReader('chain', readLinesBytes(bytes)), inProcessChecker(rt.registry));
    const ours = await checker.checkLines(checker.linesOfBytes(bytes), registry);
    const brief = (f: { chain: string; seq: number; reason: string } | undefined) =>
      f ? `${f.chain} ${f.seq} ${f.reason}` : 'ok';
    return { ours: brief(ours.finding), theirs: brief(theirs.finding) };
  };
  t.deepEqual(await verdicts(file), { ours: 'ok', theirs: 'ok' });
  // The session signer is known only from its delegation: a check that starts after that record knows none.
  const cut = await checker.checkLines(checker.linesOfBytes(file), registry, {
    fromSeq: 2,
    prevHash: stored[0]!.record.hash,
  });
  t.like(cut.finding, { seq: 2, reason: 'unknown-signer' });

  await fc.assert(
    fc.asyncProperty(fc.nat({ max: file.length - 1 }), fc.integer({ min: 1, max: 255 }), async (at, xor) => {
      const bytes = Uint8Array.from(file);
      bytes[at] = bytes[at]! ^ xor;
      const { ours, theirs } = await verdicts(bytes);
      t.is(ours, theirs, `byte ${at} xor ${xor}`);
      return ours === theirs && ours !== 'ok';
    }),
    { numRuns: 80 },
  );
});

test("a bundle's inclusion proof of a session-signed record holds as the bundle's record at that seq; alone, or with that record cut from the bundle, it does not", async (t) => {
  const { rt, root, folder, signersPath } = await sessionSignedRuntime(t, 'checker-session-bundle');
  const out = join(folder, 'bundle');
  const written = await writeTestBundle(rt, {
    records: 300,
    checkpointEvery: 100,
    batchRecords: 100,
    archive: join(folder, 'archive'),
    out,
  });
  t.true(written.ok);
  const proof = await sqlBundleTree(rt.db).inclusionProof('main', 50);
  if (!proof) return t.fail('no checkpoint covers seq 50');
  t.not(JSON.parse(Buffer.from(proof.split('\n')[1]!.slice('extra '.length), 'base64').toString()).sig.kid, root.kid);
  const files = new Map(
    readdirSync(out, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => join(entry.parentPath, entry.name))
      .map((path) => [relative(out, path), async () => Uint8Array.from(readFileSync(path))]),
  );
  files.set('inclusion/50.tlog-proof', async () => new TextEncoder().encode(proof));
  const bundled = await checker.checkBundle(files);
  t.deepEqual(bundled.findings, []);
  t.like(bundled, { ok: true, inclusionProofs: 2 });

  const registry = (await checker.loadRegistry(readFileSync(signersPath, 'utf8'))).registry!;
  const alone = await checker.checkProofFile(proof, registry);
  t.like(alone, { ok: false, finding: { seq: 50, reason: 'inclusion-proof-invalid' } });
  // Without the records of that seq (the first batch removed, with its checkpoint's place in the bundle), the proof's record stands alone.
  const first = [...files.keys()].find((path) => /main-000000000001-\d+\.manifest\.json$/.test(path))!;
  const cut = new Map(
    [...files].filter(([path]) => path !== first && path !== first.replace('.manifest.json', '.jsonl.gz')),
  );
  const brief = (await checker.checkBundle(cut)).findings.map((f) => `${f.chain} ${f.seq} ${f.reason}`);
  // The delegation went with the first batch: the records stop at 101, and the proof's record has nothing to be compared with.
  t.deepEqual(brief, ['main 1 batch-missing', 'main 50 inclusion-proof-invalid', 'main 101 unknown-signer']);
});
