/**
 * Data keys wrapped by a local key (the embedded default of Option B,
 * commands/delivery/dataKeys.ts): each data key is random and wrapped with
 * AES-256-GCM under the wrapping key, the order id as additional data, so a
 * wrapped key moved to another order does not open. The wrapping key is
 * DELIVERY_WRAPPING_KEY (base64 of 32 bytes) or, on the embedded default, a
 * file in the data directory created once with mode 0600. Its id is the
 * first 16 hex digits of SHA-256 of the key, prefixed `local-`.
 *
 *   wrapped = iv (12) ‖ ciphertext (32) ‖ tag (16)
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { DATA_KEY_BYTES, type DataKeyService } from '../../../commands/delivery/dataKeys.ts';
import { CodedError } from '../../../domain/errors.ts';

const IV_BYTES = 12;
const TAG_BYTES = 16;

export function localWrappingKeyId(key: Buffer): string {
  return `local-${createHash('sha256').update(key).digest('hex').slice(0, 16)}`;
}

function unavailable(reason: string): never {
  throw new CodedError('DELIVERY_KEY_UNAVAILABLE', `the delivery data key cannot be released: ${reason}`, { reason });
}

export function localDataKeys(wrappingKey: Buffer): DataKeyService {
  if (wrappingKey.length !== DATA_KEY_BYTES)
    throw new Error(`the local wrapping key must be ${DATA_KEY_BYTES} bytes, not ${wrappingKey.length}`);
  const wrappingKeyId = localWrappingKeyId(wrappingKey);
  return {
    origin: 'local',
    wrappingKeyId,
    async generate(orderId) {
      const plaintext = randomBytes(DATA_KEY_BYTES);
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', wrappingKey, iv).setAAD(Buffer.from(orderId, 'utf8'));
      const wrapped = Buffer.concat([iv, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
      return { plaintext, wrapped };
    },
    async unwrap(orderId, wrapped, keyId) {
      if (keyId !== wrappingKeyId) unavailable(`it was wrapped by ${keyId}, this service holds ${wrappingKeyId}`);
      if (wrapped.length !== IV_BYTES + DATA_KEY_BYTES + TAG_BYTES) unavailable('the wrapped key has the wrong length');
      const decipher = createDecipheriv('aes-256-gcm', wrappingKey, wrapped.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(orderId, 'utf8'));
      decipher.setAuthTag(wrapped.subarray(IV_BYTES + DATA_KEY_BYTES));
      try {
        return Buffer.concat([
          decipher.update(wrapped.subarray(IV_BYTES, IV_BYTES + DATA_KEY_BYTES)),
          decipher.final(),
        ]);
      } catch {
        return unavailable('the wrapped key does not open for this order');
      }
    },
  };
}

/** The key in a key file; a file that does not hold base64 of 32 bytes stops start-up rather than being replaced. */
function keyFromFile(file: string): Buffer {
  const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
  if (key.length !== DATA_KEY_BYTES)
    throw new Error(`the delivery wrapping key file ${file} does not hold base64 of ${DATA_KEY_BYTES} bytes`);
  return key;
}

/** DELIVERY_WRAPPING_KEY when set; else the key in `file`, made on first use (embedded default only). */
export function localWrappingKey(fromEnvironment: string | undefined, file: string): Buffer {
  if (fromEnvironment !== undefined) {
    const key = Buffer.from(fromEnvironment, 'base64');
    if (key.length !== DATA_KEY_BYTES)
      throw new Error(`DELIVERY_WRAPPING_KEY must be base64 of ${DATA_KEY_BYTES} bytes`);
    return key;
  }
  try {
    return keyFromFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const key = randomBytes(DATA_KEY_BYTES);
  mkdirSync(dirname(file), { recursive: true });
  try {
    writeFileSync(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    return key;
  } catch (error) {
    // Another process made it first: use theirs.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return keyFromFile(file);
    throw error;
  }
}
