/**
 * Content inspection where publishers submit, the encrypted quarantine and
 * moderation, on real databases with the real plugins (yara included):
 * docs/DOMAIN.md, "Content inspection".
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { publishListing } from '../../../commands/catalog/listingCommands.ts';
import { contextFor } from '../../../commands/context.ts';
import { deleteContent, expireQuarantine, releaseContent } from '../../../commands/content/moderateContent.ts';
import { approveManifest } from '../../../commands/manifests/approveManifest.ts';
import { submitManifest } from '../../../commands/manifests/submitManifest.ts';
import { uploadArtifact } from '../../../commands/manifests/uploadArtifact.ts';
import { KERNEL_OPERATOR, listProduct } from '../../../commands/demo/marketplaceFlow.ts';
import { CodedError } from '../../../domain/errors.ts';
import { QuarantineVault } from '../../../infra/adapters/quarantine/quarantineVault.ts';
import { FolderBlobStore } from '../../../infra/adapters/objectStores/folderBlobStore.ts';
import { loadConfig } from '../../../infra/wiring/config.ts';
import { observeQuarantine, runQuarantineExpiry } from '../../../infra/wiring/content.ts';
import { metricsRegistry } from '../../../infra/adapters/metrics.ts';
import { ENGINES, type EngineName } from '../../helpers/databases.ts';
import { testApp, type TestApp } from '../../helpers/app.ts';
import { auditor, operator, productFor, superAdmin } from '../../helpers/fixtures.ts';
import { awsAccessKeyId, chainbookToken, eicar, pemPrivateKey, zipBytes } from '../../helpers/hostileContent.ts';
import type { InspectionPlugin } from '../../../commands/content/inspector.ts';

const publisher = { id: 'publisher-1', role: 'Publisher' };
const MASTER_KEY = randomBytes(32).toString('base64');
const QUARANTINE_ENV = {
  QUARANTINE_ENABLED: 'true',
  ENCRYPTION_MASTER_KEY: MASTER_KEY,
  CONTENT_BLOCKED_DOMAINS: 'evil.example',
  CONTENT_QUARANTINE_WORDS: 'keygen',
};

function app(
  t: ExecutionContext,
  engine: EngineName,
  env: Record<string, string> = QUARANTINE_ENV,
  plugins?: InspectionPlugin[],
) {
  return testApp(t, engine, { env, ...(plugins ? { inspectionPlugins: plugins } : {}) });
}

async function refusal(t: ExecutionContext, run: Promise<unknown>, code: string): Promise<CodedError> {
  const error = await t.throwsAsync(run);
  t.true(error instanceof CodedError, String(error));
  t.is((error as CodedError).code, code, (error as Error).message);
  return error as CodedError;
}

async function records(test: TestApp) {
  return (await test.runtime.store.readChain(test.deps.chain)).map((stored) => stored.record);
}

async function contentRecords(test: TestApp) {
  return (await records(test)).filter((record) => record.type.startsWith('content.'));
}

function artifactOf(bytes: Buffer) {
  return { artifactSha256: createHash('sha256').update(bytes).digest('hex'), sizeBytes: bytes.length };
}

async function* once(bytes: Buffer): AsyncIterable<Uint8Array> {
  yield bytes;
}

function vaultOf(test: TestApp): QuarantineVault {
  return test.content.vault!;
}

/** Every file under the quarantine folder, read whole. */
function storedObjects(test: TestApp): Buffer[] {
  const root = join(test.config.dataDir, 'quarantine', 'quarantine');
  if (!existsSync(root)) return [];
  const names = readdirSync(root).filter((name) => !name.startsWith('.'));
  return names.map((name) => readFileSync(join(root, name)));
}

for (const engine of ENGINES) {
  test(`${engine}: a clean manifest passes with one decision record in its own transaction; the record holds no content`, async (t) => {
    const test = await app(t, engine);
    const product = { ...productFor(publisher), name: 'Terrain generator deluxe' };
    const result = await submitManifest(test.deps, product, contextFor(publisher));
    t.deepEqual(
      result.events.map((event) => event.type),
      ['manifest.submitted', 'content.passed'],
    );
    const [decision] = await contentRecords(test);
    t.is(decision!.type, 'content.passed');
    t.like(decision!.data, {
      subject: 'manifest',
      subjectId: result.manifestId,
      tier: 'CLEAR',
      publisherId: publisher.id,
    });
    t.deepEqual((decision!.data['pluginResults'] as { plugin: string }[]).map((r) => r.plugin).sort(), [
      'secrets',
      'text-rules',
      'yara',
    ]);
    t.false(JSON.stringify(decision!.data).includes('Terrain generator deluxe'), 'no content in the decision record');
  });

  test(`${engine}: a manifest with a cloud key is blocked with the plugin's reason; only its decision is recorded`, async (t) => {
    const test = await app(t, engine);
    const key = awsAccessKeyId();
    const before = await test.snapshot();
    const error = await refusal(
      t,
      submitManifest(test.deps, { ...productFor(publisher), name: `tool ${key}` }, contextFor(publisher)),
      'CONTENT_BLOCKED',
    );
    t.regex(error.message, /an AWS access key id/);
    t.false(error.message.includes(key));
    const after = await test.snapshot();
    t.deepEqual(after.digests, before.digests, 'no projection changed');
    t.is(after.head.seq, before.head.seq + 1, 'one record: the decision');
    const all = await records(test);
    t.deepEqual(
      all.map((record) => record.type),
      ['content.blocked'],
    );
    t.false(JSON.stringify(all).includes(key), 'the key is not in the chain');
    t.like(error.details, { tier: 'BLOCK', decisionSeq: after.head.seq });
  });
}

test('manifest text after a line break or tab is inspected as written, not as its JSON escapes', async (t) => {
  const test = await app(t, 'postgres');
  // In the document's JCS a line break is a backslash and an n: the word, domain or token after it must still be found.
  const cases: [string, string, string][] = [
    ['Terrain tools\nkeygen included', 'CONTENT_QUARANTINED', 'text.quarantine-word'],
    ['Terrain tools\tmirror at evil.example', 'CONTENT_BLOCKED', 'text.blocked-domain'],
    [`Terrain tools\n${chainbookToken()}`, 'CONTENT_BLOCKED', 'secret.chainbook-token'],
  ];
  for (const [name, code, label] of cases) {
    const error = await refusal(
      t,
      submitManifest(test.deps, { ...productFor(publisher), name }, contextFor(publisher)),
      code,
    );
    t.true((error.details['labels'] as string[]).includes(label), `${label}: ${String(error.details['labels'])}`);
  }
  const all = await records(test);
  t.deepEqual(
    all.map((record) => record.type),
    ['content.quarantined', 'content.blocked', 'content.blocked'],
  );
});

test('a quarantined manifest is held encrypted (ciphertext at rest), is not in the catalog, and decrypts only with the right master key', async (t) => {
  const test = await app(t, 'postgres');
  const name = 'Universal keygen for everything';
  const error = await refusal(
    t,
    submitManifest(test.deps, { ...productFor(publisher), name }, contextFor(publisher)),
    'CONTENT_QUARANTINED',
  );
  const inspectionId = error.details['inspectionId'] as string;
  const all = await records(test);
  t.deepEqual(
    all.map((record) => record.type),
    ['content.quarantined'],
  );
  t.false(JSON.stringify(all).includes(name), 'the chain does not hold the content');
  t.truthy(all[0]!.data['expiresAt']);
  // At rest: one object, ciphertext, with no substring of the plaintext.
  const objects = storedObjects(test);
  t.is(objects.length, 1);
  t.false(objects[0]!.includes(Buffer.from('keygen')));
  t.false(objects[0]!.includes(Buffer.from(publisher.id)));
  const { content, record } = await vaultOf(test).open(inspectionId);
  t.true(content.toString('utf8').includes(name));
  t.like(record, { status: 'held', subject: 'manifest', stored: true });
  // Another master key cannot open it.
  const other = new QuarantineVault(test.test.db, vaultOf(test).store, randomBytes(32), 72);
  await refusal(t, other.open(inspectionId), 'QUARANTINE_KEY_MISMATCH');
  // The manifest does not exist: it cannot be approved or listed.
  const { rows } = await test.test.db.query('SELECT count(*)::int AS n FROM catalog_manifests');
  t.is(rows[0]!['n'], 0);
});

test('a tampered quarantined object fails its GCM tag: reported, never served', async (t) => {
  const test = await app(t, 'postgres');
  const error = await refusal(
    t,
    submitManifest(test.deps, { ...productFor(publisher), name: 'a keygen' }, contextFor(publisher)),
    'CONTENT_QUARANTINED',
  );
  const root = join(test.config.dataDir, 'quarantine', 'quarantine');
  const [file] = readdirSync(root);
  const bytes = readFileSync(join(root, file!));
  bytes[3] = bytes[3]! ^ 0x01;
  writeFileSync(join(root, file!), bytes);
  const tampered = await refusal(t, vaultOf(test).open(error.details['inspectionId'] as string), 'QUARANTINE_TAMPERED');
  t.regex(tampered.message, /GCM tag/);
});

test('moderation: non-admins are refused; a release is recorded and the same content then passes; a second release is refused', async (t) => {
  const test = await app(t, 'postgres');
  const product = { ...productFor(publisher), name: 'keygen helper' };
  const held = await refusal(t, submitManifest(test.deps, product, contextFor(publisher)), 'CONTENT_QUARANTINED');
  const inspectionId = held.details['inspectionId'] as string;
  for (const actor of [publisher, auditor, { id: 'svc', role: 'Service' }, { id: 'b', role: 'Buyer' }])
    await refusal(t, releaseContent(test.deps, { inspectionId, reason: 'fine' }, contextFor(actor)), 'FORBIDDEN_ROLE');
  const released = await releaseContent(
    test.deps,
    { inspectionId, reason: 'a keygen for our own tool: allowed' },
    contextFor(operator),
  );
  t.like(released.events[0], { type: 'content.released' });
  const record = (await records(test)).at(-1)!;
  t.like(record, { type: 'content.released', actor: { id: operator.id, role: 'Operator' } });
  t.like(record.data, { inspectionId, moderatorId: operator.id, reason: 'a keygen for our own tool: allowed' });
  t.deepEqual(storedObjects(test), [], 'the held copy is shredded once released');
  const again = await submitManifest(test.deps, product, contextFor(publisher));
  const passed = (await contentRecords(test)).at(-1)!;
  t.like(passed.data, { tier: 'CLEAR', labels: ['moderation.released'], subjectId: again.manifestId });
  // One release lets one resubmission pass: the next is inspected again (the rules may have changed since).
  await refusal(t, submitManifest(test.deps, product, contextFor(publisher)), 'CONTENT_QUARANTINED');
  await refusal(
    t,
    releaseContent(test.deps, { inspectionId, reason: 'again' }, contextFor(operator)),
    'CONTENT_NOT_HELD',
  );
  await refusal(
    t,
    deleteContent(test.deps, { inspectionId, reason: 'late' }, contextFor(operator)),
    'CONTENT_NOT_HELD',
  );
});

test('a delete is recorded with its moderator and reason and shreds the object and its key', async (t) => {
  const test = await app(t, 'postgres');
  const held = await refusal(
    t,
    submitManifest(test.deps, { ...productFor(publisher), name: 'keygen' }, contextFor(publisher)),
    'CONTENT_QUARANTINED',
  );
  const inspectionId = held.details['inspectionId'] as string;
  await deleteContent(
    test.deps,
    { inspectionId, reason: 'piracy tool' },
    contextFor({ id: 'lead', role: 'DivisionLead' }),
  );
  t.like((await records(test)).at(-1), {
    type: 'content.deleted',
    data: { moderatorId: 'lead', reason: 'piracy tool' },
  });
  const { rows } = await test.test.db.query('SELECT count(*)::int AS n FROM encryption_keys');
  t.is(rows[0]!['n'], 0);
  t.deepEqual(storedObjects(test), []);
  await refusal(t, vaultOf(test).open(inspectionId), 'QUARANTINE_CONTENT_GONE');
  const before = await test.snapshot();
  await refusal(
    t,
    releaseContent(test.deps, { inspectionId, reason: 'undo' }, contextFor(operator)),
    'CONTENT_NOT_HELD',
  );
  t.deepEqual(await test.snapshot(), before, 'a refused release changes nothing');
});

test('expiry shreds object and key after QUARANTINE_EXPIRY_HOURS and records content.expired; the content cannot be recovered', async (t) => {
  const test = await app(t, 'postgres', { ...QUARANTINE_ENV, QUARANTINE_EXPIRY_HOURS: '1' });
  const held = await refusal(
    t,
    submitManifest(test.deps, { ...productFor(publisher), name: 'keygen' }, contextFor(publisher)),
    'CONTENT_QUARANTINED',
  );
  const inspectionId = held.details['inspectionId'] as string;
  const expiryActor = { id: 'quarantine-expiry', role: 'Service' };
  const early = await expireQuarantine(test.deps, {}, contextFor(expiryActor));
  t.deepEqual(early.expired, [], 'not before its expiry');
  const later = new Date(Date.now() + 2 * 3_600_000).toISOString();
  const { rows: keysBefore } = await test.test.db.query('SELECT wrapped_key FROM encryption_keys');
  const objectsBefore = storedObjects(test);
  const pass = await expireQuarantine(test.deps, {}, contextFor(expiryActor, { now: later }));
  t.deepEqual(pass.expired, [inspectionId]);
  t.like((await records(test)).at(-1), { type: 'content.expired', data: { inspectionId, shredded: true } });
  t.deepEqual(storedObjects(test), []);
  const { rows } = await test.test.db.query('SELECT count(*)::int AS n FROM encryption_keys');
  t.is(rows[0]!['n'], 0);
  await refusal(t, vaultOf(test).open(inspectionId), 'QUARANTINE_CONTENT_GONE');
  await refusal(
    t,
    releaseContent(test.deps, { inspectionId, reason: 'too late' }, contextFor(operator)),
    'CONTENT_NOT_HELD',
  );
  // A backup of the object is useless without the key; even the key's backup fails under another master key.
  t.is(objectsBefore.length, 1);
  t.is(keysBefore.length, 1);
  t.deepEqual((await expireQuarantine(test.deps, {}, contextFor(expiryActor, { now: later }))).expired, []);
});

test('the expiry job as serve runs it counts what it shredded and sets the quarantine gauges', async (t) => {
  const test = await app(t, 'postgres', { ...QUARANTINE_ENV, QUARANTINE_EXPIRY_HOURS: '1' });
  await refusal(
    t,
    submitManifest(test.deps, { ...productFor(publisher), name: 'keygen' }, contextFor(publisher)),
    'CONTENT_QUARANTINED',
  );
  const value = async (name: string) => (await metricsRegistry.getSingleMetric(name)!.get()).values[0]?.value ?? 0;
  const expiredBefore = await value('quarantine_expired_total');
  await observeQuarantine(vaultOf(test), Date.now() + 2 * 3_600_000);
  t.is(await value('quarantine_held_records'), 1);
  t.true((await value('quarantine_held_bytes')) > 0);
  t.is(await value('quarantine_expiry_backlog'), 1);
  const expired = await runQuarantineExpiry(test.deps, vaultOf(test), Date.now() + 2 * 3_600_000);
  t.is(expired.length, 1);
  t.is((await value('quarantine_expired_total')) - expiredBefore, 1);
  t.is(await value('quarantine_expiry_backlog'), 0);
  t.is(await value('quarantine_held_records'), 0);
  t.like((await records(test)).at(-1), {
    type: 'content.expired',
    actor: { id: 'quarantine-expiry', role: 'Service' },
  });
});

/** content_decisions_total for one tier and subject. */
async function decisions(tier: string, subject: string): Promise<number> {
  const metric = await metricsRegistry.getSingleMetric('content_decisions_total')!.get();
  return (
    metric.values.find((value) => value.labels['tier'] === tier && value.labels['subject'] === subject)?.value ?? 0
  );
}

test('with quarantine off, QUARANTINE falls back to BLOCK, recorded as such and counted as BLOCK', async (t) => {
  const test = await app(t, 'postgres', { CONTENT_QUARANTINE_WORDS: 'keygen' });
  const before = { block: await decisions('BLOCK', 'manifest'), held: await decisions('QUARANTINE', 'manifest') };
  const error = await refusal(
    t,
    submitManifest(test.deps, { ...productFor(publisher), name: 'keygen' }, contextFor(publisher)),
    'CONTENT_BLOCKED',
  );
  t.like((await contentRecords(test))[0], {
    type: 'content.blocked',
    data: { tier: 'BLOCK', quarantineDisabled: true },
  });
  t.is(error.details['tier'], 'BLOCK');
  t.regex(error.message, /quarantine word rule #1 \(CONTENT_QUARANTINE_WORDS\) \(to be held, but quarantine is off\)/);
  t.is(await decisions('BLOCK', 'manifest'), before.block + 1, 'the decision applied is counted');
  t.is(await decisions('QUARANTINE', 'manifest'), before.held, "not the inspector's tier");
});

test('artifacts: the EICAR file and an embedded private key are blocked and deleted; a disguised type is quarantined; the manifest stays unapprovable', async (t) => {
  const test = await app(t, 'postgres');
  const cases: [Buffer, string, string][] = [
    [Buffer.from(eicar()), 'application/octet-stream', 'CONTENT_BLOCKED'],
    [Buffer.concat([zipBytes(), Buffer.from(pemPrivateKey())]), 'application/zip', 'CONTENT_BLOCKED'],
    [zipBytes(), 'image/png', 'CONTENT_QUARANTINED'],
  ];
  for (const [bytes, contentType, code] of cases) {
    const product = { ...productFor(publisher), ...artifactOf(bytes) };
    const { manifestId } = await submitManifest(test.deps, product, contextFor(publisher));
    await refusal(t, uploadArtifact(test.deps, { manifestId, contentType }, contextFor(publisher), once(bytes)), code);
    await refusal(t, approveManifest(test.deps, { manifestId }, contextFor(KERNEL_OPERATOR)), 'ARTIFACT_NOT_STORED');
  }
  const artifactFolder = join(test.config.dataDir, 'artifacts');
  const leftovers = readdirSync(artifactFolder, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => entry.name);
  t.deepEqual(leftovers, [], 'no artifact kept in the clear');
  const decisions = await contentRecords(test);
  t.deepEqual(
    decisions.filter((record) => record.data['subject'] === 'artifact').map((record) => record.type),
    ['content.blocked', 'content.blocked', 'content.quarantined'],
  );
  t.true((decisions.at(-1)!.data['labels'] as string[]).includes('content-type.mismatch'));
  t.false(storedObjects(test)[0]!.includes(zipBytes().subarray(30, 40)), 'the held artifact is ciphertext');
});

test('a clean artifact and listing text pass; a listing text naming a blocked domain is refused and the listing not published', async (t) => {
  const test = await app(t, 'postgres');
  const listed = await listProduct(test.deps, publisher, productFor(publisher));
  t.truthy(listed.listingId);
  const { manifestId } = listed;
  await refusal(
    t,
    publishListing(
      test.deps,
      { manifestId, description: 'mirror at https://files.evil.example/x' },
      contextFor(publisher),
    ),
    'CONTENT_BLOCKED',
  );
  const ok = await publishListing(
    test.deps,
    { manifestId, description: 'Procedural terrain, with docs.' },
    contextFor(publisher),
  );
  t.deepEqual(
    ok.events.map((event) => event.type),
    ['listing.published', 'content.passed'],
  );
  const subjects = (await contentRecords(test)).map((record) => [record.type, record.data['subject']]);
  t.deepEqual(subjects, [
    ['content.passed', 'manifest'],
    ['content.passed', 'artifact'],
    ['content.blocked', 'listing'],
    ['content.passed', 'listing'],
  ]);
});

test('an admin who wrote held listing text for a publisher cannot release it; another admin can', async (t) => {
  const test = await app(t, 'postgres');
  const { manifestId } = await listProduct(test.deps, publisher, productFor(publisher));
  const error = await refusal(
    t,
    publishListing(test.deps, { manifestId, description: 'bundled keygen' }, contextFor(operator)),
    'CONTENT_QUARANTINED',
  );
  const inspectionId = error.details['inspectionId'] as string;
  const before = await test.snapshot();
  await refusal(
    t,
    releaseContent(test.deps, { inspectionId, reason: 'my own text' }, contextFor(operator)),
    'CONTENT_SELF_MODERATION',
  );
  t.deepEqual(await test.snapshot(), before, 'the refusal changed nothing');
  await releaseContent(test.deps, { inspectionId, reason: 'reviewed' }, contextFor(superAdmin));
  t.like((await records(test)).at(-1), { type: 'content.released', actor: { id: superAdmin.id } });
});

test('a plugin that hangs or throws is recorded with the failure tier and the submission does not hang', async (t) => {
  const hangs: InspectionPlugin = {
    name: 'hangs',
    appliesTo: ['manifest'],
    inspect: () => new Promise(() => undefined),
  };
  const throws: InspectionPlugin = {
    name: 'throws',
    appliesTo: ['manifest'],
    inspect: async () => {
      throw new Error('plugin crashed');
    },
  };
  const test = await app(
    t,
    'postgres',
    { ...QUARANTINE_ENV, INSPECTION_PLUGIN_TIMEOUT_MS: '100', INSPECTION_FAILURE_TIER: 'BLOCK' },
    [hangs, throws],
  );
  await refusal(t, submitManifest(test.deps, productFor(publisher), contextFor(publisher)), 'CONTENT_BLOCKED');
  const [decision] = await contentRecords(test);
  t.deepEqual(
    (decision!.data['pluginResults'] as { plugin: string; outcome: string }[]).map((r) => [r.plugin, r.outcome]),
    [
      ['hangs', 'timeout'],
      ['throws', 'error'],
    ],
  );
});

test('quarantine enabled without a master key, or with a malformed one, is refused at start', (t) => {
  const base = { CHAINBOOK_DATA_DIR: '/tmp/unused' };
  for (const env of [
    { ...base, QUARANTINE_ENABLED: 'true' },
    { ...base, QUARANTINE_ENABLED: 'true', ENCRYPTION_MASTER_KEY: 'c2hvcnQ=' },
    { ...base, ENCRYPTION_MASTER_KEY: Buffer.alloc(31).toString('base64') },
  ]) {
    const error = t.throws(() => loadConfig(env));
    t.regex(error.message, /ENCRYPTION_MASTER_KEY/);
    t.false(error.message.includes('c2hvcnQ='), 'the value is not repeated');
  }
  t.is(
    loadConfig({ ...base, QUARANTINE_ENABLED: 'true', ENCRYPTION_MASTER_KEY: MASTER_KEY }).content.quarantine.enabled,
    true,
  );
  t.truthy(FolderBlobStore);
});
