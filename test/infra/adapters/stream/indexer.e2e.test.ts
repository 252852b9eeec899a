/**
 * The verifying indexer, fed by a real GET /chain/stream on PostgreSQL,
 * writing to a PostgreSQL database of its own and to the S3-compatible server:
 * every record indexed once with its exact text as an object, a restart goes on
 * where it stopped, and a record changed in the source stops it at its seq.
 */
import { appendQuotes } from '../../../helpers/quotes.ts';
import test from 'ava';
import { eventObjectKey, runIndexer } from '../../../../infra/adapters/stream/indexer.ts';
import { openPostgres } from '../../../../infra/adapters/sql/postgres.ts';
import { startS3 } from '../../../helpers/archive.ts';
import { runCli } from '../../../helpers/cli.ts';
import { createPostgresDatabase } from '../../../helpers/databases.ts';
import { testServer } from '../../../helpers/http.ts';

test('the indexer verifies and indexes every record once, writes its object, resumes where it stopped, and stops at a changed record', async (t) => {
  const server = await testServer(t);
  await appendQuotes(server.app.runtime.store, 0, 250);
  const index = await createPostgresDatabase();
  const db = openPostgres(index.url, { poolSize: 2 });
  t.teardown(async () => {
    await db.close();
    await index.drop();
  });
  const s3 = await startS3(t, 'indexer');
  const options = {
    source: { url: server.url, token: server.tokens.auditor, chain: 'main' },
    registry: server.services.registry,
    db,
    objects: { store: s3.store, mode: 'GOVERNANCE' as const, retentionDays: 1 },
  };
  t.deepEqual(await runIndexer({ ...options, untilSeq: 250 }), { lastSeq: 250 });
  const rows = async () =>
    (
      await db.query<{ seq: number; hash: string; id: string; ts: string }>(
        'SELECT seq, hash, id, ts FROM audit_index ORDER BY seq',
      )
    ).rows;
  const indexed = await rows();
  t.deepEqual(
    indexed.map((row) => Number(row.seq)),
    Array.from({ length: 250 }, (_, i) => i + 1),
  );
  const sources = await server.app.runtime.store.readChain('main', { fromSeq: 1, limit: 250 });
  for (const stored of [sources[0]!, sources[123]!, sources[249]!]) {
    const object = await s3.store.get(eventObjectKey(stored.record.ts, stored.record.id), 1 << 20);
    t.is(Buffer.from(object!).toString('utf8'), stored.text, `seq ${stored.record.seq}: its exact JCS text`);
  }

  // A restart goes on after the last row; an object already there without its row (a stop between the two) is checked.
  await appendQuotes(server.app.runtime.store, 250, 50);
  await db.query('DELETE FROM audit_index WHERE seq = 250');
  t.deepEqual(await runIndexer({ ...options, untilSeq: 300 }), { lastSeq: 300 });
  t.deepEqual(
    (await rows()).map((row) => Number(row.seq)),
    Array.from({ length: 300 }, (_, i) => i + 1),
  );

  // A record changed in the source after it was signed: the indexer stops there, nothing of it indexed.
  await appendQuotes(server.app.runtime.store, 300, 10);
  await server.test.superuser('UPDATE events SET record = replace(record, \'"n":304\', \'"n":305\') WHERE seq = 305');
  const error = await t.throwsAsync(runIndexer({ ...options, untilSeq: 310 }));
  t.regex(error!.message, /at seq 305: its hash does not recompute/);
  t.is(Math.max(...(await rows()).map((row) => Number(row.seq))), 304);

  // The CLI runs the same indexer (index rows only here), the token from the environment.
  const cliIndex = await createPostgresDatabase();
  t.teardown(() => cliIndex.drop());
  const signers = `${server.services.config.dataDir}/signers.json`;
  const cli = await runCli(
    [
      'index',
      '--from-url',
      server.url,
      '--index-database-url',
      cliIndex.url,
      '--until-seq',
      '40',
      '--signers',
      signers,
    ],
    { env: { CHAINBOOK_STREAM_TOKEN: server.tokens.auditor, CHAINBOOK_DATA_DIR: server.services.config.dataDir } },
  );
  t.is(cli.code, 0, cli.stdout + cli.stderr);
  t.regex(cli.stderr, /indexed main up to seq 40/);
  const refused = await runCli(['index', '--from-url', server.url, '--index-database-url', cliIndex.url], {
    env: { CHAINBOOK_DATA_DIR: server.services.config.dataDir },
  });
  t.is(refused.code, 2, 'no token in the environment: a usage error');
});

test('a follower whose source ends the stream (a restart) follows again instead of stopping; only its own signal stops it', async (t) => {
  const server = await testServer(t);
  await appendQuotes(server.app.runtime.store, 0, 20);
  const index = await createPostgresDatabase();
  const db = openPostgres(index.url, { poolSize: 2 });
  t.teardown(async () => {
    await db.close();
    await index.drop();
  });
  const controller = new AbortController();
  let indexedTo = 0;
  let settled = false;
  const following = runIndexer({
    source: { url: server.url, token: server.tokens.auditor, chain: 'main' },
    registry: server.services.registry,
    db,
    signal: controller.signal,
    reconnectMs: 100,
    onIndexed: (seq) => (indexedTo = seq),
  }).finally(() => (settled = true));
  while (indexedTo < 20) await new Promise((resolve) => setTimeout(resolve, 20));
  server.services.streams.stop(); // the source ends every stream, as at its shutdown
  await new Promise((resolve) => setTimeout(resolve, 1500));
  t.false(settled, 'still following after the source ended its stream');
  controller.abort();
  t.deepEqual(await following, { lastSeq: 20 });
});
