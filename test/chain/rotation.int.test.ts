/**
 * Rotation and break-glass end to end, with audit-verify's verdict before,
 * during and after each step (README, "Rotating a signer").
 */
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CodedError } from '../../domain/errors.ts';
import type { AppendEventInput } from '../../chain/input.ts';
import type { Signer } from '../../chain/signer.ts';
import { breakGlass, MAX_BREAKGLASS_WINDOW_MS } from '../../infra/adapters/signers/breakglass.ts';
import { spkiPem } from '../../infra/adapters/signers/der.ts';
import { createKeySigner } from '../../infra/adapters/signers/local.ts';
import { loadRegistryFile, registryFileStore } from '../../infra/adapters/signers/registryFile.ts';
import { activateSigner, addSigner, retireSigner, type RotationContext } from '../../chain/rotation.ts';
import { SqlEventStore } from '../../infra/adapters/sql/sqlEventStore.ts';
import type { TestDatabase } from '../helpers/databases.ts';
import { openTestDatabase } from '../helpers/databases.ts';
import { registryEntry } from '../helpers/keys.ts';
import { tempDir } from '../helpers/runtime.ts';
import { CLI } from '../helpers/cli.ts';
import { appendMany, auditVerifyCli, verdict, writeRegistry } from '../helpers/signing.ts';

const HOUR_MS = 3_600_000;
const T0 = Date.parse('2026-11-23T10:00:00.000Z');

interface Setup {
  db: TestDatabase;
  signersPath: string;
  folder: string;
  clock: { nowMs: number };
  /** An event store whose writer signs with `signer` on the test clock. */
  storeWith(signer: Signer): SqlEventStore;
  context(signer: Signer): RotationContext;
}

async function setup(
  t: ExecutionContext,
  engine: 'postgres' | 'pglite',
  oldKid: string,
  oldKey: KeyObject,
): Promise<Setup> {
  const db = await openTestDatabase(engine);
  const folder = tempDir('rotation');
  const stores: SqlEventStore[] = [];
  t.teardown(async () => {
    for (const store of stores) await store.close();
    await db.drop();
    rmSync(folder, { recursive: true, force: true });
  });
  const signersPath = join(folder, 'signers.json');
  writeRegistry(signersPath, [registryEntry(oldKid, 'ed25519', createPublicKey(oldKey), '2026-01-01T00:00:00Z')]);
  const clock = { nowMs: T0 };
  const storeWith = (signer: Signer): SqlEventStore => {
    const store = new SqlEventStore(db.db, { signer, nowMs: () => clock.nowMs });
    stores.push(store);
    return store;
  };
  return {
    db,
    signersPath,
    folder,
    clock,
    storeWith,
    context: (signer) => {
      const store = storeWith(signer);
      return {
        registry: registryFileStore(signersPath),
        append: (events) => store.append('main', events),
        signerKid: signer.kid,
        nowMs: clock.nowMs,
        actorId: 'ops-alice',
      };
    },
  };
}

const orders = (store: SqlEventStore, count: number, prefix: string) =>
  appendMany((chain, events) => store.append(chain, events), count, 4, prefix);

test('rotation: add with deployedAt in the future, activate once it has passed, retire the old key; audit-verify passes before, during and after', async (t) => {
  const oldKey = generateKeyPairSync('ed25519').privateKey;
  const newKey = generateKeyPairSync('ed25519').privateKey;
  const s = await setup(t, 'postgres', 'kernel-audit-ed25519-v1', oldKey);
  const oldSigner = createKeySigner('kernel-audit-ed25519-v1', oldKey);
  const newSigner = createKeySigner('kernel-audit-ed25519-v2', newKey);
  const verdictNow = async () => verdict(s.db.db, loadRegistryFile(s.signersPath));

  await orders(s.storeWith(oldSigner), 10, 'before');
  t.true((await verdictNow()).ok, 'before');

  const deployedAt = new Date(T0 + HOUR_MS).toISOString();
  const entry = {
    signer_kid: newSigner.kid,
    algorithm: 'ed25519' as const,
    public_key_pem: spkiPem(createPublicKey(newKey)),
    deployedAt,
    retiredAt: null,
  };
  await t.throwsAsync(addSigner(s.context(oldSigner), { ...entry, deployedAt: new Date(T0 - 1).toISOString() }), {
    message: /must be in the future/,
  });
  const registered = await addSigner(s.context(oldSigner), { ...entry, description: 'Primary signer, 2027' });
  t.is(registered.events[0]!.type, 'signer.registered');
  t.is(loadRegistryFile(s.signersPath).signers.get(newSigner.kid)?.deployedAt, deployedAt);
  t.true((await verdictNow()).ok, 'after add: the new key is published, the old one still signs');

  const early = await t.throwsAsync(activateSigner(s.context(newSigner), newSigner.kid), { instanceOf: CodedError });
  t.is(early.code, 'SIGNER_NOT_YET_DEPLOYED');
  s.clock.nowMs = T0 + HOUR_MS;
  const refused = await t.throwsAsync(activateSigner(s.context(oldSigner), newSigner.kid), { instanceOf: CodedError });
  t.is(refused.code, 'SIGNER_NOT_IN_USE', 'the writer must be signing with the new key');
  const activated = await activateSigner(s.context(newSigner), newSigner.kid);
  t.is(activated.events[0]!.type, 'signer.activated');
  await orders(s.storeWith(newSigner), 10, 'during');
  t.true((await verdictNow()).ok, 'during: both keys valid');

  const inUse = await t.throwsAsync(retireSigner(s.context(newSigner), newSigner.kid), { instanceOf: CodedError });
  t.is(inUse.code, 'SIGNER_IN_USE');
  s.clock.nowMs = T0 + 2 * HOUR_MS;
  const retired = await retireSigner(s.context(newSigner), oldSigner.kid);
  t.is(retired.events[0]!.type, 'signer.retired');
  await orders(s.storeWith(newSigner), 10, 'after');
  const after = await verdictNow();
  t.true(after.ok, JSON.stringify(after.finding));
  const signedBy = (await s.storeWith(newSigner).readChain('main')).map(
    ({ record }) => `${record.type}:${record.sig.kid}`,
  );
  t.true(signedBy.includes('signer.registered:kernel-audit-ed25519-v1'));
  t.true(signedBy.includes('signer.activated:kernel-audit-ed25519-v2'));
  t.true(signedBy.includes('signer.retired:kernel-audit-ed25519-v2'));

  // A writer still holding the retired key: what it signs after retiredAt fails.
  s.clock.nowMs = T0 + 3 * HOUR_MS;
  const head = (await orders(s.storeWith(oldSigner), 1, 'stale'))[0] as PromiseFulfilledResult<{
    events: { seq: number }[];
  }>;
  const stale = await verdictNow();
  t.like(stale.finding, { seq: head.value.events[0]!.seq, reason: 'outside-validity-window' });
  const cli = auditVerifyCli(['-d', s.db.location, '-s', s.signersPath]);
  t.is(cli.status, 1);
  t.regex(cli.stdout, /outside-validity-window/);
});

test('a registry change whose chain record cannot be appended is undone', async (t) => {
  const oldKey = generateKeyPairSync('ed25519').privateKey;
  const s = await setup(t, 'pglite', 'old', oldKey);
  const before = readFileSync(s.signersPath, 'utf8');
  const context: RotationContext = {
    ...s.context(createKeySigner('old', oldKey)),
    append: () => Promise.reject(new Error('signer down')),
  };
  const entry = registryEntry(
    'new',
    'ed25519',
    generateKeyPairSync('ed25519').publicKey,
    new Date(T0 + HOUR_MS).toISOString(),
  );
  await t.throwsAsync(addSigner(context, entry), { message: 'signer down' });
  t.is(readFileSync(s.signersPath, 'utf8'), before);
  await t.throwsAsync(retireSigner({ ...context, signerKid: 'someone-else' }, 'old'), { message: 'signer down' });
  t.is(readFileSync(s.signersPath, 'utf8'), before);
});

function breakglassRequest(
  s: Setup,
  overrides: Partial<Parameters<typeof breakGlass>[0]> = {},
): Parameters<typeof breakGlass>[0] {
  return {
    registryPath: s.signersPath,
    justification: 'KMS outage INC-4711 over 30 minutes, checkout blocked',
    approvedBy: ['security-bob', 'finance-carol'],
    windowMs: HOUR_MS,
    nowMs: s.clock.nowMs,
    key: { kind: 'file', path: join(s.folder, 'breakglass.pem') },
    appendWith: (signer: Signer, events: readonly AppendEventInput[]) => s.storeWith(signer).append('main', events),
    ...overrides,
  };
}

test('break-glass: an emergency signer with a short window, recorded with justification and approvers, listed by --report-breakglass; its signatures after the window fail', async (t) => {
  const primaryKey = generateKeyPairSync('ed25519').privateKey;
  const s = await setup(t, 'postgres', 'primary', primaryKey);
  await orders(s.storeWith(createKeySigner('primary', primaryKey)), 5, 'before');
  const result = await breakGlass(breakglassRequest(s));
  const keyFile = join(s.folder, 'breakglass.pem');
  t.is(statSync(keyFile).mode & 0o777, 0o600);
  const entry = loadRegistryFile(s.signersPath).signers.get(result.kid)!;
  t.is(entry.retiredAtMs! - entry.deployedAtMs, HOUR_MS);
  t.notRegex(readFileSync(s.signersPath, 'utf8'), /PRIVATE/);
  const [used] = await s.storeWith(createKeySigner('primary', primaryKey)).readChain('main', { fromSeq: 6 });
  t.like(used!.record, {
    type: 'signing.breakglass_used',
    actor: { id: 'service:signing-breakglass' },
    sig: { kid: result.kid },
  });
  t.like(used!.record.data, {
    justification: 'KMS outage INC-4711 over 30 minutes, checkout blocked',
    approvedBy: ['security-bob', 'finance-carol'],
    kid: result.kid,
  });

  // The emergency signer as a writer uses it (SIGNING_BACKEND=breakglass reads the key file).
  const emergency = createKeySigner(result.kid, (await import('node:crypto')).createPrivateKey(readFileSync(keyFile)));
  await orders(s.storeWith(emergency), 3, 'during');
  const report = await verdict(s.db.db, loadRegistryFile(s.signersPath), { reportBreakglass: true });
  t.true(report.ok, JSON.stringify(report.finding));
  t.deepEqual(
    report.breakglass!.map((use) => use.seq),
    [6, 7, 8, 9],
  );
  const cli = auditVerifyCli(['-d', s.db.location, '-s', s.signersPath, '--report-breakglass']);
  t.is(cli.status, 0, cli.stderr);
  t.regex(cli.stdout, /break-glass: 4 records signed by break-glass signers/);
  t.regex(cli.stdout, new RegExp(`main seq 6 .* signing\\.breakglass_used .* signed by ${result.kid}`));

  s.clock.nowMs = T0 + HOUR_MS; // retiredAt
  await orders(s.storeWith(emergency), 1, 'late');
  t.like((await verdict(s.db.db, loadRegistryFile(s.signersPath))).finding, {
    seq: 10,
    reason: 'outside-validity-window',
  });
});

test('break-glass is refused without two distinct approvers, a justification, or with a long window; nothing is left behind', async (t) => {
  const primaryKey = generateKeyPairSync('ed25519').privateKey;
  const s = await setup(t, 'pglite', 'primary', primaryKey);
  const before = readFileSync(s.signersPath, 'utf8');
  await t.throwsAsync(breakGlass(breakglassRequest(s, { approvedBy: ['bob', 'bob '] })), {
    message: /at least 2 distinct approvers/,
  });
  await t.throwsAsync(breakGlass(breakglassRequest(s, { justification: 'because' })), { message: /justification/ });
  await t.throwsAsync(breakGlass(breakglassRequest(s, { windowMs: MAX_BREAKGLASS_WINDOW_MS + 1 })), {
    message: /window/,
  });
  await t.throwsAsync(
    breakGlass(breakglassRequest(s, { appendWith: () => Promise.reject(new Error('database down')) })),
    { message: 'database down' },
  );
  t.is(readFileSync(s.signersPath, 'utf8'), before);
  t.false(existsSync(join(s.folder, 'breakglass.pem')));
});

test('CLI: signers add, break-glass and audit-verify --report-breakglass on the embedded database', async (t) => {
  const folder = tempDir('rotation-cli');
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  const env = { PATH: process.env['PATH'] ?? '', CHAINBOOK_DATA_DIR: folder };
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, [...CLI, ...args], { env, encoding: 'utf8', timeout: 60_000 });
  const demo = cli('demo', '--orders', '2');
  t.is(demo.status, 0, demo.stderr);
  const next = generateKeyPairSync('ed25519');
  writeFileSync(join(folder, 'next.pem'), spkiPem(next.publicKey));
  const past = cli(
    'signers',
    'add',
    '--kid',
    'kernel-audit-ed25519-v2',
    '--alg',
    'ed25519',
    '--public-key',
    join(folder, 'next.pem'),
    '--deployed-at',
    '2020-01-01T00:00:00Z',
  );
  t.is(past.status, 2);
  t.regex(past.stderr, /DEPLOYED_AT_NOT_IN_FUTURE/);
  const future = new Date(Date.now() + 24 * HOUR_MS).toISOString();
  const added = cli(
    'signers',
    'add',
    '--kid',
    'kernel-audit-ed25519-v2',
    '--alg',
    'ed25519',
    '--public-key',
    join(folder, 'next.pem'),
    '--deployed-at',
    future,
    '--actor',
    'ops-alice',
  );
  t.is(added.status, 0, added.stderr);
  const early = cli('signers', 'activate', '--kid', 'kernel-audit-ed25519-v2');
  t.is(early.status, 2);
  t.regex(early.stderr, /SIGNER_NOT_YET_DEPLOYED/);
  const glass = cli(
    'signers',
    'break-glass',
    '--justification',
    'KMS outage INC-4711 over 30 minutes',
    '--approved-by',
    'bob',
    '--approved-by',
    'carol',
    '--valid-for-minutes',
    '30',
    '--key-out',
    join(folder, 'bg.pem'),
  );
  t.is(glass.status, 0, glass.stderr);
  t.regex(glass.stderr, /SIGNING_BACKEND=breakglass/);
  const kid = (JSON.parse(glass.stdout) as { kid: string }).kid;
  const appended = spawnSync(process.execPath, [...CLI, 'append'], {
    env: {
      ...env,
      SIGNING_BACKEND: 'breakglass',
      SIGNING_KID: kid,
      BREAKGLASS_KEY_FILE: join(folder, 'bg.pem'),
      NODE_ENV: 'production',
      // Production's delivery settings (test/infra/wiring/dataKeysConfig.unit.test.ts); not what this test is about.
      DELIVERY_S3_BUCKET: 'deliveries',
      DELIVERY_WRAPPING_KEY: Buffer.alloc(32, 7).toString('base64'),
    },
    input: `${JSON.stringify({ stream: 'note-bg', type: 'note.added', actor: { id: 'operator-1', role: 'Operator' }, data: { text: 'signed by the break-glass key' } })}\n`,
    encoding: 'utf8',
  });
  t.is(appended.status, 0, appended.stderr);
  const report = cli('audit-verify', '--no-progress', '--report-breakglass');
  t.is(report.status, 0, report.stdout + report.stderr);
  t.regex(report.stdout, /break-glass: 2 records signed by break-glass signers/);
});
