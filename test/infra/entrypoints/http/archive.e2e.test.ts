/** Auditor exports over HTTP: the archive's batches and their signed manifests, read-only. */
import test from 'ava';
import { rmSync } from 'node:fs';
import { runDemoWorkload } from '../../../../commands/demo/demoWorkload.ts';
import { runCli } from '../../../helpers/cli.ts';
import { testServer } from '../../../helpers/http.ts';
import { tempDir } from '../../../helpers/runtime.ts';

test('an auditor lists the archive batches of a chain, paged, and reads each signed manifest; others are refused', async (t) => {
  const folder = tempDir('http-archive');
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  const server = await testServer(t, { env: { ARCHIVE_TARGET: folder, ARCHIVE_SERVICE: 'finance' } });
  const empty = await server.request('GET', '/archive/batches', { as: 'auditor' });
  t.is(empty.status, 404);
  t.is(empty.body.error.code, 'ARCHIVE_EMPTY');

  await runDemoWorkload(server.app.deps, 3, () => undefined);
  const env = {
    DATABASE_URL: server.test.location,
    CHAINBOOK_DATA_DIR: server.services.config.dataDir,
    ARCHIVE_TARGET: folder,
    ARCHIVE_SERVICE: 'finance',
  };
  const exported = await runCli(['export', '--batch-records', '10', '--threads', '0'], { env });
  t.is(exported.code, 0, exported.stderr);

  const first = await server.request('GET', '/archive/batches?limit=2', { as: 'auditor' });
  t.is(first.status, 200, first.text);
  t.is(first.body.service, 'finance');
  t.deepEqual(
    first.body.items.map((batch: { fromSeq: number; toSeq: number }) => [batch.fromSeq, batch.toSeq]),
    [
      [1, 10],
      [11, 20],
    ],
  );
  const rest = await server.request('GET', `/archive/batches?after=${first.body.next as string}`, { as: 'auditor' });
  t.is(rest.body.items[0].fromSeq, 21);
  const manifest = await server.request(
    'GET',
    `/archive/manifest?key=${encodeURIComponent(first.body.items[0].manifestKey as string)}`,
    {
      as: 'auditor',
    },
  );
  t.is(manifest.status, 200, manifest.text);
  t.like(manifest.body, { from_seq: 1, to_seq: 10, chain: 'main' });
  t.is(typeof manifest.body.signature, 'string');
  t.is((await server.request('GET', '/archive/manifest?key=finance/x.json', { as: 'auditor' })).status, 400);
  t.is((await server.request('GET', '/archive/batches', { as: 'publisher' })).status, 403);
  t.is((await server.request('GET', '/archive/batches', { as: 'buyer' })).status, 403);
});
