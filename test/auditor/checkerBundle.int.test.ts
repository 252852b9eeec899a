/**
 * The independent checker over a real audit bundle against audit-verify
 * --archive over the same batches (a bundle's batches/ folder is an archive
 * of its own): the same verdict for the bundle as written and for copies
 * whose batches or manifests were changed, removed or replaced; a batch
 * removed at the end, which the archive alone cannot show, is found against
 * bundle.json.
 */
import test from 'ava';
import { chmodSync, cpSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as checker from '../../auditor/checker.mjs';
import { FolderStore } from '../../infra/adapters/objectStores/folderStore.ts';
import { inProcessChecker } from '../../verifier/inProcessChecker.ts';
import { verify } from '../../verifier/verify.ts';
import { archiveReader } from '../helpers/archive.ts';
import { writeTestBundle } from '../helpers/auditorBundle.ts';
import { tempDir, testRuntime } from '../helpers/runtime.ts';

function filesOf(folder: string): Map<string, () => Promise<Uint8Array>> {
  return new Map(
    readdirSync(folder, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => join(entry.parentPath, entry.name))
      .map((path) => [relative(folder, path), async () => Uint8Array.from(readFileSync(path))]),
  );
}

/** The batch objects (or manifests) of a bundle folder, in key order. */
function batchFiles(folder: string, suffix: string): string[] {
  return readdirSync(join(folder, 'batches'), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(suffix))
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
}

/** Exported files are read-only (docs/FORMAT.md section 8): a tampering copy makes them writable first. */
function writable(path: string): string {
  chmodSync(path, 0o644);
  return path;
}

test('a bundle and its tampered copies get the same finding from the checker as from audit-verify --archive over their batches', async (t) => {
  const folder = tempDir('checker-bundle');
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  const rt = await testRuntime(t, 'pglite');
  const bundle = join(folder, 'bundle');
  const written = await writeTestBundle(rt, {
    records: 1000,
    checkpointEvery: 1000,
    batchRecords: 200,
    archive: join(folder, 'archive'),
    out: bundle,
  });
  t.true(written.ok);
  t.is(written.batches.length, 5);

  const verdicts = async (copy: string) => {
    const theirs = await verify(
      await archiveReader(new FolderStore(join(copy, 'batches')), rt.registry),
      inProcessChecker(rt.registry),
    );
    const ours = await checker.checkBundle(filesOf(copy));
    const brief = (f: { chain: string; seq: number; reason: string } | undefined) =>
      f ? `${f.chain} ${f.seq} ${f.reason}` : 'ok';
    return { ours: ours.findings.map(brief), theirs: brief(theirs.finding) };
  };
  t.deepEqual(await verdicts(bundle), { ours: [], theirs: 'ok' });

  const tampered: Record<string, (copy: string) => void> = {
    'a byte of a batch flipped': (copy) => {
      const path = writable(batchFiles(copy, '.jsonl.gz')[2]!);
      const bytes = readFileSync(path);
      bytes[40] = bytes[40]! ^ 1;
      writeFileSync(path, bytes);
    },
    'a manifest edited': (copy) => {
      const path = writable(batchFiles(copy, '.manifest.json')[1]!);
      writeFileSync(path, readFileSync(path, 'utf8').replace('"pii_included":false', '"pii_included":true'));
    },
    'a manifest that is not JSON': (copy) => writeFileSync(writable(batchFiles(copy, '.manifest.json')[3]!), '{'),
    'a batch and its manifest removed in the middle': (copy) => {
      unlinkSync(batchFiles(copy, '.jsonl.gz')[2]!);
      unlinkSync(batchFiles(copy, '.manifest.json')[2]!);
    },
    'a batch object removed, its manifest left': (copy) => unlinkSync(batchFiles(copy, '.jsonl.gz')[1]!),
    'a batch replaced by another': (copy) => {
      const [first, second] = batchFiles(copy, '.jsonl.gz');
      writeFileSync(writable(second!), readFileSync(first!));
    },
  };
  for (const [name, tamper] of Object.entries(tampered)) {
    const copy = join(folder, name.replaceAll(' ', '-'));
    cpSync(bundle, copy, { recursive: true });
    tamper(copy);
    const { ours, theirs } = await verdicts(copy);
    t.not(theirs, 'ok', name);
    t.deepEqual(ours, [theirs], name);
  }

  // The last batch removed: the archive then ends earlier and passes; bundle.json names the batch.
  const cut = join(folder, 'cut');
  cpSync(bundle, cut, { recursive: true });
  unlinkSync(batchFiles(cut, '.jsonl.gz').at(-1)!);
  unlinkSync(batchFiles(cut, '.manifest.json').at(-1)!);
  const { ours, theirs } = await verdicts(cut);
  t.is(theirs, 'ok');
  // bundle.json names the batch; the checkpoint and the inclusion proof of seq 1000 show the cut without it.
  t.deepEqual(ours, ['main 801 batch-missing', 'main 1000 bundle-cut', 'main 1000 bundle-cut']);
});

test('a bundle cut at either end, bundle.json removed with it, is bundle-cut: its checkpoints and proofs lie outside the records it holds', async (t) => {
  const folder = tempDir('checker-bundle-cut');
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  const rt = await testRuntime(t, 'pglite');
  const bundle = join(folder, 'bundle');
  const written = await writeTestBundle(rt, {
    records: 1000,
    checkpointEvery: 250,
    batchRecords: 200,
    archive: join(folder, 'archive'),
    out: bundle,
  });
  t.true(written.ok);
  const files = filesOf(bundle);
  t.true(files.has('checkpoints/250.checkpoint'));
  t.true(files.has('inclusion/1.tlog-proof'));
  const whole = await checker.checkBundle(files);
  t.like(whole, { ok: true, records: 1000, notes: [] });
  t.deepEqual(
    whole.chains.map((chain) => [chain.chain, chain.fromSeq, chain.toSeq]),
    [['main', 1, 1000]],
  );

  const manifests = [...files.keys()].filter((path) => path.endsWith('.manifest.json')).sort();
  const without = (paths: readonly string[], also: (path: string) => boolean = () => false) =>
    new Map(
      [...files].filter(
        ([path]) =>
          path !== 'bundle.json' &&
          !also(path) &&
          !paths.some((manifest) => path === manifest || path === manifest.replace('.manifest.json', '.jsonl.gz')),
      ),
    );
  const brief = async (copy: Map<string, () => Promise<Uint8Array>>) =>
    (await checker.checkBundle(copy)).findings.map((f) => `${f.chain} ${f.seq} ${f.reason}`);
  // Without bundle.json, what the bundle was made with cannot be checked: a finding of its own, besides the cut.
  const unsigned = 'main 0 bundle-signature-invalid';
  t.deepEqual(
    await brief(without(manifests.slice(1))),
    [unsigned, 'main 250 bundle-cut'],
    'the tail cut below checkpoint 250',
  );
  t.deepEqual(
    await brief(without(manifests.slice(0, 1))),
    [unsigned, 'main 1 bundle-cut'],
    'the head cut: proof of seq 1',
  );
  t.deepEqual(
    await brief(without(manifests.slice(0, 2), (path) => path.startsWith('inclusion/'))),
    [unsigned, 'main 250 bundle-cut'],
    'the head cut past checkpoint 250, without the proof',
  );
});

test('bundle.json is signed: a tail cut below the last checkpoint with bundle.json edited to match is bundle-signature-invalid, with bundle.sig kept or removed', async (t) => {
  const folder = tempDir('checker-bundle-signed');
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  const rt = await testRuntime(t, 'pglite');
  const bundle = join(folder, 'bundle');
  const written = await writeTestBundle(rt, {
    records: 1000,
    checkpointEvery: 250,
    batchRecords: 200,
    archive: join(folder, 'archive'),
    out: bundle,
  });
  t.true(written.ok);
  const files = filesOf(bundle);
  const signature = JSON.parse(new TextDecoder().decode(await files.get('bundle.sig')!())) as Record<string, string>;
  t.like(signature, { signer_kid: rt.signer.kid, alg: rt.signer.algorithm });
  t.like(await checker.checkBundle(files), { ok: true, records: 1000 });

  // Records 601 to 1000 cut: their two batches, the checkpoints past 600 and the proof of seq 1000 removed, and
  // bundle.json rewritten to describe what is left, as one who cut it would.
  const described = JSON.parse(new TextDecoder().decode(await files.get('bundle.json')!())) as {
    batches: string[];
    checkpoints: number[];
    inclusion: number[];
  };
  const cutBatches = described.batches.slice(-2);
  const cut = new Map(
    [...files].filter(
      ([path]) =>
        !cutBatches.some((key) => path.endsWith(key) || path.endsWith(key.replace('.jsonl.gz', '.manifest.json'))) &&
        !described.checkpoints.some((size) => size > 600 && path === `checkpoints/${size}.checkpoint`) &&
        !described.inclusion.some((seq) => seq > 600 && path === `inclusion/${seq}.tlog-proof`),
    ),
  );
  const treeFilesCut =
    described.checkpoints.filter((size) => size > 600).length + described.inclusion.filter((seq) => seq > 600).length;
  t.is(cut.size, files.size - 4 - treeFilesCut, 'two batches and their manifests, and the tree files past 600');
  t.true(
    described.checkpoints.some((size) => size <= 600),
    'a checkpoint below the cut stays',
  );
  const edited = `${JSON.stringify(
    {
      ...described,
      to_seq: 600,
      batches_to_seq: 600,
      batches: described.batches.slice(0, -2),
      checkpoints: described.checkpoints.filter((size) => size <= 600),
      inclusion: described.inclusion.filter((seq) => seq <= 600),
    },
    null,
    2,
  )}\n`;
  cut.set('bundle.json', async () => new TextEncoder().encode(edited));
  const brief = async (copy: Map<string, () => Promise<Uint8Array>>) =>
    (await checker.checkBundle(copy)).findings.map((f) => `${f.chain} ${f.seq} ${f.reason}: ${f.message}`);
  // Without the signature check this copy passes: what bundle.json names is all there, the checkpoint below the cut holds.
  t.deepEqual(await brief(cut), [
    `main 0 bundle-signature-invalid: bundle.sig: the signature does not verify under signer ${rt.signer.kid}`,
  ]);
  // bundle.json read more than once, the signed bytes given at one read and the edited ones at the others (a
  // folder changed while it is checked, a reader that serves what it likes): whichever read gets the signed bytes,
  // the copy fails, as the bytes verified are the bytes whose batches and proofs are held to.
  const signedBytes = await files.get('bundle.json')!();
  for (let signedRead = 1; signedRead <= 4; signedRead++) {
    let reads = 0;
    const shifting = new Map(cut);
    shifting.set('bundle.json', async () => (++reads === signedRead ? signedBytes : new TextEncoder().encode(edited)));
    const report = await checker.checkBundle(shifting);
    t.false(report.ok, `the signed bytes at read ${signedRead}: ${JSON.stringify(report.findings)}`);
    t.true(reads <= 1, `bundle.json read ${reads} times`);
  }
  cut.delete('bundle.sig');
  t.deepEqual(await brief(cut), [
    'main 0 bundle-signature-invalid: bundle.json is not signed (no bundle.sig): its range and batches could have been edited',
  ]);
});

test('a bundle carries a consistency proof between each two consecutive checkpoints; the checker verifies them, and reports one changed or removed at its new size', async (t) => {
  const folder = tempDir('checker-bundle-consistency');
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  const rt = await testRuntime(t, 'pglite');
  const bundle = join(folder, 'bundle');
  const written = await writeTestBundle(rt, {
    records: 3000,
    checkpointEvery: 1000,
    batchRecords: 1000,
    archive: join(folder, 'archive'),
    out: bundle,
  });
  t.true(written.ok);
  t.deepEqual(written.checkpoints, [1000, 2000, 3000]);
  t.deepEqual(written.consistencyProofs, ['1000-2000', '2000-3000']);
  const files = filesOf(bundle);
  const described = JSON.parse(new TextDecoder().decode(await files.get('bundle.json')!())) as {
    consistency: string[];
  };
  t.deepEqual(described.consistency, ['1000-2000', '2000-3000']);
  const proof = JSON.parse(new TextDecoder().decode(await files.get('consistency/1000-2000.json')!())) as {
    origin: string;
    oldSize: number;
    newSize: number;
    proof: string[];
  };
  t.like(proof, { origin: 'chainbook/main', oldSize: 1000, newSize: 2000 });
  t.true(proof.proof.length > 0);
  t.like(await checker.checkBundle(files), { ok: true, records: 3000, checkpoints: 3 });

  const brief = async (copy: Map<string, () => Promise<Uint8Array>>) =>
    (await checker.checkBundle(copy)).findings.map((f) => `${f.chain} ${f.seq} ${f.reason}`);
  // One hash of the proof from 1000 to 2000 replaced.
  const changed = new Map(files);
  const hashes = [...proof.proof];
  hashes[0] = Buffer.alloc(32, 7).toString('base64');
  changed.set('consistency/1000-2000.json', async () =>
    new TextEncoder().encode(JSON.stringify({ ...proof, proof: hashes })),
  );
  t.deepEqual(await brief(changed), ['main 2000 consistency-proof-invalid']);
  // The proof from 2000 to 3000 removed: bundle.json (signed) names it.
  const removed = new Map([...files].filter(([path]) => path !== 'consistency/2000-3000.json'));
  t.deepEqual(await brief(removed), ['main 3000 consistency-proof-invalid']);
});
