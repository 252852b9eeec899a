/**
 * The archive of a chain signed by delegated session keys (docs/FORMAT.md
 * section 4b): an export that starts inside a session finds the session's
 * delegation in the database, and a check of the archive that starts inside
 * one finds it in the archive's earlier batches. Manifests are signed by the
 * registry signer, never by a session key.
 */
import test from 'ava';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { FolderStore } from '../../infra/adapters/objectStores/folderStore.ts';
import type { BackendSigner } from '../../infra/adapters/signers/backend.ts';
import { createKeySigner } from '../../infra/adapters/signers/local.ts';
import { delegatingSigner } from '../../infra/adapters/signers/session.ts';
import { inProcessChecker } from '../../verifier/inProcessChecker.ts';
import { verify } from '../../verifier/verify.ts';
import { archiveReader, exportTo } from '../helpers/archive.ts';
import { registryEntry } from '../helpers/keys.ts';
import { tempDir, testRuntime } from '../helpers/runtime.ts';
import { appendMany, writeRegistry } from '../helpers/signing.ts';

test('a session-signed chain exports in two runs, the second starting inside the session; the archive verifies whole and from a seq inside the session', async (t) => {
  const privateKey = generateKeyPairSync('ed25519').privateKey;
  const root: BackendSigner = {
    ...createKeySigner('kms-root', privateKey),
    publicKey: createPublicKey(privateKey),
    description: 'test root key',
  };
  const folder = tempDir('archive-session');
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  const signersPath = join(folder, 'signers.json');
  writeRegistry(signersPath, [registryEntry(root.kid, 'ed25519', root.publicKey!)]);
  const rt = await testRuntime(t, 'pglite', {
    signer: delegatingSigner(root, { lifetimeMs: 4 * 3_600_000 }),
    env: { CHAINBOOK_SIGNERS: signersPath },
  });
  const store = new FolderStore(join(folder, 'archive'));
  await appendMany((chain, events) => rt.store.append(chain, events), 30, 4);
  const first = await exportTo(rt, store);
  t.true(first.ok, JSON.stringify(first.finding));
  await appendMany((chain, events) => rt.store.append(chain, events), 30, 4);
  const second = await exportTo(rt, store);
  t.true(second.ok, JSON.stringify(second.finding));
  t.true(second.chains[0]!.archivedSeq > 1, 'the second run starts after seq 1, inside the session');

  const whole = await verify(await archiveReader(store, rt.registry), inProcessChecker(rt.registry));
  t.true(whole.ok, JSON.stringify(whole.finding));
  const records = (await rt.store.readChain('main', { limit: 1000 })).map(({ record }) => record);
  t.is(records[0]!.type, 'signer.delegated');
  t.true(
    records.slice(1).every((record) => record.sig.kid !== root.kid),
    'records after the delegation are signed by the session key',
  );
  const fromInside = await verify(await archiveReader(store, rt.registry), inProcessChecker(rt.registry), {
    fromSeq: 45,
  });
  t.true(fromInside.ok, JSON.stringify(fromInside.finding));
  t.like(fromInside.chains[0], { fromSeq: 45 });
});
