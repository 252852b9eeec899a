/**
 * Rotating ENCRYPTION_MASTER_KEY (README, "Rotating the master key"): `chainbook quarantine rewrap` on
 * PostgreSQL re-wraps every data key under the new key in one transaction, leaves the held objects as they
 * are, runs again harmlessly, and changes nothing when a key is under neither master key.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { CodedError } from '../../../../domain/errors.ts';
import { FolderBlobStore } from '../../../../infra/adapters/objectStores/folderBlobStore.ts';
import { masterKeyId, QuarantineVault } from '../../../../infra/adapters/quarantine/quarantineVault.ts';
import { loadConfig } from '../../../../infra/wiring/config.ts';
import { runCli } from '../../../helpers/cli.ts';
import { openTestDatabase } from '../../../helpers/databases.ts';

async function* once(bytes: Buffer): AsyncIterable<Uint8Array> {
  yield bytes;
}

function objectsOf(folder: string): Map<string, string> {
  const files = readdirSync(folder, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile());
  return new Map(
    files.map((entry) => [
      join(entry.parentPath, entry.name),
      readFileSync(join(entry.parentPath, entry.name)).toString('hex'),
    ]),
  );
}

test('quarantine rewrap moves every data key to the new master key in one transaction, idempotent, objects untouched', async (t) => {
  const database = await openTestDatabase('postgres');
  t.teardown(() => database.drop());
  const folder = mkdtempSync(join(tmpdir(), 'chainbook-rewrap-'));
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  const store = new FolderBlobStore(folder);
  const oldKey = randomBytes(32);
  const newKey = randomBytes(32);
  const before = new QuarantineVault(database.db, store, oldKey, 72);
  const now = Date.now();
  const contents = new Map<string, Buffer>();
  for (let index = 0; index < 5; index += 1) {
    const inspectionId = `i-${index}`;
    contents.set(inspectionId, randomBytes(1000 + index));
    await before.hold(
      {
        inspectionId,
        subject: 'artifact',
        subjectId: `m-${index}`,
        publisherId: 'publisher-1',
        contentType: 'application/octet-stream',
        contentSha256: 'e'.repeat(64),
        createdAtMs: now,
        expiresAtMs: now + 3_600_000,
      },
      once(contents.get(inspectionId)!),
    );
  }
  const objects = objectsOf(folder);
  t.is(objects.size, 5);
  const env = {
    DATABASE_URL: database.location,
    CHAINBOOK_DATA_DIR: mkdtempSync(join(tmpdir(), 'chainbook-rewrap-data-')),
    QUARANTINE_ENABLED: 'true',
    ENCRYPTION_MASTER_KEY: newKey.toString('base64'),
    ENCRYPTION_MASTER_KEY_PREVIOUS: oldKey.toString('base64'),
  };
  t.teardown(() => rmSync(env.CHAINBOOK_DATA_DIR, { recursive: true, force: true }));

  // During the rotation (both keys configured) serve's vault reads the old records.
  const rotating = new QuarantineVault(database.db, store, newKey, 72, oldKey);
  t.deepEqual((await rotating.open('i-1')).content, contents.get('i-1'));
  const newOnly = new QuarantineVault(database.db, store, newKey, 72);
  t.is(((await t.throwsAsync(newOnly.open('i-1'))) as CodedError).code, 'QUARANTINE_KEY_MISMATCH');

  const first = await runCli(['quarantine', 'rewrap'], { env });
  t.is(first.code, 0, first.stderr);
  t.like(JSON.parse(first.stdout), {
    rewrapped: 5,
    alreadyCurrent: 0,
    masterKeyId: masterKeyId(newKey),
    previousMasterKeyId: masterKeyId(oldKey),
  });
  const ids = await database.db.query<{ master_key_id: string }>('SELECT DISTINCT master_key_id FROM encryption_keys');
  t.deepEqual(
    ids.rows.map((row) => row.master_key_id),
    [masterKeyId(newKey)],
  );
  t.deepEqual(objectsOf(folder), objects, 'the objects are not touched');
  for (const [inspectionId, content] of contents)
    t.deepEqual((await newOnly.open(inspectionId)).content, content, 'opens under the new key alone');
  t.is(((await t.throwsAsync(before.open('i-0'))) as CodedError).code, 'QUARANTINE_KEY_MISMATCH');

  const again = await runCli(['quarantine', 'rewrap'], { env });
  t.is(again.code, 0, again.stderr);
  t.like(JSON.parse(again.stdout), { rewrapped: 0, alreadyCurrent: 5 });

  // A key under a third master key: nothing at all is re-wrapped (one transaction), exit 1.
  const stranger = new QuarantineVault(database.db, store, randomBytes(32), 72);
  await stranger.hold(
    {
      inspectionId: 'i-stranger',
      subject: 'listing',
      subjectId: 'l-1',
      publisherId: 'publisher-1',
      contentType: 'text/plain',
      contentSha256: 'f'.repeat(64),
      createdAtMs: now,
      expiresAtMs: now + 3_600_000,
    },
    once(Buffer.from('held under a third key')),
  );
  await before.hold(
    {
      inspectionId: 'i-late',
      subject: 'listing',
      subjectId: 'l-2',
      publisherId: 'publisher-1',
      contentType: 'text/plain',
      contentSha256: 'f'.repeat(64),
      createdAtMs: now,
      expiresAtMs: now + 3_600_000,
    },
    once(Buffer.from('held under the old key after the rewrap')),
  );
  const snapshot = async () =>
    (
      await database.db.query<{ inspection_id: string; master_key_id: string; wrapped_key: Uint8Array }>(
        'SELECT inspection_id, master_key_id, wrapped_key FROM encryption_keys ORDER BY inspection_id',
      )
    ).rows.map((row) => `${row.inspection_id} ${row.master_key_id} ${Buffer.from(row.wrapped_key).toString('hex')}`);
  const keysBefore = await snapshot();
  const refused = await runCli(['quarantine', 'rewrap'], { env });
  t.is(refused.code, 1, refused.stderr);
  t.regex(refused.stderr, /QUARANTINE_KEY_MISMATCH: 1 data key\(s\) are wrapped under neither master key/);
  t.deepEqual(await snapshot(), keysBefore, 'i-late was not re-wrapped either: all or nothing');
});

test('ENCRYPTION_MASTER_KEY_PREVIOUS is accepted only during a rotation: beside a different new key, with quarantine on', (t) => {
  const key = randomBytes(32).toString('base64');
  const previous = randomBytes(32).toString('base64');
  const base = { CHAINBOOK_DATA_DIR: join(tmpdir(), 'chainbook-rewrap-config') };
  t.throws(() => loadConfig({ ...base, ENCRYPTION_MASTER_KEY_PREVIOUS: previous }), {
    message: /ENCRYPTION_MASTER_KEY_PREVIOUS: only during a rotation/,
  });
  t.throws(
    () =>
      loadConfig({
        ...base,
        QUARANTINE_ENABLED: 'true',
        ENCRYPTION_MASTER_KEY: key,
        ENCRYPTION_MASTER_KEY_PREVIOUS: key,
      }),
    { message: /ENCRYPTION_MASTER_KEY_PREVIOUS: is ENCRYPTION_MASTER_KEY itself/ },
  );
  t.throws(
    () =>
      loadConfig({
        ...base,
        QUARANTINE_ENABLED: 'true',
        ENCRYPTION_MASTER_KEY: key,
        ENCRYPTION_MASTER_KEY_PREVIOUS: 'not-a-key',
      }),
    { message: /ENCRYPTION_MASTER_KEY_PREVIOUS: must be base64 of exactly 32 bytes/ },
  );
  const config = loadConfig({
    ...base,
    QUARANTINE_ENABLED: 'true',
    ENCRYPTION_MASTER_KEY: key,
    ENCRYPTION_MASTER_KEY_PREVIOUS: previous,
  });
  t.true(config.content.quarantine.previousMasterKey?.equals(Buffer.from(previous, 'base64')));
});

test('quarantine rewrap exits 1 and keeps the previous key in use when content was held under it while it ran', async (t) => {
  const database = await openTestDatabase('postgres');
  t.teardown(() => database.drop());
  const folder = mkdtempSync(join(tmpdir(), 'chainbook-rewrap-'));
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  const store = new FolderBlobStore(folder);
  const oldKey = randomBytes(32);
  const newKey = randomBytes(32);
  // A process of the rolling deploy that still has the old key as ENCRYPTION_MASTER_KEY.
  const stillOld = new QuarantineVault(database.db, store, oldKey, 72);
  const now = Date.now();
  const hold = (inspectionId: string) =>
    stillOld.hold(
      {
        inspectionId,
        subject: 'listing',
        subjectId: `l-${inspectionId}`,
        publisherId: 'publisher-1',
        contentType: 'text/plain',
        contentSha256: 'f'.repeat(64),
        createdAtMs: now,
        expiresAtMs: now + 3_600_000,
      },
      once(Buffer.from(`held as ${inspectionId}`)),
    );
  await hold('i-before');
  await hold('i-meanwhile');
  // i-meanwhile's key is committed while the rewrap runs: after its read, by the trigger on its update.
  await database.db.query('CREATE TABLE held_meanwhile AS SELECT * FROM encryption_keys WHERE inspection_id = $1', [
    'i-meanwhile',
  ]);
  await database.db.query('DELETE FROM encryption_keys WHERE inspection_id = $1', ['i-meanwhile']);
  await database.db.query(`CREATE FUNCTION hold_meanwhile() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN INSERT INTO encryption_keys SELECT * FROM held_meanwhile ON CONFLICT DO NOTHING; RETURN NULL; END $$`);
  await database.db.query(
    'CREATE TRIGGER hold_meanwhile AFTER UPDATE ON encryption_keys FOR EACH STATEMENT EXECUTE FUNCTION hold_meanwhile()',
  );
  const env = {
    DATABASE_URL: database.location,
    CHAINBOOK_DATA_DIR: mkdtempSync(join(tmpdir(), 'chainbook-rewrap-data-')),
    QUARANTINE_ENABLED: 'true',
    ENCRYPTION_MASTER_KEY: newKey.toString('base64'),
    ENCRYPTION_MASTER_KEY_PREVIOUS: oldKey.toString('base64'),
  };
  t.teardown(() => rmSync(env.CHAINBOOK_DATA_DIR, { recursive: true, force: true }));

  const first = await runCli(['quarantine', 'rewrap'], { env });
  t.is(first.code, 1, first.stderr);
  t.like(JSON.parse(first.stdout), { rewrapped: 1, leftUnderPrevious: 1 });
  t.regex(first.stderr, /1 data key\(s\) were wrapped under ENCRYPTION_MASTER_KEY_PREVIOUS while it ran/);
  t.notRegex(first.stderr, /restart serve without ENCRYPTION_MASTER_KEY_PREVIOUS/);

  const again = await runCli(['quarantine', 'rewrap'], { env });
  t.is(again.code, 0, again.stderr);
  t.like(JSON.parse(again.stdout), { rewrapped: 1, alreadyCurrent: 1, leftUnderPrevious: 0 });
  const newOnly = new QuarantineVault(database.db, store, newKey, 72);
  t.deepEqual((await newOnly.open('i-meanwhile')).content, Buffer.from('held as i-meanwhile'));
});
