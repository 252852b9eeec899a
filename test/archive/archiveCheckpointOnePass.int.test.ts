/**
 * audit-verify --archive --checkpoint reads the archive once
 * (archive/archiveReader.ts keepRootAt): the root of the checkpoint's size is
 * kept as the verification reads the records, and the checkpoint check
 * uses it without reading a batch again; it is the root the records give,
 * and a line that is no record is named as before.
 */
import test from 'ava';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCheckpointBody, parseNote } from '../../chain/checkpoint.ts';
import type { ObjectStore } from '../../archive/objectStore.ts';
import { FolderStore } from '../../infra/adapters/objectStores/folderStore.ts';
import { checkpointing } from '../../infra/wiring/checkpoints.ts';
import { checkAgainstCheckpoint } from '../../verifier/checkpointCheck.ts';
import { inProcessChecker } from '../../verifier/inProcessChecker.ts';
import { verify } from '../../verifier/verify.ts';
import { archiveReader, exportTo } from '../helpers/archive.ts';
import { appendRecords } from '../helpers/auditorBundle.ts';
import { runCli } from '../helpers/cli.ts';
import { tempDir, testRuntime } from '../helpers/runtime.ts';

/** A folder store that counts the objects read. */
function counting(store: ObjectStore): { store: ObjectStore; reads: () => number } {
  let reads = 0;
  return {
    store: {
      description: store.description,
      list: (prefix, options) => store.list(prefix, options),
      get: (key, maxBytes) => {
        reads++;
        return store.get(key, maxBytes);
      },
      head: (key) => store.head(key),
      putIfAbsent: (key, body, options) => store.putIfAbsent(key, body, options),
    } as ObjectStore,
    reads: () => reads,
  };
}

test('the checkpoint is held to the root the verification kept as it read the archive: no batch is read twice', async (t) => {
  const folder = tempDir('archive-one-pass');
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  const rt = await testRuntime(t, 'pglite');
  await appendRecords(rt, 700);
  const note = (await checkpointing(rt).makeIfDue('main', Date.now()))!;
  const size = parseCheckpointBody(parseNote(note)!.body)!.size;
  t.is(size, 700);
  await appendRecords(rt, 150, 700);
  t.true((await exportTo(rt, new FolderStore(folder), { batchRecords: 200 })).ok);

  const { store, reads } = counting(new FolderStore(folder));
  const reader = await archiveReader(store, rt.registry);
  reader.keepRootAt('main', size);
  const checker = inProcessChecker(rt.registry);
  t.teardown(() => checker.close());
  const report = await verify(reader, checker);
  t.true(report.ok, JSON.stringify(report.finding));
  const afterVerify = reads();
  t.true(afterVerify > 0);
  const kept = reader.rootKept('main', size);
  t.true(kept !== undefined && 'root' in kept);

  const rootKept = (chain: string, keptSize: number) => reader.rootKept(chain, keptSize);
  const once = await checkAgainstCheckpoint(reader, note, { registry: rt.registry, witnesses: [], rootKept });
  t.like(once, { ok: true, size, lastSeq: 850 });
  t.is(reads(), afterVerify, 'no object read again');

  // Without the kept root, the same verdict from a second read of the batches up to the checkpoint.
  const twice = await checkAgainstCheckpoint(reader, note, { registry: rt.registry, witnesses: [] });
  t.deepEqual(twice, once);
  t.true(reads() > afterVerify, 'the second read this change avoids');

  // A root kept at another size is not this checkpoint's: the check uses only the size it asks for.
  t.is(reader.rootKept('main', size + 1), undefined);

  // The command line: the archive verified and held to the checkpoint in one read.
  const noteFile = join(folder, '..', `${size}.checkpoint`);
  writeFileSync(noteFile, note);
  t.teardown(() => rmSync(noteFile, { force: true }));
  const cli = await runCli(['audit-verify', '--archive', folder, '--checkpoint', noteFile, '--threads', '0'], {
    env: { CHAINBOOK_DATA_DIR: rt.dataDir },
  });
  t.is(cli.code, 0, cli.stdout + cli.stderr);
  t.regex(cli.stdout, new RegExp(`checkpoint: OK: main holds the ${size} records of the checkpoint`));
});
