/**
 * The encrypted quarantine (docs/DOMAIN.md, "Content inspection"). Each held
 * submission is encrypted with a fresh AES-256-GCM data key (a 12-byte IV, the
 * inspection id as additional data, so an object moved under another record
 * does not decrypt) and stored as ciphertext followed by the 16-byte tag in
 * the quarantine store: an S3 bucket (QUARANTINE_S3_BUCKET) or a folder of
 * the data directory. The data key is wrapped with AES-256-GCM under
 * ENCRYPTION_MASTER_KEY and kept in `encryption_keys`; the metadata in
 * `quarantine_records` (migration 0012).
 *
 * Shredding deletes the wrapped key, then the object: the content cannot be
 * recovered afterwards, from a backup of the bucket either, because the only
 * copy of the data key is gone.
 *
 * Reading back decrypts the whole object and checks the tag before a byte is
 * returned: a tampered object (or a wrong master key) is reported, never
 * served. Content shredded before or while it is read (a moderator's delete,
 * the expiry job) is QUARANTINE_CONTENT_GONE (410), never a 500 nor a false
 * report of tampering: the key and IV are read in one statement, and a
 * missing or unreadable object is checked against the record again.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { BlobStore } from '../../../commands/blobStore.ts';
import type { QuarantineHold, QuarantineStore } from '../../../commands/content/screenContent.ts';
import type { ContentSubject } from '../../../commands/content/inspector.ts';
import { CodedError } from '../../../domain/errors.ts';
import type { SqlDatabase } from '../sql/sql.ts';

const ALGORITHM = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const KEY_WRAP_CONTEXT = 'chainbook-quarantine-data-key';
/** Rows one expiry pass takes (docs/STYLE.md rule 7). */
export const MAX_EXPIRY_BATCH = 100;
/** Data keys one `quarantine rewrap` re-wraps in its one transaction (docs/STYLE.md rule 7): the quarantine holds days, not millions. */
export const MAX_REWRAP_KEYS = 100_000;
/** The largest quarantined object a moderator may view (decrypted in memory, checked before it is served). */
export const MAX_VIEW_BYTES = 256 * 1024 ** 2;

export type QuarantineStatus = 'held' | 'released' | 'deleted' | 'expired';

export interface QuarantineRecord {
  inspectionId: string;
  subject: ContentSubject;
  subjectId: string;
  publisherId: string;
  contentType: string;
  sizeBytes: number;
  status: QuarantineStatus;
  /** False once shredded. */
  stored: boolean;
  createdAt: string;
  expiresAt: string;
  decidedBy: string | null;
}

interface RecordRow {
  inspection_id: string;
  subject: ContentSubject;
  subject_id: string;
  publisher_id: string;
  content_type: string;
  size_bytes: number;
  status: QuarantineStatus;
  object_key: string | null;
  created_at: Date | string;
  expires_at: Date | string;
  decided_by: string | null;
}

const RECORD_COLUMNS = `inspection_id, subject, subject_id, publisher_id, content_type, size_bytes, status, object_key,
  created_at, expires_at, decided_by`;

function iso(value: Date | string): string {
  return new Date(value).toISOString();
}

function recordOf(row: RecordRow): QuarantineRecord {
  return {
    inspectionId: row.inspection_id,
    subject: row.subject,
    subjectId: row.subject_id,
    publisherId: row.publisher_id,
    contentType: row.content_type,
    sizeBytes: Number(row.size_bytes),
    status: row.status,
    stored: row.object_key !== null,
    createdAt: iso(row.created_at),
    expiresAt: iso(row.expires_at),
    decidedBy: row.decided_by,
  };
}

/** ENCRYPTION_MASTER_KEY: base64 of exactly 32 bytes; undefined when it is not. */
export function parseMasterKey(text: string | undefined): Buffer | undefined {
  if (text === undefined || !/^[A-Za-z0-9+/]{43}=$/.test(text.trim())) return undefined;
  const key = Buffer.from(text.trim(), 'base64');
  return key.length === KEY_BYTES ? key : undefined;
}

/** A fingerprint of the master key (not the key): recorded with each wrapped key. */
export function masterKeyId(masterKey: Buffer): string {
  return createHash('sha256').update(KEY_WRAP_CONTEXT).update(masterKey).digest('hex').slice(0, 16);
}

function wrap(masterKey: Buffer, dataKey: Buffer, inspectionId: string): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv(ALGORITHM, masterKey, iv);
  cipher.setAAD(Buffer.from(`${KEY_WRAP_CONTEXT}\n${inspectionId}`, 'utf8'));
  return Buffer.concat([iv, cipher.update(dataKey), cipher.final(), cipher.getAuthTag()]);
}

function unwrap(masterKey: Buffer, wrapped: Buffer, inspectionId: string): Buffer {
  const decipher = createDecipheriv(ALGORITHM, masterKey, wrapped.subarray(0, IV_BYTES));
  decipher.setAAD(Buffer.from(`${KEY_WRAP_CONTEXT}\n${inspectionId}`, 'utf8'));
  decipher.setAuthTag(wrapped.subarray(wrapped.length - TAG_BYTES));
  return Buffer.concat([decipher.update(wrapped.subarray(IV_BYTES, wrapped.length - TAG_BYTES)), decipher.final()]);
}

async function* encrypted(
  content: AsyncIterable<Uint8Array>,
  dataKey: Buffer,
  iv: Buffer,
  inspectionId: string,
  counted: { sizeBytes: number },
): AsyncIterable<Uint8Array> {
  const cipher = createCipheriv(ALGORITHM, dataKey, iv);
  cipher.setAAD(Buffer.from(inspectionId, 'utf8'));
  for await (const chunk of content) {
    counted.sizeBytes += chunk.byteLength;
    yield cipher.update(chunk);
  }
  yield Buffer.concat([cipher.final(), cipher.getAuthTag()]);
}

export function objectKeyOf(inspectionId: string): string {
  return `quarantine/${inspectionId}`;
}

export class QuarantineVault implements QuarantineStore {
  readonly expiryHours: number;
  readonly store: BlobStore;
  readonly #db: SqlDatabase;
  readonly #masterKey: Buffer;
  readonly #masterKeyId: string;

  readonly #previousMasterKey: Buffer | undefined;

  /**
   * `previousMasterKey` (ENCRYPTION_MASTER_KEY_PREVIOUS, during a rotation only): data keys still wrapped
   * under it are unwrapped with it; nothing is ever wrapped under it.
   */
  constructor(db: SqlDatabase, store: BlobStore, masterKey: Buffer, expiryHours: number, previousMasterKey?: Buffer) {
    if (masterKey.length !== KEY_BYTES) throw new Error('assertion failed: the master key is 32 bytes');
    if (previousMasterKey !== undefined && previousMasterKey.length !== KEY_BYTES)
      throw new Error('assertion failed: the previous master key is 32 bytes');
    this.#db = db;
    this.store = store;
    this.#masterKey = masterKey;
    this.#masterKeyId = masterKeyId(masterKey);
    this.#previousMasterKey = previousMasterKey;
    this.expiryHours = expiryHours;
  }

  async hold(record: QuarantineHold, content: AsyncIterable<Uint8Array>): Promise<{ sizeBytes: number }> {
    const dataKey = randomBytes(KEY_BYTES);
    const iv = randomBytes(IV_BYTES);
    const objectKey = objectKeyOf(record.inspectionId);
    const counted = { sizeBytes: 0 };
    await this.store.put(objectKey, encrypted(content, dataKey, iv, record.inspectionId, counted));
    try {
      await this.#db.transaction(async (tx) => {
        await tx.query(
          `INSERT INTO quarantine_records (inspection_id, subject, subject_id, publisher_id, content_type, content_sha256,
             size_bytes, object_key, status, created_at, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'held', $9, $10)`,
          [
            record.inspectionId,
            record.subject,
            record.subjectId,
            record.publisherId,
            record.contentType.slice(0, 255),
            record.contentSha256,
            counted.sizeBytes,
            objectKey,
            new Date(record.createdAtMs).toISOString(),
            new Date(record.expiresAtMs).toISOString(),
          ],
        );
        await tx.query(
          `INSERT INTO encryption_keys (inspection_id, wrapped_key, master_key_id, content_iv, created_at)
           VALUES ($1, $2, $3, $4, $5)`,
          [
            record.inspectionId,
            wrap(this.#masterKey, dataKey, record.inspectionId),
            this.#masterKeyId,
            iv,
            new Date(record.createdAtMs).toISOString(),
          ],
        );
      });
    } catch (error) {
      await this.store.delete(objectKey).catch(() => undefined);
      throw error;
    } finally {
      dataKey.fill(0);
    }
    return { sizeBytes: counted.sizeBytes };
  }

  /** The key and the record first: an object the store then fails to delete is ciphertext nobody can read. */
  async discard(inspectionId: string): Promise<void> {
    await this.#db.transaction(async (tx) => {
      await tx.query('DELETE FROM encryption_keys WHERE inspection_id = $1', [inspectionId]);
      await tx.query('DELETE FROM quarantine_records WHERE inspection_id = $1', [inspectionId]);
    });
    await this.store.delete(objectKeyOf(inspectionId));
  }

  async claimRelease(
    subject: ContentSubject,
    publisherId: string,
    contentSha256: string,
    atMs: number,
  ): Promise<string | undefined> {
    // release_used_at IS NULL again in the outer WHERE: a concurrent claim of the same row re-checks it and gets none.
    const { rows } = await this.#db.query<{ inspection_id: string }>(
      `UPDATE quarantine_records SET release_used_at = $4
       WHERE release_used_at IS NULL AND inspection_id = (
         SELECT inspection_id FROM quarantine_records
         WHERE status = 'released' AND subject = $1 AND publisher_id = $2 AND content_sha256 = $3
           AND release_used_at IS NULL
         ORDER BY inspection_id LIMIT 1 FOR UPDATE SKIP LOCKED)
       RETURNING inspection_id`,
      [subject, publisherId, contentSha256, new Date(atMs).toISOString()],
    );
    return rows[0]?.inspection_id;
  }

  async record(inspectionId: string): Promise<QuarantineRecord | undefined> {
    const { rows } = await this.#db.query<RecordRow>(
      `SELECT ${RECORD_COLUMNS} FROM quarantine_records WHERE inspection_id = $1`,
      [inspectionId],
    );
    return rows[0] && recordOf(rows[0]);
  }

  /** Records by status, oldest first, after `after` (an inspection id), at most `limit`. */
  async list(status: QuarantineStatus, limit: number, after = ''): Promise<QuarantineRecord[]> {
    const { rows } = await this.#db.query<RecordRow>(
      `SELECT ${RECORD_COLUMNS} FROM quarantine_records WHERE status = $1 AND inspection_id > $2
       ORDER BY inspection_id LIMIT $3`,
      [status, after, limit],
    );
    return rows.map(recordOf);
  }

  /**
   * The plaintext of a held record, only once the GCM tags of the wrapped key
   * and of the object both check. QUARANTINE_TAMPERED when the object fails,
   * QUARANTINE_KEY_MISMATCH when the master key is not the one that wrapped it.
   */
  async open(inspectionId: string): Promise<{ record: QuarantineRecord; content: Buffer }> {
    const record = await this.record(inspectionId);
    if (record === undefined) throw new CodedError('CONTENT_NOT_FOUND', `no quarantined content ${inspectionId}`);
    if (record.status !== 'held' || !record.stored) throw gone(inspectionId, record.status);
    if (record.sizeBytes > MAX_VIEW_BYTES)
      throw new CodedError(
        'QUARANTINE_TOO_LARGE_TO_VIEW',
        `content of more than ${MAX_VIEW_BYTES} bytes is not viewed`,
      );
    const { dataKey, iv } = await this.#dataKey(inspectionId);
    try {
      const sealed = await this.#sealed(record);
      return { record, content: decrypted(inspectionId, dataKey, iv, sealed) };
    } finally {
      dataKey.fill(0);
    }
  }

  /**
   * The object's bytes, bounded by the recorded size. An object that is missing or cannot be read is a
   * shred that came between the reads when the record no longer says held; else it was tampered with.
   */
  async #sealed(record: QuarantineRecord): Promise<Buffer> {
    const { inspectionId } = record;
    let sealed: Buffer | undefined;
    let failure: unknown;
    try {
      sealed = await this.#read(record);
    } catch (error) {
      if (error instanceof CodedError) throw error;
      failure = error;
    }
    if (sealed !== undefined) return sealed;
    const now = await this.record(inspectionId);
    if (now === undefined || now.status !== 'held' || !now.stored) throw gone(inspectionId, now?.status ?? 'deleted');
    if (failure !== undefined) throw failure;
    throw new CodedError('QUARANTINE_TAMPERED', `the object of ${inspectionId} is missing`, { inspectionId });
  }

  async #read(record: QuarantineRecord): Promise<Buffer | undefined> {
    const { inspectionId } = record;
    const body = await this.store.get(objectKeyOf(inspectionId));
    if (body === undefined) return undefined;
    const chunks: Buffer[] = [];
    let bytes = 0;
    for await (const chunk of body) {
      bytes += chunk.byteLength;
      if (bytes > record.sizeBytes + TAG_BYTES) throw tampered(inspectionId, 'it is longer than recorded');
      chunks.push(Buffer.from(chunk));
    }
    const sealed = Buffer.concat(chunks);
    if (sealed.length !== record.sizeBytes + TAG_BYTES)
      throw tampered(inspectionId, 'its length is not the recorded one');
    return sealed;
  }

  /** The data key, unwrapped, and the content's IV: one row, read once (a shred cannot come between them). */
  async #dataKey(inspectionId: string): Promise<{ dataKey: Buffer; iv: Buffer }> {
    const { rows } = await this.#db.query<{ wrapped_key: Uint8Array; master_key_id: string; content_iv: Uint8Array }>(
      'SELECT wrapped_key, master_key_id, content_iv FROM encryption_keys WHERE inspection_id = $1',
      [inspectionId],
    );
    const row = rows[0];
    if (row === undefined) throw gone(inspectionId, 'shredded');
    const previous = this.#previousMasterKey;
    const wrappingKey =
      row.master_key_id === this.#masterKeyId
        ? this.#masterKey
        : previous !== undefined && row.master_key_id === masterKeyId(previous)
          ? previous
          : undefined;
    if (wrappingKey === undefined)
      throw new CodedError(
        'QUARANTINE_KEY_MISMATCH',
        `the content of ${inspectionId} was wrapped under another ENCRYPTION_MASTER_KEY (${row.master_key_id})`,
        { inspectionId, masterKeyId: row.master_key_id },
      );
    try {
      return {
        dataKey: unwrap(wrappingKey, Buffer.from(row.wrapped_key), inspectionId),
        iv: Buffer.from(row.content_iv),
      };
    } catch {
      throw new CodedError('QUARANTINE_KEY_MISMATCH', `the data key of ${inspectionId} does not unwrap`, {
        inspectionId,
      });
    }
  }

  /**
   * Crypto-shredding: the wrapped key is deleted and the record says why
   * (released, deleted, expired) first, in one transaction, so that the
   * content is unrecoverable and no longer viewable even when the store then
   * fails; the object is deleted after, and `object_key` cleared once it is
   * gone (until then the expiry pass picks the record up again). The content
   * hash is kept for released content only (its resubmission passes).
   */
  async shred(
    inspectionId: string,
    status: Exclude<QuarantineStatus, 'held'>,
    by: string,
    atMs: number,
  ): Promise<void> {
    await this.#db.transaction(async (tx) => {
      await tx.query('DELETE FROM encryption_keys WHERE inspection_id = $1', [inspectionId]);
      await tx.query(
        `UPDATE quarantine_records SET status = $2, decided_at = $3, decided_by = $4,
           content_sha256 = CASE WHEN $2 = 'released' THEN content_sha256 ELSE NULL END
         WHERE inspection_id = $1`,
        [inspectionId, status, new Date(atMs).toISOString(), by],
      );
    });
    await this.store.delete(objectKeyOf(inspectionId));
    await this.#db.query('UPDATE quarantine_records SET object_key = NULL WHERE inspection_id = $1', [inspectionId]);
  }

  /** Held records past their expiry, oldest first, then shredded records whose object is still to be deleted. */
  async expired(nowMs: number, limit = MAX_EXPIRY_BATCH): Promise<string[]> {
    const { rows } = await this.#db.query<{ inspection_id: string }>(
      `(SELECT inspection_id, 0 AS pass, expires_at FROM quarantine_records WHERE status = 'held' AND expires_at <= $1)
       UNION ALL
       (SELECT inspection_id, 1 AS pass, expires_at FROM quarantine_records
        WHERE status <> 'held' AND object_key IS NOT NULL)
       ORDER BY pass, expires_at, inspection_id LIMIT $2`,
      [new Date(nowMs).toISOString(), limit],
    );
    return rows.map((row) => row.inspection_id);
  }

  /** What the metrics show: bytes and records held, and held records already past their expiry (the backlog). */
  async stats(nowMs: number): Promise<{ heldBytes: number; heldRecords: number; expiredBacklog: number }> {
    const { rows } = await this.#db.query<{ held_bytes: number | null; held_records: number; backlog: number }>(
      `SELECT coalesce(sum(size_bytes), 0)::int8 AS held_bytes, count(*)::int8 AS held_records,
         count(*) FILTER (WHERE expires_at <= $1)::int8 AS backlog
       FROM quarantine_records WHERE status = 'held'`,
      [new Date(nowMs).toISOString()],
    );
    const row = rows[0]!;
    return {
      heldBytes: Number(row.held_bytes ?? 0),
      heldRecords: Number(row.held_records),
      expiredBacklog: Number(row.backlog),
    };
  }

  /** /ready: the store takes, gives back and deletes an object; the master key wraps and unwraps. */
  async check(): Promise<void> {
    const key = `quarantine/.ready-${randomBytes(8).toString('hex')}`;
    const probe = randomBytes(KEY_BYTES);
    const unwrapped = unwrap(this.#masterKey, wrap(this.#masterKey, probe, key), key);
    if (!unwrapped.equals(probe)) throw new Error('the master key does not unwrap what it wrapped');
    await this.store.put(
      key,
      (async function* () {
        yield probe;
      })(),
    );
    try {
      if ((await this.store.head(key))?.sizeBytes !== KEY_BYTES)
        throw new Error(`${this.store.description} lost a probe`);
    } finally {
      await this.store.delete(key);
    }
  }
}

export interface RewrapResult {
  /** Data keys moved from the previous master key to the current one. */
  rewrapped: number;
  /** Data keys already under the current master key (left as they are). */
  alreadyCurrent: number;
  masterKeyId: string;
  previousMasterKeyId: string;
}

/**
 * Re-wraps every data key of `encryption_keys` wrapped under `previous` under `current`, in one
 * transaction: all or nothing. The data keys themselves do not change, so the objects are not touched and
 * decrypt as before. Idempotent: keys already under `current` are left alone, and a second run re-wraps
 * none. A key under any third master key, or one that does not unwrap under `previous`, refuses the whole
 * run (QUARANTINE_KEY_MISMATCH) and changes nothing.
 */
export async function rewrapDataKeys(db: SqlDatabase, current: Buffer, previous: Buffer): Promise<RewrapResult> {
  const currentId = masterKeyId(current);
  const previousId = masterKeyId(previous);
  if (currentId === previousId) throw new Error('assertion failed: the previous master key is not the current one');
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<{ inspection_id: string; wrapped_key: Uint8Array; master_key_id: string }>(
      `SELECT inspection_id, wrapped_key, master_key_id FROM encryption_keys WHERE master_key_id <> $1
       ORDER BY inspection_id LIMIT $2 FOR UPDATE`,
      [currentId, MAX_REWRAP_KEYS + 1],
    );
    if (rows.length > MAX_REWRAP_KEYS)
      throw new CodedError('QUARANTINE_KEY_MISMATCH', `more than ${MAX_REWRAP_KEYS} data keys to re-wrap in one run`);
    const strangers = rows.filter((row) => row.master_key_id !== previousId);
    if (strangers.length > 0)
      throw new CodedError(
        'QUARANTINE_KEY_MISMATCH',
        `${strangers.length} data key(s) are wrapped under neither master key (${[...new Set(strangers.map((row) => row.master_key_id))].join(', ')}); nothing was re-wrapped`,
        { masterKeyIds: [...new Set(strangers.map((row) => row.master_key_id))] },
      );
    for (const row of rows) {
      let dataKey: Buffer;
      try {
        dataKey = unwrap(previous, Buffer.from(row.wrapped_key), row.inspection_id);
      } catch {
        throw new CodedError(
          'QUARANTINE_KEY_MISMATCH',
          `the data key of ${row.inspection_id} does not unwrap under the previous master key; nothing was re-wrapped`,
          { inspectionId: row.inspection_id },
        );
      }
      try {
        await tx.query(
          'UPDATE encryption_keys SET wrapped_key = $2, master_key_id = $3 WHERE inspection_id = $1 AND master_key_id = $4',
          [row.inspection_id, wrap(current, dataKey, row.inspection_id), currentId, previousId],
        );
      } finally {
        dataKey.fill(0);
      }
    }
    const { rows: counted } = await tx.query<{ n: number }>(
      'SELECT count(*)::int8 AS n FROM encryption_keys WHERE master_key_id = $1',
      [currentId],
    );
    const rewrapped = rows.length;
    return {
      rewrapped,
      alreadyCurrent: Number(counted[0]!.n) - rewrapped,
      masterKeyId: currentId,
      previousMasterKeyId: previousId,
    };
  });
}

/** Data keys wrapped under a master key (serve says at start whether a rotation is still under way). */
export async function dataKeysUnder(db: SqlDatabase, masterKey: Buffer): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    'SELECT count(*)::int8 AS n FROM encryption_keys WHERE master_key_id = $1',
    [masterKeyId(masterKey)],
  );
  return Number(rows[0]!.n);
}

function decrypted(inspectionId: string, dataKey: Buffer, iv: Buffer, sealed: Buffer): Buffer {
  try {
    const decipher = createDecipheriv(ALGORITHM, dataKey, iv);
    decipher.setAAD(Buffer.from(inspectionId, 'utf8'));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw tampered(inspectionId, 'its GCM tag does not check');
  }
}

/** The content was released, deleted or expired (before or while it was read): nothing to view any more. */
function gone(inspectionId: string, status: string): CodedError {
  return new CodedError(
    'QUARANTINE_CONTENT_GONE',
    `quarantined content ${inspectionId} is ${status}: it was shredded`,
    {
      inspectionId,
      status,
    },
  );
}

function tampered(inspectionId: string, why: string): CodedError {
  return new CodedError(
    'QUARANTINE_TAMPERED',
    `the quarantined object of ${inspectionId} was altered (${why}); it is not served`,
    { inspectionId },
  );
}
