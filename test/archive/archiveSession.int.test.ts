/**
 * The archive of a chain signed by delegated session keys (docs/FORMAT.md
 * section 4b): an export that starts inside a session finds the session's
 * delegation in the database, and a check of the archive that starts inside
 * one finds it in the archive's earlier batches. Manifests are signed by the
 * registry signer, never by a session key.
 */
import test from 'ava';
import { join } from 'node:path';
import { FolderStore } from '../../infra/adapters/objectStores/folderStore.ts';
import { inProcessChecker } from '../../verifier/inProcessChecker.ts';
import { verify } from '../../verifier/verify.ts';
import { archiveReader, exportTo } from '../helpers/archive.ts';
import { appendMany, sessionSignedRuntime } from '../helpers/signing.ts';

test('a session-signed chain exports in two runs, the second starting inside the session; the archive verifies whole and from a seq inside the session', async (t) => {
  const { rt, root, folder } = await sessionSignedRuntime(t, 'archive-session');
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
