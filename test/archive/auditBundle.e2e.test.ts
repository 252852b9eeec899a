/**
 * The auditor bundle, checked as an auditor would: the README's script (bash,
 * jq, openssl, sha256sum, zcat, xxd, awk; no chainbook) is run on a real
 * bundle, and on bundles changed by one byte.
 */
import { signDeliveryProof, type DeliveryProofPayload } from '../../chain/deliveryProof.ts';
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { contextFor } from '../../commands/context.ts';
import { runDemoWorkload } from '../../commands/demo/demoWorkload.ts';
import { issueLedgerProof } from '../../commands/ledger/issueLedgerProof.ts';
import { writeAuditBundle } from '../../archive/auditBundle.ts';
import { readIndex } from '../../archive/archiveIndex.ts';
import type { ObjectStore } from '../../archive/objectStore.ts';
import { CodedError } from '../../domain/errors.ts';
import { auditorCheckScript, bundleFolder } from '../../infra/adapters/files/bundleFolder.ts';
import { FolderStore } from '../../infra/adapters/objectStores/folderStore.ts';
import { chooseService } from '../../infra/wiring/archiveTargets.ts';
import { zlibCompression } from '../../infra/adapters/objectStores/gzip.ts';
import { inProcessChecker } from '../../verifier/inProcessChecker.ts';
import { testApp } from '../helpers/app.ts';
import { runCli } from '../helpers/cli.ts';
import { generateKeys, publicPem } from '../helpers/keys.ts';
import { tempDir } from '../helpers/runtime.ts';

const quiet = (): void => undefined;

/** The README's only sh block: the auditor's script. */
function readmeScript(bundle: string): string {
  const match = /^```sh\n([\s\S]*?)\n```$/m.exec(readFileSync(join(bundle, 'README.md'), 'utf8'));
  if (!match) throw new Error('the bundle README has no sh block');
  return match[1]!;
}

function runScript(bundle: string, script: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync('bash', ['-c', script], { cwd: bundle, encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function copyOf(t: ExecutionContext, bundle: string): string {
  const copy = tempDir('bundle-copy');
  t.teardown(() => rmSync(copy, { recursive: true, force: true }));
  cpSync(bundle, copy, { recursive: true });
  return copy;
}

function filesUnder(folder: string, suffix: string): string[] {
  return readdirSync(folder, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(suffix))
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
}

/** The proof documents the database keeps (ledger and delivery), by id: what a bundle of everything holds. */
async function keptProofs(db: { query<Row>(text: string): Promise<{ rows: Row[] }> }) {
  const ledger = await db.query<{ proof_id: string }>('SELECT proof_id FROM ledger_proof_documents ORDER BY proof_id');
  const deliveries = await db.query<{ proof_id: string }>('SELECT proof_id FROM delivery_proofs ORDER BY proof_id');
  return { ledger: ledger.rows.map((row) => row.proof_id), deliveries: deliveries.rows.map((row) => row.proof_id) };
}

test('audit-bundle writes batches, manifests, signers.json, the proofs in range and a README whose script checks them with standard tools only, and fails on a changed byte', async (t) => {
  // Each tampered copy is checked by the bash script: about 90 s alone on 2 cores, more when other tests share them.
  t.timeout(300_000);
  const app = await testApp(t, 'postgres');
  const summary = await runDemoWorkload(app.deps, 3, quiet);
  mkdirSync(join(app.config.dataDir, 'proofs'));
  writeFileSync(
    join(app.config.dataDir, 'proofs', `${summary.proof!.proof_id}.json`),
    JSON.stringify(summary.proof, null, 2),
  );
  const folder = tempDir('bundle-archive');
  const out = join(tempDir('bundle'), 'out');
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  const env = { DATABASE_URL: app.test.location, CHAINBOOK_DATA_DIR: app.config.dataDir, ARCHIVE_TARGET: folder };
  t.is((await runCli(['export', '--batch-records', '10', '--threads', '0'], { env })).code, 0);

  const bundled = await runCli(
    [
      'audit-bundle',
      '--from-ts',
      '2020-01-01T00:00:00Z',
      '--to-ts',
      '2100-01-01T00:00:00Z',
      '--out',
      out,
      '--issue-proof',
      '--threads',
      '0',
    ],
    { env },
  );
  t.is(bundled.code, 0, bundled.stdout + bundled.stderr);
  const kept = await keptProofs(app.test.db);
  t.true(kept.deliveries.length > 0, 'the demo delivered');
  t.regex(
    bundled.stdout,
    new RegExp(
      `^audit-bundle: OK, .*: records seq 1\\.\\.\\d+ in \\d+ batches, ${kept.ledger.length} ledger proofs, ${kept.deliveries.length} delivery proofs; check it with: bash .*check\\.sh\n$`,
    ),
  );
  t.true(filesUnder(out, '.jsonl.gz').length >= 3);
  t.is(filesUnder(out, '.jsonl.gz').length, filesUnder(out, '.manifest.json').length);
  t.deepEqual(
    JSON.parse(readFileSync(join(out, 'signers.json'), 'utf8')),
    JSON.parse(readFileSync(join(app.config.dataDir, 'signers.json'), 'utf8')),
  );

  const script = readmeScript(out);
  const good = runScript(out, script);
  t.is(good.status, 0, good.stdout + good.stderr);
  t.regex(
    good.stdout,
    new RegExp(
      `^bundle OK: \\d+ batches, \\d+ records linked, ${kept.ledger.length} ledger proofs, ${kept.deliveries.length} delivery proofs\n$`,
    ),
  );
  t.is(spawnSync('bash', [join(out, 'check.sh')], { encoding: 'utf8' }).status, 0, 'check.sh is the same script');

  // A step that fails where no check expects it (here mktemp, stubbed to fail) still ends in one FAILED line and exit 1.
  const stubs = tempDir('stubs');
  t.teardown(() => rmSync(stubs, { recursive: true, force: true }));
  writeFileSync(join(stubs, 'mktemp'), '#!/bin/sh\nexit 3\n', { mode: 0o755 });
  const stopped = spawnSync('bash', ['-c', script], {
    cwd: out,
    encoding: 'utf8',
    env: { ...process.env, PATH: `${stubs}:${process.env['PATH'] ?? ''}` },
  });
  t.is(stopped.status, 1);
  t.regex(stopped.stdout, /^FAILED: the check stopped at line \d+: work=\$\(mktemp -d\) \(exit 3\)\n$/);

  const flipped = copyOf(t, out);
  const batch = filesUnder(flipped, '.jsonl.gz')[1]!;
  const bytes = readFileSync(batch);
  bytes.writeUInt8(bytes[30]! ^ 0x01, 30);
  writeFileSync(batch, bytes);
  const flippedRun = runScript(flipped, script);
  t.is(flippedRun.status, 1);
  t.regex(flippedRun.stdout, /FAILED: .*main-\d+-\d+\.jsonl\.gz: SHA-256 is not object_sha256/);

  const edited = copyOf(t, out);
  const manifest = filesUnder(edited, '.manifest.json')[0]!;
  writeFileSync(manifest, readFileSync(manifest, 'utf8').replace('"pii_included":false', '"pii_included":true'));
  t.regex(runScript(edited, script).stdout, /FAILED: .*manifest\.json: signature/);

  const proof = copyOf(t, out);
  const proofFile = filesUnder(join(proof, 'proofs'), '.json')[0]!;
  const document = JSON.parse(readFileSync(proofFile, 'utf8')) as { canonical_payload: string };
  writeFileSync(
    proofFile,
    JSON.stringify({
      ...document,
      canonical_payload: document.canonical_payload.replace(
        /"range_hash":"[0-9a-f]{64}"/,
        `"range_hash":"${'0'.repeat(64)}"`,
      ),
    }),
  );
  t.regex(runScript(proof, script).stdout, /FAILED: .*proofs\/.*\.json: signature/);

  // A delivery proof whose signature holds but whose record says otherwise: a delivery proof of another record.
  const swapped = copyOf(t, out);
  const [first, second] = filesUnder(join(swapped, 'delivery-proofs'), '.json');
  writeFileSync(first!, readFileSync(second!));
  writeFileSync(second!, readFileSync(join(out, 'delivery-proofs', first!.split('/').at(-1)!)));
  const delivery = JSON.parse(readFileSync(first!, 'utf8')) as Record<string, unknown>;
  t.is(runScript(swapped, script).status, 0, 'swapping file names changes nothing: each document stands alone');
  const forged = JSON.parse(delivery['canonical_payload'] as string) as Record<string, unknown>;
  forged['ciphertext_sha256'] = '0'.repeat(64);
  writeFileSync(first!, JSON.stringify({ ...delivery, canonical_payload: JSON.stringify(forged) }));
  t.regex(runScript(swapped, script).stdout, /FAILED: .*delivery-proofs\/.*\.json: signature/);
  // Signed by the real signer, but claiming another ciphertext than the record at delivery_seq.
  const resigned = await signDeliveryProof({ ...(forged as unknown as DeliveryProofPayload) }, app.runtime.signer);
  writeFileSync(first!, JSON.stringify(resigned));
  t.regex(runScript(swapped, script).stdout, /FAILED: .*delivery-proofs\/.*\.json: the delivery\.prepared record/);
  // Signed, but naming another key than the one the record says the artifact was encrypted for.
  const otherKey = await signDeliveryProof(
    {
      ...(JSON.parse(delivery['canonical_payload'] as string) as DeliveryProofPayload),
      key_provenance: { type: 'buyer-key', key_type: 'x25519', spki_sha256: '0'.repeat(64) },
    },
    app.runtime.signer,
  );
  writeFileSync(first!, JSON.stringify(otherKey));
  t.regex(runScript(swapped, script).stdout, /FAILED: .*delivery-proofs\/.*\.json: the delivery\.prepared record/);
  // The genuine document with an outer member edited: its signature still holds over canonical_payload.
  writeFileSync(first!, JSON.stringify({ ...delivery, ciphertext_sha256: '0'.repeat(64) }));
  t.regex(
    runScript(swapped, script).stdout,
    /FAILED: .*delivery-proofs\/.*\.json: its members are not what canonical_payload signs/,
  );
});

/** Every line check.sh printed; its verdict is the last, and the only one that starts with "bundle OK" or "FAILED". */
function verdictOf(run: { status: number | null; stdout: string; stderr: string }): string {
  const lines = run.stdout.trimEnd().split('\n');
  return lines.at(-1) ?? '';
}

const BULK_APPENDS = 102;

test('on a bundle of default-size batches (10,000 records) holding more than 10,000 records, check.sh ends with one verdict line: OK, or FAILED naming each tampering', async (t) => {
  t.timeout(300_000);
  const app = await testApp(t, 'postgres');
  const summary = await runDemoWorkload(app.deps, 1, quiet);
  // Records of a type no projection folds, 100 per append (the most one append takes), to pass one default batch.
  const appends = Array.from({ length: BULK_APPENDS }, (_, append) =>
    app.runtime.store.append(
      'main',
      Array.from({ length: 100 }, (_, index) => ({
        stream: `note-${append}`,
        type: 'audit.note',
        data: { note: `bulk record ${append * 100 + index} for a batch larger than a pipe buffer` },
        actor: { id: 'auditor-test', role: 'Auditor' },
      })),
    ),
  );
  await Promise.all(appends);
  mkdirSync(join(app.config.dataDir, 'proofs'));
  writeFileSync(
    join(app.config.dataDir, 'proofs', `${summary.proof!.proof_id}.json`),
    JSON.stringify(summary.proof, null, 2),
  );
  const folder = tempDir('bundle-archive');
  const out = join(tempDir('bundle'), 'out');
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  const env = { DATABASE_URL: app.test.location, CHAINBOOK_DATA_DIR: app.config.dataDir, ARCHIVE_TARGET: folder };
  t.is((await runCli(['export'], { env })).code, 0);
  const bundled = await runCli(
    ['audit-bundle', '--from-ts', '2020-01-01T00:00:00Z', '--to-ts', '2100-01-01T00:00:00Z', '--out', out],
    { env },
  );
  t.is(bundled.code, 0, bundled.stdout + bundled.stderr);
  const objects = filesUnder(out, '.jsonl.gz');
  t.is(objects.length, 2, 'one full default batch and the rest');
  t.regex(objects[0]!, /main-000000000001-000000010000\.jsonl\.gz$/);

  const checkSh = (bundle: string) => {
    const run = spawnSync('bash', [join(bundle, 'check.sh')], { encoding: 'utf8' });
    return { status: run.status, stdout: run.stdout, stderr: run.stderr };
  };
  const good = checkSh(out);
  t.is(good.status, 0, good.stdout + good.stderr);
  const records = Number(/-(\d+)\.jsonl\.gz$/.exec(objects[1]!)![1]);
  const kept = await keptProofs(app.test.db);
  t.is(
    good.stdout,
    `bundle OK: 2 batches, ${records} records linked, ${kept.ledger.length} ledger proofs, ${kept.deliveries.length} delivery proofs\n`,
  );
  t.true(records > 10_000);

  const tampered: [string, (copy: string) => void, RegExp][] = [
    [
      'a byte flipped in the full batch',
      (copy) => {
        const batch = filesUnder(copy, '.jsonl.gz')[0]!;
        const bytes = readFileSync(batch);
        bytes.writeUInt8(bytes[bytes.length >> 1]! ^ 0x01, bytes.length >> 1);
        writeFileSync(batch, bytes);
      },
      /^FAILED: .*main-000000000001-000000010000\.jsonl\.gz: SHA-256 is not object_sha256$/,
    ],
    [
      'a manifest edited',
      (copy) => {
        const manifest = filesUnder(copy, '.manifest.json')[1]!;
        writeFileSync(manifest, readFileSync(manifest, 'utf8').replace('"pii_included":false', '"pii_included":true'));
      },
      /^FAILED: .*manifest\.json: signature$/,
    ],
    [
      'a proof edited',
      (copy) => {
        const proofFile = filesUnder(join(copy, 'proofs'), '.json')[0]!;
        const document = JSON.parse(readFileSync(proofFile, 'utf8')) as { canonical_payload: string };
        const payload = document.canonical_payload.replace(/"to_seq":\d+/, '"to_seq":1');
        writeFileSync(proofFile, JSON.stringify({ ...document, canonical_payload: payload }));
      },
      /^FAILED: proofs\/.*\.json: signature$/,
    ],
    [
      'the last batch removed (object and manifest)',
      (copy) => {
        rmSync(filesUnder(copy, '.jsonl.gz')[1]!);
        rmSync(filesUnder(copy, '.manifest.json')[1]!);
      },
      /^FAILED: the batches hold seq 1 to 10000, bundle\.json says 1 to \d+: a batch is missing$/,
    ],
    [
      "a batch's object removed",
      (copy) => rmSync(filesUnder(copy, '.jsonl.gz')[0]!),
      /^FAILED: .*main-000000000001-000000010000\.jsonl\.gz is missing \(its manifest is there\)$/,
    ],
    [
      "a signer's key replaced",
      (copy) => {
        const path = join(copy, 'signers.json');
        const registry = JSON.parse(readFileSync(path, 'utf8')) as { signers: { public_key_pem: string }[] };
        for (const signer of registry.signers) signer.public_key_pem = publicPem(generateKeys('ed25519').publicKey);
        writeFileSync(path, JSON.stringify(registry, null, 2));
      },
      /^FAILED: bundle\.sig: signature over bundle\.json$/,
    ],
    [
      'the last batch removed and bundle.json edited to match',
      (copy) => {
        const last = filesUnder(copy, '.jsonl.gz')[1]!;
        rmSync(last);
        rmSync(filesUnder(copy, '.manifest.json')[1]!);
        const path = join(copy, 'bundle.json');
        const described = JSON.parse(readFileSync(path, 'utf8')) as { batches_to_seq: number; batches: string[] };
        described.batches_to_seq = 10_000;
        described.batches = described.batches.filter((key) => !last.endsWith(key.replace(/^(.*\/)?batches\//, '')));
        writeFileSync(path, `${JSON.stringify(described, null, 2)}\n`);
      },
      /^FAILED: bundle\.sig: signature over bundle\.json$/,
    ],
    [
      'bundle.sig removed',
      (copy) => rmSync(join(copy, 'bundle.sig')),
      /^FAILED: bundle\.json is not signed \(no bundle\.sig\): its range and batches could have been edited$/,
    ],
    [
      'signers.json replaced by something that is not JSON',
      (copy) => writeFileSync(join(copy, 'signers.json'), 'not json'),
      /^FAILED: signers\.json is missing or has no signers$/,
    ],
  ];
  for (const [what, tamper, expected] of tampered) {
    const copy = copyOf(t, out);
    tamper(copy);
    const run = checkSh(copy);
    t.is(run.status, 1, `${what}: exit 1\n${run.stdout}${run.stderr}`);
    t.is(run.stdout.trimEnd().split('\n').length, 1, `${what}: one line\n${run.stdout}`);
    t.regex(verdictOf(run), expected, what);
  }
});

test('audit-bundle includes every stored proof in range (issued by the library, the CLI or HTTP, never written to a folder) and names a recorded proof whose document was not kept', async (t) => {
  const app = await testApp(t, 'postgres');
  const summary = await runDemoWorkload(app.deps, 3, quiet);
  const folder = tempDir('bundle-archive');
  const out = join(tempDir('bundle'), 'out');
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  const env = { DATABASE_URL: app.test.location, CHAINBOOK_DATA_DIR: app.config.dataDir, ARCHIVE_TARGET: folder };
  const day = new Date().toISOString().slice(0, 10);
  const issued = await runCli(['proof', 'issue', '--from', day, '--to', day], { env });
  t.is(issued.code, 0, issued.stderr);
  const cliProof = JSON.parse(issued.stdout) as { proof_id: string; from_ts: string; to_ts: string };
  t.true(cliProof.from_ts.startsWith(day) && cliProof.to_ts.startsWith(day), 'the date-only form covers the day');
  const lost = await issueLedgerProof(app.deps, {}, contextFor({ id: 'finance-lead', role: 'DivisionLead' }));
  await app.test.db.query('DELETE FROM ledger_proof_documents WHERE proof_id = $1', [lost.proof!.proof_id]);
  t.is((await runCli(['export', '--batch-records', '10', '--threads', '0'], { env })).code, 0);

  const bundled = await runCli(
    [
      'audit-bundle',
      '--from-ts',
      '2020-01-01T00:00:00Z',
      '--to-ts',
      '2100-01-01T00:00:00Z',
      '--out',
      out,
      '--json',
      '--threads',
      '0',
    ],
    { env },
  );
  t.is(bundled.code, 0, bundled.stdout + bundled.stderr);
  const report = JSON.parse(bundled.stdout) as {
    proofs: string[];
    deliveryProofs: string[];
    skippedProofs: { name: string; reason: string }[];
  };
  const kept = await keptProofs(app.test.db);
  t.true(kept.ledger.includes(summary.proof!.proof_id) && kept.ledger.includes(cliProof.proof_id));
  t.deepEqual(report.proofs.sort(), kept.ledger, 'every kept ledger proof: the demo’s, the CLI’s, each delivery’s');
  t.deepEqual(report.deliveryProofs.sort(), kept.deliveries);
  t.deepEqual(report.skippedProofs, [
    { name: lost.proof!.proof_id, reason: 'recorded in the chain, but its signed document was not kept' },
  ]);
  t.is(runScript(out, readmeScript(out)).status, 0);
  const bad = await runCli(['proof', 'issue', '--from', '2025-11-01', '--to', 'november'], { env });
  t.is(bad.code, 2);
  t.regex(bad.stderr, /--to must be a date like 2025-11-01/);
});

test('a batch that changes in the archive after it was verified fails the bundle (ARCHIVE_CHANGED): it holds only bytes it verified', async (t) => {
  const app = await testApp(t, 'postgres');
  await runDemoWorkload(app.deps, 3, quiet);
  const folder = tempDir('bundle-archive');
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  const env = { DATABASE_URL: app.test.location, CHAINBOOK_DATA_DIR: app.config.dataDir, ARCHIVE_TARGET: folder };
  t.is((await runCli(['export', '--batch-records', '10', '--threads', '0'], { env })).code, 0);
  const store = new FolderStore(folder);
  const index = await readIndex(store, await chooseService(store, undefined));
  const target = index.chains.get(app.deps.chain)![1]!.key;
  // The last read of one batch (the copy, after verification) sees other bytes: as if it were replaced meanwhile.
  let reads = 0;
  let changeAt = Infinity;
  const changedGet = async (key: string, maxBytes: number) => {
    const bytes = await store.get(key, maxBytes);
    if (key !== target || bytes === undefined || ++reads < changeAt) return bytes;
    return Uint8Array.from(bytes, (byte, i) => (i === bytes.length - 1 ? byte ^ 1 : byte));
  };
  const changing: ObjectStore = new Proxy(store, {
    get(target, property) {
      if (property === 'get') return changedGet;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  const bundle = (source: ObjectStore) =>
    writeAuditBundle({
      store: source,
      registry: app.runtime.registry,
      service: index.service,
      chain: app.deps.chain,
      fromTs: '2020-01-01T00:00:00.000Z',
      toTs: '2100-01-01T00:00:00.000Z',
      out: bundleFolder(join(tempDir('bundle'), 'out')),
      checkScript: auditorCheckScript(),
      compression: zlibCompression,
      proofTexts: [],
      checker: inProcessChecker(app.runtime.registry),
      version: 'test',
      nowMs: Date.now,
    });
  // A first bundle counts the reads of that batch (verification, the embedded proof's range, the copy); the second
  // changes its last one, the copy.
  t.true((await bundle(changing)).ok, 'unchanged, the bundle is made');
  changeAt = reads * 2;
  const error = await t.throwsAsync(bundle(changing));
  t.true(error instanceof CodedError && error.code === 'ARCHIVE_CHANGED', String(error));
});
