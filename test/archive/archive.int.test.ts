/**
 * The archive on the folder target against real PostgreSQL and PGlite:
 * export, re-export, verification, tampering, truncation of the database,
 * interrupted exports, and disaster recovery from the archive.
 */
import test from 'ava';
import { chmodSync, cpSync, readFileSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateKeyPairSync, sign } from 'node:crypto';
import { ARCHIVE_EXPORTED_TYPE } from '../../archive/exportedEvent.ts';
import { MAX_MANIFEST_BYTES } from '../../archive/limits.ts';
import { manifestText, parseManifest, signedBytes, signManifest, type Manifest } from '../../archive/manifest.ts';
import { rootAt } from '../../chain/treeLog.ts';
import { sqlTreeLog } from '../../infra/adapters/sql/treeLog.ts';
import type { ObjectStore, PutOptions } from '../../archive/objectStore.ts';
import { FolderStore, READ_ONLY_MODE } from '../../infra/adapters/objectStores/folderStore.ts';
import { runDemoWorkload } from '../../commands/demo/demoWorkload.ts';
import { databaseReader } from '../../infra/adapters/sql/databaseReader.ts';
import { replay } from '../../projections/replay/replay.ts';
import { sqlReplayTarget } from '../../infra/adapters/sql/replayTarget.ts';
import { projectionDigests } from '../../projections/projections.ts';
import { verifyArchive } from '../../archive/archiveVerify.ts';
import { inProcessChecker } from '../../verifier/inProcessChecker.ts';
import { verify } from '../../verifier/verify.ts';
import { archiveReader, exportTo, SERVICE } from '../helpers/archive.ts';
import { testApp, type TestApp } from '../helpers/app.ts';
import { ENGINES, openTestDatabase, type EngineName } from '../helpers/databases.ts';
import { tempDir } from '../helpers/runtime.ts';

const quiet = (): void => undefined;

async function exportedApp(
  t: Parameters<typeof testApp>[0],
  engine: EngineName,
  orders = 3,
): Promise<{ app: TestApp; folder: string; store: FolderStore; manifests: Manifest[] }> {
  const app = await testApp(t, engine);
  await runDemoWorkload(app.deps, orders, quiet);
  const folder = tempDir('archive');
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  const store = new FolderStore(folder);
  const report = await exportTo(app.runtime, store);
  t.true(report.ok, JSON.stringify(report.finding));
  return { app, folder, store, manifests: await manifestsOf(store) };
}

/** Every manifest in the archive, in seq order. */
async function manifestsOf(store: ObjectStore): Promise<Manifest[]> {
  const manifests: Manifest[] = [];
  for await (const page of store.list(`${SERVICE}/`)) {
    for (const key of page.keys.filter((name) => name.endsWith('.manifest.json')))
      manifests.push(parseManifest((await store.get(key, MAX_MANIFEST_BYTES))!) as Manifest);
  }
  return manifests.sort((a, b) => a.from_seq - b.from_seq);
}

/** Every file under the folder with its bytes, inode and modification time: what "nothing rewritten" compares. */
function filesOf(folder: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const entry of readdirSync(folder, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const stats = statSync(path);
    files[path.slice(folder.length)] = `${stats.ino}:${stats.mtimeMs}:${readFileSync(path).toString('base64')}`;
  }
  return files;
}

async function exportedEvents(
  app: TestApp,
): Promise<{ batchKey: string; fromSeq: number; toSeq: number; objectSha256: string }[]> {
  const records = await app.runtime.store.readChain('main', { limit: 1000 });
  return records
    .filter(({ record }) => record.type === ARCHIVE_EXPORTED_TYPE)
    .map(({ record }) => record.data as never);
}

async function verifyFolder(app: TestApp, folder: string, withDatabase = false) {
  const store = new FolderStore(folder);
  const reader = await archiveReader(store, app.runtime.registry);
  const compare = {
    database: databaseReader(app.test.db),
    exportedTo: { service: SERVICE, target: store.description },
  };
  return verifyArchive(reader, inProcessChecker(app.runtime.registry), withDatabase ? compare : {});
}

for (const engine of ENGINES) {
  test(`${engine}: export writes contiguous signed batches; a second export rewrites nothing; the archive verifies and restores into a fresh database with the live digests`, async (t) => {
    const { app, folder, store, manifests } = await exportedApp(t, engine);
    t.true(manifests.length >= 3);
    t.is(manifests[0]!.from_seq, 1);
    for (const [index, manifest] of manifests.entries()) {
      if (index > 0)
        t.like(manifest, {
          from_seq: manifests[index - 1]!.to_seq + 1,
          first_prev_hash: manifests[index - 1]!.last_hash,
        });
      t.like(manifest, {
        service: SERVICE,
        chain: 'main',
        pii_included: false,
        pii_policy_version: 'pii-2026-01',
        signer_kid: app.runtime.signer.kid,
      });
    }
    const before = filesOf(folder);
    const again = await exportTo(app.runtime, store);
    t.true(again.ok);
    t.deepEqual(again.chains[0]!.batches, []);
    t.is(again.chains[0]!.skipped, `only ${ARCHIVE_EXPORTED_TYPE} records are pending`);
    t.deepEqual(filesOf(folder), before);
    const events = await exportedEvents(app);
    t.deepEqual(
      events.map((event) => [event.fromSeq, event.toSeq, event.objectSha256]),
      manifests.map((m) => [m.from_seq, m.to_seq, m.object_sha256]),
    );

    const verified = await verifyFolder(app, folder, true);
    t.true(verified.ok, JSON.stringify(verified.finding));
    t.is(verified.records, manifests.at(-1)!.to_seq);

    const fresh = await openTestDatabase(engine);
    t.teardown(() => fresh.drop());
    const restored = await replay({
      target: sqlReplayTarget(fresh.db),
      source: {
        reader: await archiveReader(store, app.runtime.registry),
        digests: () => projectionDigests(app.test.db),
      },
      checker: inProcessChecker(app.runtime.registry),
      compare: true,
    });
    t.true(restored.ok, JSON.stringify(restored.finding ?? restored.differences));
    t.deepEqual(await projectionDigests(fresh.db), await projectionDigests(app.test.db));
    const { rows } = await fresh.db.query<{ seq: number; hash: string }>(
      "SELECT seq, hash FROM chain_heads WHERE chain = 'main'",
    );
    t.deepEqual(rows[0], { seq: manifests.at(-1)!.to_seq, hash: manifests.at(-1)!.last_hash });
  });

  test(`${engine}: records deleted from the database's tail after an export, or a rollback to an older consistent state, fail --compare-database and stop the next export`, async (t) => {
    const { app, folder, store, manifests } = await exportedApp(t, engine);
    const archived = manifests.at(-1)!;
    t.true((await verifyFolder(app, folder, true)).ok);
    // Roll back to an older state whose hashes are consistent: the database alone still verifies.
    const keep = archived.to_seq - 4;
    const { rows } = await app.test.db.query<{ record: string }>(
      "SELECT record FROM events WHERE chain = 'main' AND seq = $1",
      [keep],
    );
    const keptHash = (JSON.parse(rows[0]!.record) as { hash: string }).hash;
    await app.test.superuser("DELETE FROM events WHERE chain = 'main' AND seq > $1", [keep]);
    await app.test.superuser("UPDATE chain_heads SET seq = $1, hash = $2 WHERE chain = 'main'", [keep, keptHash]);
    const alone = await verify(databaseReader(app.test.db), inProcessChecker(app.runtime.registry));
    t.true(alone.ok, 'the rolled-back database is consistent on its own');
    const compared = await verifyFolder(app, folder, true);
    t.false(compared.ok);
    t.like(compared.finding, { chain: 'main', seq: keep + 1, reason: 'database-behind-archive' });
    const exported = await exportTo(app.runtime, store);
    t.like(exported.finding, { chain: 'main', seq: keep + 1, reason: 'database-behind-archive' });
  });

  test(`${engine}: a record of the database changed after an export fails --compare-database at its seq`, async (t) => {
    const { app, folder } = await exportedApp(t, engine);
    await app.test.superuser(
      `UPDATE events SET record = replace(record, '"role":"Publisher"', '"role":"publisher"') WHERE chain = 'main' AND seq = 1`,
    );
    t.like((await verifyFolder(app, folder, true)).finding, { chain: 'main', seq: 1, reason: 'database-mismatch' });
  });
}

test('postgres: deleting the last K archived records as superuser (head row untouched) fails --compare-database at the first missing seq', async (t) => {
  const { app, folder, manifests } = await exportedApp(t, 'postgres');
  const last = manifests.at(-1)!.to_seq;
  await app.test.superuser("DELETE FROM events WHERE chain = 'main' AND seq > $1", [last - 3]);
  t.like((await verifyFolder(app, folder, true)).finding, {
    chain: 'main',
    seq: last - 2,
    reason: 'database-behind-archive',
  });
  t.true((await verifyFolder(app, folder, false)).ok, 'the archive itself is intact');
});

/** A copy of the archive to tamper with; its files are writable again (the archive makes them read-only). */
function tamperableCopy(t: Parameters<typeof testApp>[0], folder: string): string {
  const copy = tempDir('tampered');
  t.teardown(() => rmSync(copy, { recursive: true, force: true }));
  cpSync(folder, copy, { recursive: true });
  for (const entry of readdirSync(copy, { recursive: true, withFileTypes: true }))
    if (entry.isFile()) chmodSync(join(entry.parentPath, entry.name), 0o644);
  return copy;
}

function pathOf(folder: string, manifest: Manifest, suffix: '.jsonl.gz' | '.manifest.json'): string {
  const day = readdirSync(join(folder, SERVICE)).find((date) =>
    readdirSync(join(folder, SERVICE, date)).some((name) =>
      name.startsWith(`main-${String(manifest.from_seq).padStart(12, '0')}-`),
    ),
  )!;
  return join(
    folder,
    SERVICE,
    day,
    `main-${String(manifest.from_seq).padStart(12, '0')}-${String(manifest.to_seq).padStart(12, '0')}${suffix}`,
  );
}

test('tampering with the archive fails verification naming the batch and its first seq: a flipped byte, a replaced or edited manifest, a missing batch, a manifest re-signed by an unknown key', async (t) => {
  const { app, folder, manifests } = await exportedApp(t, 'pglite');
  const middle = manifests[1]!;
  const expect = async (copy: string, reason: string, seq = middle.from_seq): Promise<void> => {
    const report = await verifyFolder(app, copy);
    t.false(report.ok, reason);
    t.like(report.finding, { chain: 'main', seq, reason }, reason);
    if (report.finding?.reason !== 'batch-missing')
      t.true(
        report.finding?.batch?.endsWith(
          `main-${String(middle.from_seq).padStart(12, '0')}-${String(middle.to_seq).padStart(12, '0')}.jsonl.gz`,
        ),
        reason,
      );
  };

  const flipped = tamperableCopy(t, folder);
  const object = readFileSync(pathOf(flipped, middle, '.jsonl.gz'));
  object.writeUInt8(object[object.length >> 1]! ^ 0x01, object.length >> 1);
  writeFileSync(pathOf(flipped, middle, '.jsonl.gz'), object);
  await expect(flipped, 'batch-hash-mismatch');

  const replaced = tamperableCopy(t, folder);
  writeFileSync(
    pathOf(replaced, middle, '.manifest.json'),
    readFileSync(pathOf(replaced, manifests[2]!, '.manifest.json')),
  );
  await expect(replaced, 'manifest-invalid');

  const edited = tamperableCopy(t, folder);
  writeFileSync(pathOf(edited, middle, '.manifest.json'), manifestText({ ...middle, pii_included: true }));
  await expect(edited, 'manifest-signature-invalid');

  const missing = tamperableCopy(t, folder);
  unlinkSync(pathOf(missing, middle, '.jsonl.gz'));
  unlinkSync(pathOf(missing, middle, '.manifest.json'));
  await expect(missing, 'batch-missing');

  const resigned = tamperableCopy(t, folder);
  const intruder = generateKeyPairSync('ed25519');
  const forged = { ...middle, signer_kid: 'intruder-ed25519-v1' };
  forged.signature = sign(null, signedBytes(forged), intruder.privateKey).toString('base64');
  writeFileSync(pathOf(resigned, middle, '.manifest.json'), manifestText(forged));
  const report = await verifyFolder(app, resigned);
  t.like(report.finding, { seq: middle.from_seq, reason: 'manifest-signature-invalid' });
  t.regex(report.finding!.message, /unknown-signer.*intruder-ed25519-v1/);
});

test('the folder target writes an object once, read-only, and never replaces it', async (t) => {
  const folder = tempDir('worm');
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  const store = new FolderStore(folder);
  const options: PutOptions = {
    contentType: 'application/gzip',
    metadata: {},
    lock: { mode: 'COMPLIANCE', retainUntilMs: Date.now() + 1000 },
  };
  t.is(
    await store.putIfAbsent(
      `${SERVICE}/2026-11-23/main-000000000001-000000000002.jsonl.gz`,
      Buffer.from('first'),
      options,
    ),
    'written',
  );
  t.is(
    await store.putIfAbsent(
      `${SERVICE}/2026-11-23/main-000000000001-000000000002.jsonl.gz`,
      Buffer.from('second'),
      options,
    ),
    'exists',
  );
  const path = join(folder, SERVICE, '2026-11-23', 'main-000000000001-000000000002.jsonl.gz');
  t.is(readFileSync(path, 'utf8'), 'first');
  t.is(statSync(path).mode & 0o777, READ_ONLY_MODE);
  t.deepEqual(
    readdirSync(join(folder, SERVICE, '2026-11-23')),
    ['main-000000000001-000000000002.jsonl.gz'],
    'no temporary file is left',
  );
  t.is(await store.get(`${SERVICE}/2026-11-23/missing.jsonl.gz`, 10), undefined);
  await t.throwsAsync(store.putIfAbsent('../escape', Buffer.from('x'), options), {
    message: /leaves the archive folder/,
  });
});

/** Fails the nth write, as a process killed there would stop. */
function failingAt(store: FolderStore, failingPut: number): ObjectStore {
  let puts = 0;
  return {
    description: store.description,
    list: (prefix, options) => store.list(prefix, options),
    get: (key, maxBytes) => store.get(key, maxBytes),
    head: (key) => store.head(key),
    async putIfAbsent(key, body, options) {
      puts += 1;
      if (puts === failingPut) throw new Error(`simulated crash before writing ${key}`);
      return store.putIfAbsent(key, body, options);
    },
  };
}

for (const [failingPut, what, secondCount] of [
  [4, "a batch's manifest (its object is there)", 10],
  [3, 'the second batch object', 7],
] as const) {
  test(`an export stopped before writing ${what} is completed by the next run (with other batch bounds) with no gap, no duplicate and nothing rewritten`, async (t) => {
    const app = await testApp(t, 'pglite');
    await runDemoWorkload(app.deps, 3, quiet);
    const folder = tempDir('interrupted');
    t.teardown(() => rmSync(folder, { recursive: true, force: true }));
    const store = new FolderStore(folder);
    await t.throwsAsync(exportTo(app.runtime, failingAt(store, failingPut)), { message: /simulated crash/ });
    const before = filesOf(folder);
    const resumed = await exportTo(app.runtime, store, { batchRecords: 7 });
    t.true(resumed.ok, JSON.stringify(resumed.finding));
    for (const [path, content] of Object.entries(before))
      t.is(filesOf(folder)[path], content, `${path} was not rewritten`);
    const manifests = await manifestsOf(store);
    t.deepEqual(
      manifests.map((m) => m.from_seq),
      [1, ...manifests.slice(0, -1).map((m) => m.to_seq + 1)],
    );
    t.is(manifests[1]!.count, secondCount, 'an interrupted batch whose object is there keeps its range');
    const events = await exportedEvents(app);
    t.deepEqual(
      events.map((event) => event.batchKey),
      [...new Set(events.map((event) => event.batchKey))],
      'one archive.exported per batch',
    );
    t.is(events.length, manifests.length);
    t.true((await verifyFolder(app, folder, true)).ok);
  });
}

test('a record whose signature a superuser replaced stops a full export before anything from its page on is written; --verify hashes archives it, and archive verification then finds it', async (t) => {
  const app = await testApp(t, 'pglite');
  await runDemoWorkload(app.deps, 3, quiet);
  const { rows } = await app.test.db.query<{ record: string }>(
    "SELECT record FROM events WHERE chain = 'main' AND seq IN (14, 15) ORDER BY seq",
  );
  const other = (JSON.parse(rows[1]!.record) as { sig: { value: string } }).sig.value;
  const victim = (JSON.parse(rows[0]!.record) as { sig: { value: string } }).sig.value;
  await app.test.superuser("UPDATE events SET record = replace(record, $1, $2) WHERE chain = 'main' AND seq = 14", [
    victim,
    other,
  ]);
  const folder = tempDir('signature');
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  const full = await exportTo(app.runtime, new FolderStore(folder));
  t.like(full.finding, { chain: 'main', seq: 14, reason: 'bad-signature' });
  // Verified pages (up to 1000 records) go into batches: the page holding seq 14 is not archived, nor anything after it.
  t.deepEqual(await manifestsOf(new FolderStore(folder)), []);
  const hashesOnly = await exportTo(app.runtime, new FolderStore(folder), {}, { signatures: false });
  t.true(hashesOnly.ok);
  t.like((await verifyFolder(app, folder)).finding, { chain: 'main', seq: 14, reason: 'bad-signature' });
});

test('batches removed from the tail of the archive verify on their own, and fail --compare-database: the database records their export', async (t) => {
  const { app, folder, manifests } = await exportedApp(t, 'pglite');
  const newest = manifests.at(-1)!;
  for (const suffix of ['.jsonl.gz', '.manifest.json'] as const) {
    chmodSync(pathOf(folder, newest, suffix), 0o644);
    unlinkSync(pathOf(folder, newest, suffix));
  }
  t.true((await verifyFolder(app, folder)).ok, 'a shorter archive is consistent on its own');
  const report = await verifyFolder(app, folder, true);
  t.like(report.finding, { chain: 'main', seq: newest.from_seq, reason: 'batch-missing' });
  t.regex(
    report.finding!.message,
    /the database records the export of marketplace\/.*main-\d+-\d+\.jsonl\.gz .* which the archive, ending at seq \d+, does not hold/,
  );
});

test("each manifest carries the Merkle tree's size and root at its batch's end; a wrong root is batch-tree-mismatch, a manifest without them verifies as before", async (t) => {
  const { app, folder, manifests } = await exportedApp(t, 'postgres');
  const storage = sqlTreeLog(app.test.db);
  for (const manifest of manifests) {
    t.is(manifest.tree_size, manifest.to_seq);
    t.is(manifest.tree_root, Buffer.from(await rootAt(storage, 'main', manifest.to_seq)).toString('hex'));
  }
  t.true((await verifyFolder(app, folder)).ok);
  const middle = manifests[1]!;
  const resign = async (copy: string, payload: object): Promise<void> => {
    const { signature: _old, ...rest } = payload as Manifest;
    writeFileSync(pathOf(copy, middle, '.manifest.json'), manifestText(await signManifest(rest, app.runtime.signer)));
  };

  // Signed by the archive's own signer, over another root: the records do not hash to it.
  const wrongRoot = tamperableCopy(t, folder);
  await resign(wrongRoot, { ...middle, tree_root: manifests[0]!.tree_root });
  const report = await verifyFolder(app, wrongRoot);
  t.like(report.finding, { chain: 'main', seq: middle.to_seq, reason: 'batch-tree-mismatch' });

  const { tree_size: _size, tree_root: _root, ...older } = middle;
  const withoutTree = tamperableCopy(t, folder);
  await resign(withoutTree, older);
  t.true((await verifyFolder(app, withoutTree)).ok, 'a manifest written before the tree');

  const half = tamperableCopy(t, folder);
  await resign(half, { ...older, tree_size: middle.to_seq });
  t.like((await verifyFolder(app, half)).finding, { seq: middle.from_seq, reason: 'manifest-invalid' });
});
