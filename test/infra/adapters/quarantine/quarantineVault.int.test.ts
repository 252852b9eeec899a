/**
 * The encrypted quarantine (infra/adapters/quarantine/quarantineVault.ts) over
 * the S3-compatible server and a real PostgreSQL: ciphertext at rest, opened
 * only under the right master key and only when its GCM tag checks, and
 * shredded for good.
 */
import { randomBytes } from 'node:crypto';
import test from 'ava';
import { S3BlobStore } from '../../../../infra/adapters/objectStores/s3BlobStore.ts';
import { objectKeyOf, QuarantineVault } from '../../../../infra/adapters/quarantine/quarantineVault.ts';
import type { BlobStore } from '../../../../commands/blobStore.ts';
import type { CodedError } from '../../../../domain/errors.ts';
import type { SqlDatabase } from '../../../../infra/adapters/sql/sql.ts';
import { errorResponse } from '../../../../infra/entrypoints/http/errors.ts';
import { startS3 } from '../../../helpers/archive.ts';
import { openTestDatabase } from '../../../helpers/databases.ts';
import { pemPrivateKey } from '../../../helpers/hostileContent.ts';

async function* once(bytes: Buffer): AsyncIterable<Uint8Array> {
  yield bytes;
}

async function raw(store: S3BlobStore, key: string): Promise<Buffer | undefined> {
  const body = await store.get(key);
  if (!body) return undefined;
  const parts: Uint8Array[] = [];
  for await (const part of body) parts.push(part);
  return Buffer.concat(parts);
}

test('on S3: the held object is ciphertext, opens only under its master key, a flipped byte is refused, shredding leaves nothing', async (t) => {
  const database = await openTestDatabase('postgres');
  t.teardown(() => database.drop());
  const s3 = await startS3(t);
  const store = new S3BlobStore(s3.client, { bucket: s3.bucket, prefix: 'held' }, 64 * 1024);
  const masterKey = randomBytes(32);
  const vault = new QuarantineVault(database.db, store, masterKey, 72);
  const secret = Buffer.from(`release notes\n${pemPrivateKey()}\n${'x'.repeat(200_000)}`);
  const now = Date.now();
  const record = {
    inspectionId: 'i-1',
    subject: 'artifact' as const,
    subjectId: 'm-1',
    publisherId: 'publisher-1',
    contentType: 'application/octet-stream',
    contentSha256: 'a'.repeat(64),
    createdAtMs: now,
    expiresAtMs: now + 3_600_000,
  };
  t.deepEqual(await vault.hold(record, once(secret)), { sizeBytes: secret.length });
  const atRest = (await raw(store, objectKeyOf('i-1')))!;
  t.is(atRest.length, secret.length + 16, 'ciphertext and the GCM tag');
  for (const part of ['release notes', 'PRIVATE KEY', 'x'.repeat(64)])
    t.false(atRest.includes(Buffer.from(part)), `no plaintext: ${part.slice(0, 20)}`);
  const { rows } = await database.db.query<{ wrapped_key: Uint8Array }>('SELECT wrapped_key FROM encryption_keys');
  t.is(Buffer.from(rows[0]!.wrapped_key).length, 12 + 32 + 16);
  t.true((await vault.open('i-1')).content.equals(secret));
  const other = new QuarantineVault(database.db, store, randomBytes(32), 72);
  const wrong = await t.throwsAsync(other.open('i-1'));
  t.is((wrong as CodedError).code, 'QUARANTINE_KEY_MISMATCH');
  // Tampered in the bucket: one byte flipped, written back.
  const flipped = Buffer.from(atRest);
  flipped[flipped.length - 20] = flipped[flipped.length - 20]! ^ 1;
  await store.delete(objectKeyOf('i-1'));
  await store.put(objectKeyOf('i-1'), once(flipped));
  const tampered = await t.throwsAsync(vault.open('i-1'));
  t.is((tampered as CodedError).code, 'QUARANTINE_TAMPERED');
  t.like(await vault.stats(now), { heldBytes: secret.length, heldRecords: 1, expiredBacklog: 0 });
  t.like(await vault.stats(now + 2 * 3_600_000), { expiredBacklog: 1 });
  t.deepEqual(await vault.expired(now + 2 * 3_600_000, 10), ['i-1']);
  await vault.shred('i-1', 'expired', 'quarantine-expiry', now + 2 * 3_600_000);
  t.is(await raw(store, objectKeyOf('i-1')), undefined);
  t.is((await database.db.query('SELECT * FROM encryption_keys')).rows.length, 0);
  t.like(await vault.record('i-1'), { status: 'expired', stored: false });
  const gone = await t.throwsAsync(vault.open('i-1'));
  t.is((gone as CodedError).code, 'QUARANTINE_CONTENT_GONE');
  await t.notThrowsAsync(vault.check());
});

test('a shred whose object delete fails has already deleted the wrapped key; the expiry pass deletes the object later', async (t) => {
  const database = await openTestDatabase('postgres');
  t.teardown(() => database.drop());
  const s3 = await startS3(t);
  const store = new S3BlobStore(s3.client, { bucket: s3.bucket, prefix: 'held' }, 64 * 1024);
  let deletes = 'fail';
  const flaky: BlobStore = {
    description: 'a store whose deletes fail',
    put: (key, body) => store.put(key, body),
    get: (key) => store.get(key),
    head: (key) => store.head(key),
    delete: async (key) => {
      if (deletes === 'fail') throw new Error('the store is down');
      await store.delete(key);
    },
  };
  const vault = new QuarantineVault(database.db, flaky, randomBytes(32), 72);
  const now = Date.now();
  await vault.hold(
    {
      inspectionId: 'i-2',
      subject: 'listing',
      subjectId: 'l-1',
      publisherId: 'publisher-1',
      contentType: 'text/plain',
      contentSha256: 'b'.repeat(64),
      createdAtMs: now,
      expiresAtMs: now + 3_600_000,
    },
    once(Buffer.from('held text')),
  );
  await t.throwsAsync(vault.shred('i-2', 'deleted', 'operator-1', now), { message: /the store is down/ });
  // A moderator's delete holds although the store failed: no key, not held, not viewable.
  t.is((await database.db.query('SELECT * FROM encryption_keys')).rows.length, 0);
  t.like(await vault.record('i-2'), { status: 'deleted', stored: true, decidedBy: 'operator-1' });
  t.is(((await t.throwsAsync(vault.open('i-2'))) as CodedError).code, 'QUARANTINE_CONTENT_GONE');
  t.deepEqual(await vault.expired(now, 10), ['i-2'], 'the object is left for the next expiry pass');
  deletes = 'work';
  await vault.shred('i-2', 'deleted', 'operator-1', now);
  t.is(await raw(store, objectKeyOf('i-2')), undefined);
  t.like(await vault.record('i-2'), { status: 'deleted', stored: false, decidedBy: 'operator-1' });
  t.deepEqual(await vault.expired(now, 10), []);
});

test('a discard whose object delete fails has already deleted the wrapped key and the record: nothing readable, nothing listed', async (t) => {
  const database = await openTestDatabase('postgres');
  t.teardown(() => database.drop());
  const s3 = await startS3(t);
  const store = new S3BlobStore(s3.client, { bucket: s3.bucket, prefix: 'held' }, 64 * 1024);
  const flaky: BlobStore = {
    description: 'a store whose deletes fail',
    put: (key, body) => store.put(key, body),
    get: (key) => store.get(key),
    head: (key) => store.head(key),
    delete: async () => {
      throw new Error('the store is down');
    },
  };
  const vault = new QuarantineVault(database.db, flaky, randomBytes(32), 72);
  const now = Date.now();
  await vault.hold(
    {
      inspectionId: 'i-3',
      subject: 'manifest',
      subjectId: 'm-3',
      publisherId: 'publisher-1',
      contentType: 'application/json',
      contentSha256: 'c'.repeat(64),
      createdAtMs: now,
      expiresAtMs: now + 3_600_000,
    },
    once(Buffer.from('{"name":"held"}')),
  );
  await t.throwsAsync(vault.discard('i-3'), { message: /the store is down/ });
  t.is((await database.db.query('SELECT * FROM encryption_keys')).rows.length, 0);
  t.is(await vault.record('i-3'), undefined);
  t.deepEqual(await vault.list('held', 10), []);
});

/** The database as the vault sees it, but a shred runs right after the wrapped key is read (the race to close). */
function shredAfterKeyRead(db: SqlDatabase, shred: () => Promise<void>): SqlDatabase {
  let armed = true;
  return new Proxy(db, {
    get(target, property) {
      if (property === 'query')
        return async (sql: string, params?: unknown[]) => {
          const result = await target.query(sql, params);
          if (armed && /SELECT wrapped_key/.test(sql)) {
            armed = false;
            await shred();
          }
          return result;
        };
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

test('content shredded between the reads of a view answers 410 QUARANTINE_CONTENT_GONE in the error format, never 500 or "tampered"', async (t) => {
  const database = await openTestDatabase('postgres');
  t.teardown(() => database.drop());
  const s3 = await startS3(t);
  const store = new S3BlobStore(s3.client, { bucket: s3.bucket, prefix: 'held' }, 64 * 1024);
  const masterKey = randomBytes(32);
  const moderator = new QuarantineVault(database.db, store, masterKey, 72);
  const now = Date.now();
  const hold = (inspectionId: string) =>
    moderator.hold(
      {
        inspectionId,
        subject: 'listing',
        subjectId: `l-${inspectionId}`,
        publisherId: 'publisher-1',
        contentType: 'text/plain',
        contentSha256: 'd'.repeat(64),
        createdAtMs: now,
        expiresAtMs: now + 3_600_000,
      },
      once(Buffer.from(`held text of ${inspectionId}`)),
    );
  const expectGone = async (opening: Promise<unknown>) => {
    const error = await t.throwsAsync(opening);
    t.is((error as CodedError).code, 'QUARANTINE_CONTENT_GONE', String(error));
    const response = errorResponse(error, 'request-1');
    t.is(response.status, 410);
    t.like(response.body.error, { code: 'QUARANTINE_CONTENT_GONE' });
  };

  // A shred (a moderator's delete) lands right after the viewer read the wrapped key.
  await hold('i-4');
  const racing = new QuarantineVault(
    shredAfterKeyRead(database.db, () => moderator.shred('i-4', 'deleted', 'operator-1', now)),
    store,
    masterKey,
    72,
  );
  await expectGone(racing.open('i-4'));

  // The store cuts the object's stream because it is deleted while it is being read.
  await hold('i-5');
  const cut: BlobStore = {
    description: 'a store whose object goes while it is read',
    put: (key, body) => store.put(key, body),
    head: (key) => store.head(key),
    delete: (key) => store.delete(key),
    get: async () => {
      await moderator.shred('i-5', 'expired', 'quarantine-expiry', now);
      return (async function* () {
        yield new Uint8Array(4);
        throw new Error('NoSuchKey: the object was deleted');
      })();
    },
  };
  await expectGone(new QuarantineVault(database.db, cut, masterKey, 72).open('i-5'));

  // Still held and the object missing: that is tampering, as before.
  await hold('i-6');
  await store.delete(objectKeyOf('i-6'));
  const missing = await t.throwsAsync(moderator.open('i-6'));
  t.is((missing as CodedError).code, 'QUARANTINE_TAMPERED');
});
