/**
 * Data keys from AWS KMS (Option B of delivery, commands/delivery/dataKeys.ts):
 * GenerateDataKey with KeySpec AES_256 under a symmetric KMS key makes each
 * data key, and returns it both in the clear (used once, then dropped) and
 * wrapped by KMS (the CiphertextBlob, recorded in the chain). The order is
 * bound by the encryption context `{orderId}`: KMS authenticates it with the
 * ciphertext, so Decrypt opens the blob only when given the same order id,
 * and refuses it for any other order.
 *
 * Decrypt names the wrapping key recorded with the blob (KeyId), so KMS
 * refuses a blob made under another key instead of guessing; a data key
 * recorded under an older key still opens after the configuration moves to
 * a new one, as long as this process may use the old key.
 *
 * Every failure, KMS's or ours, is DELIVERY_KEY_UNAVAILABLE naming only the
 * error's kind: the message reaches the buyer, and KMS's own messages carry
 * account ids and ARNs.
 */
import {
  DecryptCommand,
  GenerateDataKeyCommand,
  type DecryptCommandOutput,
  type GenerateDataKeyCommandOutput,
} from '@aws-sdk/client-kms';
import { DATA_KEY_BYTES, type DataKeyService } from '../../../commands/delivery/dataKeys.ts';
import { CodedError } from '../../../domain/errors.ts';
import { SignerUnavailableError, withTimeout } from '../signers/resilience.ts';

/** One KMS call for a data key, after which the request is aborted (docs/STYLE.md rule 7). */
export const DATA_KEY_TIMEOUT_MS = 5000;

/**
 * The part of the KMS client this service uses: a KMSClient fits it, and so
 * does a small fake in the unit tests.
 */
export interface KmsDataKeyClient {
  send(command: GenerateDataKeyCommand, options?: { abortSignal?: AbortSignal }): Promise<GenerateDataKeyCommandOutput>;
  send(command: DecryptCommand, options?: { abortSignal?: AbortSignal }): Promise<DecryptCommandOutput>;
}

export interface KmsDataKeyOptions {
  client: KmsDataKeyClient;
  /** The symmetric KMS key (ENCRYPT_DECRYPT) that wraps the data keys: its key id or ARN. */
  keyId: string;
  timeoutMs?: number;
}

/** KMS errors that mean the blob does not open with this key and context, rather than that KMS is unreachable. */
const REFUSALS = new Set(['InvalidCiphertextException', 'IncorrectKeyException']);

function unavailable(reason: string): never {
  throw new CodedError('DELIVERY_KEY_UNAVAILABLE', `the delivery data key cannot be released: ${reason}`, { reason });
}

function kmsFailure(error: unknown, operation: string): never {
  if (error instanceof CodedError && error.code === 'DELIVERY_KEY_UNAVAILABLE') throw error;
  // Our own timeout: its message is ours and names no secret.
  if (error instanceof SignerUnavailableError) unavailable(error.message);
  const name = (error as { name?: unknown } | undefined)?.name;
  const kind = typeof name === 'string' && /^[A-Za-z]{1,64}$/.test(name) ? name : 'Error';
  if (REFUSALS.has(kind)) unavailable(`the wrapped key does not open for this order (KMS ${operation}: ${kind})`);
  return unavailable(`KMS ${operation} failed (${kind})`);
}

/** A data key must be exactly 32 bytes: anything else is not what we asked KMS for, and is not used. */
function dataKey(plaintext: Uint8Array | undefined, operation: string): Buffer {
  if (plaintext === undefined) unavailable(`KMS ${operation} returned no plaintext`);
  if (plaintext.length !== DATA_KEY_BYTES)
    unavailable(`KMS ${operation} returned ${plaintext.length} bytes, not a ${DATA_KEY_BYTES}-byte data key`);
  return Buffer.from(plaintext);
}

export function kmsDataKeys(options: KmsDataKeyOptions): DataKeyService {
  const { client, keyId } = options;
  const timeoutMs = options.timeoutMs ?? DATA_KEY_TIMEOUT_MS;
  const call = async <T>(operation: string, send: (abortSignal: AbortSignal) => Promise<T>): Promise<T> => {
    try {
      // The race covers an SDK stuck before the request is sent (credentials, endpoint), which the signal cannot abort.
      return await withTimeout(send(AbortSignal.timeout(timeoutMs)), timeoutMs, `KMS ${operation}`);
    } catch (error) {
      return kmsFailure(error, operation);
    }
  };
  return {
    origin: 'kms',
    wrappingKeyId: keyId,
    async generate(orderId) {
      const command = new GenerateDataKeyCommand({
        KeyId: keyId,
        KeySpec: 'AES_256',
        EncryptionContext: { orderId },
      });
      const answer = await call('GenerateDataKey', (abortSignal) => client.send(command, { abortSignal }));
      const plaintext = dataKey(answer.Plaintext, 'GenerateDataKey');
      if (answer.CiphertextBlob === undefined || answer.CiphertextBlob.length === 0)
        unavailable('KMS GenerateDataKey returned no wrapped key');
      return { plaintext, wrapped: Buffer.from(answer.CiphertextBlob) };
    },
    async unwrap(orderId, wrapped, wrappingKeyId) {
      const command = new DecryptCommand({
        KeyId: wrappingKeyId,
        CiphertextBlob: wrapped,
        EncryptionContext: { orderId },
      });
      const answer = await call('Decrypt', (abortSignal) => client.send(command, { abortSignal }));
      return dataKey(answer.Plaintext, 'Decrypt');
    },
  };
}
