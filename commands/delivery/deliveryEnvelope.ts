/**
 * The delivery envelope, `CHAINBOOK-DELIVERY-1` (docs/FORMAT.md section 11):
 * an artifact encrypted to the buyer's key so that memory stays bounded at
 * any size. A JWE (RFC 7516 compact serialization, made and opened with
 * `jose`: `RSA-OAEP-256` for an RSA key, `ECDH-ES+A256KW` for P-256 and
 * X25519, content `A256GCM`) carries a fresh 256-bit content key; the
 * artifact follows in AES-256-GCM chunks of `chunkBytes`, each authenticated
 * with its index and whether it is the last, and all of them with the JWE
 * line. A flipped byte, a dropped, reordered or repeated chunk, a cut tail or
 * bytes appended after the last chunk fail authentication; nothing decrypts
 * silently wrong.
 *
 *   CHAINBOOK-DELIVERY-1\n
 *   <JWE compact>\n                 plaintext: {"v":1,"contentKey","noncePrefix","chunkBytes","sizeBytes","artifactSha256"}
 *   repeated: u32be(length) ‖ AES-256-GCM(chunk) ‖ tag(16)
 *     IV  = noncePrefix (7 bytes) ‖ u32be(chunk index) ‖ 0x01 for the last chunk, else 0x00
 *     AAD = SHA-256(JWE compact, as ASCII)
 *   chunks = max(1, ceil(sizeBytes / chunkBytes)); every chunk but the last holds chunkBytes bytes
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, type KeyObject } from 'node:crypto';
import { CompactEncrypt, compactDecrypt } from 'jose';
import { z } from 'zod';
import { CodedError } from '../../domain/errors.ts';
import { rechunk } from '../blobStore.ts';
import { KEY_MANAGEMENT_ALGORITHM, type DeliveryKey } from '../orders/deliveryKey.ts';

export const ENVELOPE_MAGIC = 'CHAINBOOK-DELIVERY-1';
/** Plaintext bytes per chunk: 1 MiB, so encryption and decryption hold about two chunks at a time. */
export const DELIVERY_CHUNK_BYTES = 1024 * 1024;
/** The largest chunk a reader accepts, whatever the header says (bounds its memory). */
export const MAX_DELIVERY_CHUNK_BYTES = 16 * 1024 * 1024;
/** The JWE line's bound: a content key wrapped for an RSA-8192 key is well under it. */
const MAX_JWE_LINE_BYTES = 8192;
const TAG_BYTES = 16;
const NONCE_PREFIX_BYTES = 7;

const contentKeySchema = z.strictObject({
  v: z.literal(1),
  contentKey: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  noncePrefix: z.string().regex(/^[A-Za-z0-9_-]{10}$/),
  chunkBytes: z.number().int().positive().max(MAX_DELIVERY_CHUNK_BYTES),
  sizeBytes: z.number().int().nonnegative(),
  artifactSha256: z.string().regex(/^[0-9a-f]{64}$/),
});
export type EnvelopeKey = z.infer<typeof contentKeySchema>;

function ivOf(noncePrefix: Buffer, index: number, last: boolean): Buffer {
  const iv = Buffer.alloc(12);
  noncePrefix.copy(iv, 0);
  iv.writeUInt32BE(index, NONCE_PREFIX_BYTES);
  iv[11] = last ? 1 : 0;
  return iv;
}

export function chunkCount(sizeBytes: number, chunkBytes: number): number {
  return Math.max(1, Math.ceil(sizeBytes / chunkBytes));
}

export interface EnvelopeOptions {
  /** The artifact's size and SHA-256 as recorded: the plaintext must be exactly these bytes. */
  sizeBytes: number;
  artifactSha256: string;
  chunkBytes?: number;
}

function artifactChanged(reason: string): never {
  throw new CodedError('DELIVERY_ARTIFACT_CHANGED', `the stored artifact is not the one recorded: ${reason}`, {});
}

/**
 * Who the content key is wrapped for: a buyer's public key (Option A), or a
 * managed 256-bit data key (Option B: JWE `A256KW`, `kid` the data key's id).
 */
export type EnvelopeRecipient =
  Pick<DeliveryKey, 'keyType' | 'key' | 'spkiSha256'> | { alg: 'A256KW'; key: KeyObject; kid: string };

function jweKeyOf(recipient: EnvelopeRecipient): { alg: string; kid: string } {
  return 'alg' in recipient
    ? { alg: recipient.alg, kid: recipient.kid }
    : { alg: KEY_MANAGEMENT_ALGORITHM[recipient.keyType], kid: recipient.spkiSha256 };
}

/** Encrypts `plaintext` to `recipient` as an envelope, in chunks as they are produced. */
export async function* encryptEnvelope(
  plaintext: AsyncIterable<Uint8Array>,
  recipient: EnvelopeRecipient,
  options: EnvelopeOptions,
): AsyncIterable<Uint8Array> {
  const chunkBytes = options.chunkBytes ?? DELIVERY_CHUNK_BYTES;
  const contentKey = randomBytes(32);
  const noncePrefix = randomBytes(NONCE_PREFIX_BYTES);
  const keyDocument: EnvelopeKey = {
    v: 1,
    contentKey: contentKey.toString('base64url'),
    noncePrefix: noncePrefix.toString('base64url'),
    chunkBytes,
    sizeBytes: options.sizeBytes,
    artifactSha256: options.artifactSha256,
  };
  const jwe = await new CompactEncrypt(Buffer.from(JSON.stringify(keyDocument)))
    .setProtectedHeader({ ...jweKeyOf(recipient), enc: 'A256GCM', cty: 'chainbook-delivery-key+json' })
    .encrypt(recipient.key);
  yield Buffer.from(`${ENVELOPE_MAGIC}\n${jwe}\n`, 'ascii');
  const aad = createHash('sha256').update(jwe, 'ascii').digest();
  const total = chunkCount(options.sizeBytes, chunkBytes);
  const hash = createHash('sha256');
  let index = 0;
  let seenBytes = 0;
  for await (const piece of rechunk(plaintext, chunkBytes)) {
    // rechunk ends with a short piece, empty when the size is a multiple of chunkBytes: only an empty artifact has an empty chunk.
    if (piece.length === 0 && index > 0) break;
    seenBytes += piece.length;
    if (index >= total || seenBytes > options.sizeBytes) artifactChanged('it is longer');
    hash.update(piece);
    const cipher = createCipheriv('aes-256-gcm', contentKey, ivOf(noncePrefix, index, index === total - 1));
    cipher.setAAD(aad);
    const sealed = Buffer.concat([cipher.update(piece), cipher.final(), cipher.getAuthTag()]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(sealed.length);
    yield Buffer.concat([length, sealed]);
    index += 1;
  }
  if (seenBytes !== options.sizeBytes) artifactChanged(`${seenBytes} bytes, not ${options.sizeBytes}`);
  if (hash.digest('hex') !== options.artifactSha256) artifactChanged('its SHA-256 differs');
}

/** Reads exactly n bytes at a time from a stream of chunks (buffered chunks are joined once, not per arrival). */
class ExactReader {
  readonly #iterator: AsyncIterator<Uint8Array>;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #ended = false;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#iterator = source[Symbol.asyncIterator]();
  }

  /** Buffers until at least n bytes are pending or the stream ends. */
  async #fill(n: number): Promise<Buffer> {
    while (this.#pendingBytes < n && !this.#ended) {
      const next = await this.#iterator.next();
      if (next.done) this.#ended = true;
      else {
        this.#pending.push(Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength));
        this.#pendingBytes += next.value.byteLength;
      }
    }
    const joined = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending);
    this.#pending = [joined];
    return joined;
  }

  #consume(joined: Buffer, n: number): Buffer {
    const out = joined.subarray(0, n);
    const rest = joined.subarray(out.length);
    this.#pending = rest.length > 0 ? [rest] : [];
    this.#pendingBytes = rest.length;
    return out;
  }

  /** n bytes, or fewer when the stream ends first. */
  async read(n: number): Promise<Buffer> {
    return this.#consume(await this.#fill(n), n);
  }

  /** The bytes up to the next newline (without it); undefined past `maxBytes` or at the end. */
  async line(maxBytes: number): Promise<string | undefined> {
    for (let want = 1; ; want = this.#pendingBytes + 1) {
      const joined = await this.#fill(want);
      const newline = joined.indexOf(10);
      if (newline >= 0) {
        const line = this.#consume(joined, newline + 1);
        return line.subarray(0, newline).toString('ascii');
      }
      if (joined.length > maxBytes || this.#ended) return undefined;
    }
  }
}

function malformed(reason: string): never {
  throw new CodedError('DELIVERY_ENVELOPE_INVALID', `not a delivery envelope: ${reason}`, { reason });
}

function authenticationFailed(reason: string): never {
  throw new CodedError(
    'DELIVERY_DECRYPTION_FAILED',
    `decryption failed, the envelope is not authentic for this key: ${reason}`,
    { reason },
  );
}

/** The envelope's JWE line opened with the buyer's private key: the content key document. */
async function openKey(reader: ExactReader, privateKey: KeyObject): Promise<{ key: EnvelopeKey; aad: Buffer }> {
  if ((await reader.line(64)) !== ENVELOPE_MAGIC) malformed(`it does not start with ${ENVELOPE_MAGIC}`);
  const jwe = await reader.line(MAX_JWE_LINE_BYTES);
  if (jwe === undefined) malformed('no JWE line');
  let plaintext: Uint8Array;
  try {
    ({ plaintext } = await compactDecrypt(jwe, privateKey, {
      keyManagementAlgorithms: privateKey.type === 'secret' ? ['A256KW'] : ['RSA-OAEP-256', 'ECDH-ES+A256KW'],
      contentEncryptionAlgorithms: ['A256GCM'],
    }));
  } catch (error) {
    return authenticationFailed(`the JWE: ${(error as Error).message}`);
  }
  const parsed = contentKeySchema.safeParse(JSON.parse(Buffer.from(plaintext).toString('utf8')));
  if (!parsed.success) malformed('the content key document does not fit its schema');
  return { key: parsed.data, aad: createHash('sha256').update(jwe, 'ascii').digest() };
}

/** Decrypts an envelope with the buyer's private key (or the managed data key, a secret key), chunk by chunk; throws DELIVERY_DECRYPTION_FAILED on any tampering. */
export async function* decryptEnvelope(
  envelope: AsyncIterable<Uint8Array>,
  privateKey: KeyObject,
): AsyncIterable<Uint8Array> {
  const reader = new ExactReader(envelope);
  const { key, aad } = await openKey(reader, privateKey);
  const contentKey = Buffer.from(key.contentKey, 'base64url');
  const noncePrefix = Buffer.from(key.noncePrefix, 'base64url');
  const total = chunkCount(key.sizeBytes, key.chunkBytes);
  const hash = createHash('sha256');
  for (let index = 0; index < total; index++) {
    const header = await reader.read(4);
    if (header.length < 4) authenticationFailed(`the envelope ends before chunk ${index} of ${total}`);
    const length = header.readUInt32BE(0);
    if (length < TAG_BYTES || length > key.chunkBytes + TAG_BYTES)
      authenticationFailed(`chunk ${index} has a bad length`);
    const sealed = await reader.read(length);
    if (sealed.length < length) authenticationFailed(`the envelope ends inside chunk ${index}`);
    const decipher = createDecipheriv('aes-256-gcm', contentKey, ivOf(noncePrefix, index, index === total - 1));
    decipher.setAAD(aad);
    decipher.setAuthTag(sealed.subarray(length - TAG_BYTES));
    let piece: Buffer;
    try {
      piece = Buffer.concat([decipher.update(sealed.subarray(0, length - TAG_BYTES)), decipher.final()]);
    } catch {
      return authenticationFailed(`chunk ${index} does not authenticate`);
    }
    hash.update(piece);
    yield piece;
  }
  if ((await reader.read(1)).length > 0) authenticationFailed('bytes follow the last chunk');
  if (hash.digest('hex') !== key.artifactSha256) authenticationFailed('the plaintext is not the artifact named');
}
