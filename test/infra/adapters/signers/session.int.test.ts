/**
 * Delegated session signers (docs/FORMAT.md section 4b): the writer signs records
 * with an in-memory Ed25519 key, the root signer only the signer.delegated
 * record introducing it, and audit-verify follows delegations. The forgeries
 * a verifier must catch are built with writers that misbehave on purpose.
 */
import test, { type ExecutionContext } from 'ava';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { isChainError } from '../../../../chain/errors.ts';
import { inProcessChecker } from '../../../../verifier/inProcessChecker.ts';
import { verify } from '../../../../verifier/verify.ts';
import { databaseReader } from '../../../../infra/adapters/sql/databaseReader.ts';
import type { SessionKey, Signer } from '../../../../chain/signer.ts';
import type { BackendSigner } from '../../../../infra/adapters/signers/backend.ts';
import { spkiPem } from '../../../../infra/adapters/signers/der.ts';
import { createKeySigner } from '../../../../infra/adapters/signers/local.ts';
import { delegatingSigner } from '../../../../infra/adapters/signers/session.ts';
import { SqlEventStore } from '../../../../infra/adapters/sql/sqlEventStore.ts';
import { ENGINES } from '../../../helpers/databases.ts';
import { registryEntry } from '../../../helpers/keys.ts';
import { tempDir, testRuntime, type TestRuntime } from '../../../helpers/runtime.ts';
import { appendMany, auditVerifyCli, verdict, writeRegistry } from '../../../helpers/signing.ts';

const HOUR_MS = 3_600_000;

function keySigner(kid: string, privateKey: KeyObject = generateKeyPairSync('ed25519').privateKey): BackendSigner {
  return {
    ...createKeySigner(kid, privateKey),
    publicKey: createPublicKey(privateKey),
    description: `test key ${kid}`,
  };
}

/** A runtime whose writer signs with `signer`, its clock `clock.nowMs`, and the registry holding `root`. */
async function delegatedRuntime(
  t: ExecutionContext,
  engine: (typeof ENGINES)[number],
  root: BackendSigner,
  signer: Signer,
  clock: { nowMs: number },
) {
  const folder = tempDir('session');
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  const signersPath = join(folder, 'signers.json');
  const registry = writeRegistry(signersPath, [registryEntry(root.kid, 'ed25519', root.publicKey!)]);
  const rt = await testRuntime(t, engine, {
    signer,
    nowMs: () => clock.nowMs,
    env: { CHAINBOOK_SIGNERS: signersPath },
  });
  return { rt, registry };
}

function signersPathOf(rt: TestRuntime): string {
  return rt.config.signersPath;
}

async function kids(rt: TestRuntime): Promise<{ type: string; kid: string; ts: string }[]> {
  return (await rt.store.readChain('main')).map(({ record }) => ({
    type: record.type,
    kid: record.sig.kid,
    ts: record.ts,
  }));
}

for (const engine of ENGINES) {
  test(`${engine}: records are signed by the session key, only the delegation by the root; audit-verify passes`, async (t) => {
    const root = keySigner('kms-root');
    let rootSignatures = 0;
    const counted: BackendSigner = {
      ...root,
      signBatch: async (requests) => ((rootSignatures += requests.length), root.signBatch(requests)),
    };
    const clock = { nowMs: Date.parse('2026-11-23T10:00:00.000Z') };
    const { rt, registry } = await delegatedRuntime(
      t,
      engine,
      root,
      delegatingSigner(counted, { lifetimeMs: 4 * HOUR_MS }),
      clock,
    );
    const results = await appendMany((chain, events) => rt.store.append(chain, events), 120, 16);
    t.true(results.every((result) => result.status === 'fulfilled'));
    const signed = await kids(rt);
    t.is(signed.length, 121);
    t.like(signed[0], { type: 'signer.delegated', kid: 'kms-root' });
    t.true(signed.slice(1).every((record) => record.kid.startsWith('session-') && record.kid === signed[1]!.kid));
    t.is(rootSignatures, 1, 'the root signed only the delegation');
    const delegation = (await rt.store.readChain('main', { limit: 1 }))[0]!.record;
    t.deepEqual(Object.keys(delegation.data).sort(), ['algorithm', 'kid', 'notAfter', 'notBefore', 'public_key_pem']);
    t.is(
      Date.parse(delegation.data['notAfter'] as string) - Date.parse(delegation.data['notBefore'] as string),
      4 * HOUR_MS,
    );
    const report = await verdict(rt.db, registry);
    t.true(report.ok, JSON.stringify(report.finding));
    t.is(report.records, 121);
    // Small pages: pages checked before the delegation was learned are rechecked, later ones verify it directly.
    const paged = await verify(databaseReader(rt.db, 10), inProcessChecker(registry), { maxPagesInFlight: 3 });
    t.true(paged.ok, JSON.stringify(paged.finding));
    // audit-verify --limit 50: the delegation is before the range and is looked up.
    const tail = await verdict(rt.db, registry, { limit: 50 });
    t.true(tail.ok, JSON.stringify(tail.finding));
    t.is(tail.records, 50);
    if (engine === 'postgres') {
      // The CLI checks signatures on worker threads, which learn the delegation from the ordered pass.
      const cli = auditVerifyCli(['-d', rt.test.location, '-s', signersPathOf(rt), '--threads', '2']);
      t.is(cli.status, 0, cli.stdout + cli.stderr);
    }
  });
}

test('a session is renewed when its window ends: a new delegation, then its records; both windows verify', async (t) => {
  const root = keySigner('kms-root');
  const clock = { nowMs: Date.parse('2026-11-23T10:00:00.000Z') };
  const { rt, registry } = await delegatedRuntime(
    t,
    'pglite',
    root,
    delegatingSigner(root, { lifetimeMs: HOUR_MS }),
    clock,
  );
  await appendMany((chain, events) => rt.store.append(chain, events), 10, 2, 'early');
  clock.nowMs += HOUR_MS; // exactly notAfter: the old key may no longer sign
  await appendMany((chain, events) => rt.store.append(chain, events), 10, 2, 'late');
  const signed = await kids(rt);
  const delegations = signed.filter((record) => record.type === 'signer.delegated');
  t.is(delegations.length, 2);
  t.is(new Set(signed.filter((record) => record.type !== 'signer.delegated').map((record) => record.kid)).size, 2);
  const report = await verdict(rt.db, registry);
  t.true(report.ok, JSON.stringify(report.finding));
});

test('when the root cannot sign the delegation, nothing is appended (SIGNING_UNAVAILABLE)', async (t) => {
  const root = keySigner('kms-root');
  const failing: BackendSigner = { ...root, signBatch: () => Promise.reject(new Error('KMS unreachable')) };
  const { rt } = await delegatedRuntime(t, 'pglite', root, delegatingSigner(failing), { nowMs: Date.now() });
  const error = await t.throwsAsync(
    rt.store.append('main', [
      { stream: 'order-1', type: 'order.created', actor: { id: 'b', role: 'Buyer' }, data: {} },
    ]),
  );
  t.true(isChainError(error, 'SIGNING_UNAVAILABLE'));
  t.is((await rt.store.head('main')).seq, 0);
});

/** A writer that introduces a session key the test holds, with the window the test chooses. */
function forgedSession(
  root: BackendSigner,
  notBeforeMs: number,
  notAfterMs: number,
  kid = 'session-forged',
): { signer: Signer; sessionKey: KeyObject; kid: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const session: SessionKey = {
    kid,
    delegation: {
      kid,
      algorithm: 'ed25519',
      public_key_pem: spkiPem(publicKey),
      notBefore: new Date(notBeforeMs).toISOString(),
      notAfter: new Date(notAfterMs).toISOString(),
    },
    notBeforeMs,
    notAfterMs,
    signBatch: (requests) => createKeySigner(kid, privateKey).signBatch(requests),
  };
  return { signer: { ...root, session: () => session }, sessionKey: privateKey, kid };
}

const order = (stream: string) => [{ stream, type: 'order.created', actor: { id: 'b', role: 'Buyer' }, data: {} }];

test('a record signed by a session key outside its window fails audit-verify (outside-validity-window)', async (t) => {
  const root = keySigner('kms-root');
  const clock = { nowMs: Date.parse('2026-11-23T10:00:00.000Z') };
  const { signer } = forgedSession(root, clock.nowMs - 2 * HOUR_MS, clock.nowMs - HOUR_MS);
  const { rt, registry } = await delegatedRuntime(t, 'pglite', root, signer, clock);
  await rt.store.append('main', order('order-1'));
  const report = await verdict(rt.db, registry);
  t.like(report.finding, { seq: 2, reason: 'outside-validity-window' });
});

test('a delegation window over 24 hours is refused (invalid-delegation)', async (t) => {
  const root = keySigner('kms-root');
  const clock = { nowMs: Date.parse('2026-11-23T10:00:00.000Z') };
  const { signer } = forgedSession(root, clock.nowMs, clock.nowMs + 25 * HOUR_MS);
  const { rt, registry } = await delegatedRuntime(t, 'pglite', root, signer, clock);
  await rt.store.append('main', order('order-1'));
  t.like((await verdict(rt.db, registry)).finding, { seq: 1, reason: 'invalid-delegation' });
});

test('a delegation may not introduce a kid of the registry (invalid-delegation)', async (t) => {
  const root = keySigner('kms-root');
  const clock = { nowMs: Date.parse('2026-11-23T10:00:00.000Z') };
  const { signer } = forgedSession(root, clock.nowMs, clock.nowMs + HOUR_MS, 'kms-root');
  const { rt, registry } = await delegatedRuntime(t, 'pglite', root, signer, clock);
  await rt.store.append('main', order('order-1'));
  t.like((await verdict(rt.db, registry)).finding, { seq: 1, reason: 'invalid-delegation' });
});

test('a session key never signs a signer.delegated record, and has no authority in a chain it was not delegated in', async (t) => {
  const root = keySigner('kms-root');
  const clock = { nowMs: Date.parse('2026-11-23T10:00:00.000Z') };
  const forged = forgedSession(root, clock.nowMs, clock.nowMs + HOUR_MS);
  const { rt, registry } = await delegatedRuntime(t, 'pglite', root, forged.signer, clock);
  await rt.store.append('main', order('order-1'));
  await rt.store.createChain('other');
  const sessionOnly = new SqlEventStore(rt.db, {
    signer: createKeySigner(forged.kid, forged.sessionKey),
    nowMs: () => clock.nowMs,
  });
  t.teardown(() => sessionOnly.close());
  await sessionOnly.append('other', order('order-2'));
  t.true((await verdict(rt.db, registry, { chains: ['main'] })).ok);
  t.like((await verdict(rt.db, registry, { chains: ['other'] })).finding, {
    chain: 'other',
    seq: 1,
    reason: 'unknown-signer',
  });

  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const data = {
    kid: 'session-child',
    algorithm: 'ed25519',
    public_key_pem: spkiPem(publicKey),
    notBefore: new Date(clock.nowMs).toISOString(),
    notAfter: new Date(clock.nowMs + HOUR_MS).toISOString(),
  };
  void privateKey;
  await sessionOnly.append('main', [
    { stream: 'delegation-main.session-child', type: 'signer.delegated', actor: { id: 'x', role: 'Service' }, data },
  ]);
  t.like((await verdict(rt.db, registry, { chains: ['main'] })).finding, { seq: 3, reason: 'invalid-delegation' });
});

test('a delegation signed by a key outside the registry introduces nothing', async (t) => {
  const root = keySigner('kms-root');
  const stranger = keySigner('stranger');
  const clock = { nowMs: Date.parse('2026-11-23T10:00:00.000Z') };
  const { rt, registry } = await delegatedRuntime(t, 'pglite', root, delegatingSigner(stranger), clock);
  await rt.store.append('main', order('order-1'));
  t.like((await verdict(rt.db, registry)).finding, { seq: 1, reason: 'unknown-signer' });
});
