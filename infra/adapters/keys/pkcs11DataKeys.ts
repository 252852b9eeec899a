/**
 * Data keys wrapped by an AES-256 key on a PKCS#11 token (Option B of
 * delivery, commands/delivery/dataKeys.ts), tested against SoftHSM2. The
 * wrapping key is a secret key on the token found by its label
 * (DELIVERY_PKCS11_KEY_LABEL); it never leaves the token (sensitive, not
 * extractable). The token is the one the PKCS#11 signer uses (PKCS11_MODULE,
 * PKCS11_TOKEN_LABEL, PKCS11_PIN), opened through the same module loader, so
 * both can live in one process.
 *
 * Each data key is 32 random bytes from the token's generator, encrypted on
 * the token with CKM_AES_GCM (C_Encrypt): a 12-byte random IV, a 16-byte tag,
 * and the order id in UTF-8 as additional authenticated data. That binds the
 * order: C_Decrypt with another order id fails the tag check, as does any
 * changed byte. The layout is the local service's
 * (infra/adapters/keys/localDataKeys.ts):
 *
 *   wrapped = iv (12) ‖ ciphertext (32) ‖ tag (16)
 *
 * SoftHSM2 2.6 offers CKM_AES_GCM for encrypt and decrypt (and
 * CKM_AES_KEY_WRAP without additional data, which could not bind the order).
 * Tokens that insist on making the GCM IV themselves are not supported.
 */
import pkcs11js from 'pkcs11js';
import { DATA_KEY_BYTES, type DataKeyService } from '../../../commands/delivery/dataKeys.ts';
import { CodedError } from '../../../domain/errors.ts';
import { Pkcs11Token, type Pkcs11Settings } from '../signers/pkcs11.ts';
import { withTimeout } from '../signers/resilience.ts';

/** A random IV per wrap: safe for 2^32 wraps under one key, far more orders than a key will see. */
const IV_BYTES = 12;
const TAG_BYTES = 16;
export const PKCS11_WRAPPED_KEY_BYTES = IV_BYTES + DATA_KEY_BYTES + TAG_BYTES;
/** Sessions opened for data keys: a key is wrapped per order, far rarer than records are signed. */
export const DATA_KEY_SESSIONS = 2;
/** One wrap or unwrap on the token, after which the caller is answered DELIVERY_KEY_UNAVAILABLE (docs/STYLE.md rule 7). */
export const DATA_KEY_TOKEN_TIMEOUT_MS = 5000;

/** What C_Decrypt answers when the tag does not verify: SoftHSM2 says CKR_GENERAL_ERROR, other tokens CKR_ENCRYPTED_DATA_INVALID. */
const TAG_CHECK_FAILURES = new Set([
  pkcs11js.CKR_GENERAL_ERROR,
  pkcs11js.CKR_ENCRYPTED_DATA_INVALID,
  pkcs11js.CKR_ENCRYPTED_DATA_LEN_RANGE,
]);

export interface Pkcs11DataKeyOptions extends Pkcs11Settings {
  /** The label of the AES-256 wrapping key on the token. */
  keyLabel: string;
  timeoutMs?: number;
}

export interface Pkcs11DataKeys extends DataKeyService {
  close(): void;
}

function unavailable(reason: string): never {
  throw new CodedError('DELIVERY_KEY_UNAVAILABLE', `the delivery data key cannot be released: ${reason}`, { reason });
}

/** CK_ULONG attributes come back in the platform's byte order and width (little-endian on the platforms we run on). */
function ulongAttribute(token: Pkcs11Token, session: Buffer, object: Buffer, type: number): number | undefined {
  const [attribute] = token.module.C_GetAttributeValue(session, object, [{ type }]);
  const value = attribute?.value;
  return value instanceof Buffer && value.length > 0 ? value.readUIntLE(0, Math.min(value.length, 6)) : undefined;
}

/** The wrapping key's handle: a secret AES key of 32 bytes with this label, or a CodedError saying what is wrong. */
function findWrappingKey(token: Pkcs11Token, keyLabel: string): Buffer {
  const session = token.withSessionSync();
  const key = token.findObject(session, pkcs11js.CKO_SECRET_KEY, keyLabel);
  if (key === undefined) {
    throw new CodedError(
      'HSM_KEY_NOT_FOUND',
      `token ${token.settings.tokenLabel} has no secret key labelled ${JSON.stringify(keyLabel)} (DELIVERY_PKCS11_KEY_LABEL: an AES-256 key for delivery data keys)`,
      { keyLabel },
    );
  }
  const keyType = ulongAttribute(token, session, key, pkcs11js.CKA_KEY_TYPE);
  const lengthBytes = ulongAttribute(token, session, key, pkcs11js.CKA_VALUE_LEN);
  if (keyType !== pkcs11js.CKK_AES || lengthBytes !== DATA_KEY_BYTES) {
    throw new CodedError(
      'HSM_KEY_UNSUPPORTED',
      `the key labelled ${JSON.stringify(keyLabel)} on token ${token.settings.tokenLabel} is not an AES-256 key`,
      { keyLabel },
    );
  }
  return key;
}

function gcm(iv: Buffer, orderId: string): pkcs11js.Mechanism {
  // CK_GCM_PARAMS with ulIvBits, the structure SoftHSM2 reads (pkcs11js's CK_PARAMS_AES_GCM leaves ulIvBits unset).
  const parameter: pkcs11js.GcmParams = {
    type: pkcs11js.CK_PARAMS_GCM,
    iv,
    ivBits: IV_BYTES * 8,
    aad: Buffer.from(orderId, 'utf8'),
    tagBits: TAG_BYTES * 8,
  };
  return { mechanism: pkcs11js.CKM_AES_GCM, parameter };
}

/** Opens the token and finds the wrapping key by label; close() when done. */
export function openPkcs11DataKeys(options: Pkcs11DataKeyOptions): Pkcs11DataKeys {
  const token = Pkcs11Token.open(options, DATA_KEY_SESSIONS);
  try {
    return pkcs11DataKeys(token, findWrappingKey(token, options.keyLabel), options);
  } catch (error) {
    token.close();
    throw error;
  }
}

function pkcs11DataKeys(token: Pkcs11Token, key: Buffer, options: Pkcs11DataKeyOptions): Pkcs11DataKeys {
  const { keyLabel } = options;
  const timeoutMs = options.timeoutMs ?? DATA_KEY_TOKEN_TIMEOUT_MS;
  const onToken = async <T>(what: string, work: (session: Buffer) => Promise<T>): Promise<T> => {
    try {
      // A session whose operation is late stays taken until the token answers; the caller is answered now.
      return await withTimeout(token.withSession(work), timeoutMs, `the HSM (token ${options.tokenLabel})`);
    } catch (error) {
      if (error instanceof CodedError && error.code === 'DELIVERY_KEY_UNAVAILABLE') throw error;
      return unavailable(`${what} on token ${options.tokenLabel} failed (${(error as Error).message})`);
    }
  };
  return {
    origin: 'pkcs11',
    wrappingKeyId: keyLabel,
    generate: (orderId) =>
      onToken('wrapping a data key', async (session) => {
        const random = token.module.C_GenerateRandom(session, Buffer.alloc(DATA_KEY_BYTES + IV_BYTES));
        const plaintext = Buffer.from(random.subarray(0, DATA_KEY_BYTES));
        const iv = Buffer.from(random.subarray(DATA_KEY_BYTES));
        random.fill(0);
        token.module.C_EncryptInit(session, gcm(iv, orderId), key);
        const sealed = await token.module.C_EncryptAsync(session, plaintext, Buffer.alloc(DATA_KEY_BYTES + TAG_BYTES));
        if (sealed.length !== DATA_KEY_BYTES + TAG_BYTES)
          unavailable(`the token returned ${sealed.length} bytes for a wrapped data key`);
        return { plaintext, wrapped: Buffer.concat([iv, sealed]) };
      }),
    async unwrap(orderId, wrapped, wrappingKeyId) {
      if (wrappingKeyId !== keyLabel) unavailable(`it was wrapped by ${wrappingKeyId}, this service holds ${keyLabel}`);
      if (wrapped.length !== PKCS11_WRAPPED_KEY_BYTES) unavailable('the wrapped key has the wrong length');
      return onToken('unwrapping a data key', async (session) => {
        token.module.C_DecryptInit(session, gcm(Buffer.from(wrapped.subarray(0, IV_BYTES)), orderId), key);
        let plaintext: Buffer;
        try {
          plaintext = await token.module.C_DecryptAsync(
            session,
            Buffer.from(wrapped.subarray(IV_BYTES)),
            Buffer.alloc(DATA_KEY_BYTES + TAG_BYTES),
          );
        } catch (error) {
          if (TAG_CHECK_FAILURES.has((error as { code?: number }).code ?? -1))
            return unavailable('the wrapped key does not open for this order');
          throw error;
        }
        if (plaintext.length !== DATA_KEY_BYTES) unavailable('the unwrapped key has the wrong length');
        return Buffer.from(plaintext);
      });
    },
    close: () => token.close(),
  };
}

/**
 * Makes the AES-256 wrapping key on the token: sensitive, not extractable,
 * for encrypt and decrypt only. Refuses a label in use, which would make the
 * key ambiguous.
 */
export function generateHsmWrappingKey(settings: Pkcs11Settings, label: string): void {
  const token = Pkcs11Token.open(settings, 1);
  try {
    const session = token.withSessionSync();
    if (token.findObject(session, pkcs11js.CKO_SECRET_KEY, label)) {
      throw new CodedError(
        'HSM_KEY_EXISTS',
        `token ${settings.tokenLabel} already has a key labelled ${JSON.stringify(label)}`,
        { label },
      );
    }
    token.module.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
      { type: pkcs11js.CKA_VALUE_LEN, value: DATA_KEY_BYTES },
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      { type: pkcs11js.CKA_EXTRACTABLE, value: false },
      { type: pkcs11js.CKA_ENCRYPT, value: true },
      { type: pkcs11js.CKA_DECRYPT, value: true },
      { type: pkcs11js.CKA_LABEL, value: label },
    ]);
  } finally {
    token.close();
  }
}
