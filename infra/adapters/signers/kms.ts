/**
 * AWS KMS signer (docs/FORMAT.md section 3):
 *   ed25519            key spec ECC_NIST_EDWARDS25519, ED25519_SHA_512, MessageType RAW over the 32 hash bytes
 *   rsa-sha256         RSASSA_PKCS1_V1_5_SHA_256, MessageType DIGEST (the hash is the SHA-256 digest)
 *   ecdsa-p256-sha256  ECDSA_SHA_256, MessageType DIGEST; KMS returns DER, as the chain wants
 *
 * The public key is read once at start (GetPublicKey) so the runtime can
 * refuse to sign when it differs from the registry entry. KMS signs one
 * message per call (about 1,000 calls a second per key), so a batch is signed
 * with at most MAX_SIGN_IN_FLIGHT calls outstanding.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import {
  GetPublicKeyCommand,
  KMSClient,
  SignCommand,
  type MessageType,
  type SigningAlgorithmSpec,
} from '@aws-sdk/client-kms';
import { CodedError } from '../../../domain/errors.ts';
import { sha256 } from '../../../chain/hash.ts';
import { MAX_SIGN_IN_FLIGHT } from '../../../chain/limits.ts';
import type { RecordSignature } from '../../../chain/record.ts';
import { keyMismatch, lowSEcdsaDer, type SignatureAlgorithm } from '../../../chain/signature.ts';
import { signConcurrently, type SignRequest } from '../../../chain/signer.ts';
import { remoteCaller, type RemoteCallOptions } from './remote.ts';
import { SignerUnavailableError, withTimeout } from './resilience.ts';
import type { BackendSigner } from './backend.ts';

/** KMS Sign takes at most this many bytes with MessageType RAW. */
export const KMS_MAX_RAW_MESSAGE_BYTES = 4096;

interface KmsAlgorithm {
  keySpec: string;
  signingAlgorithm: SigningAlgorithmSpec;
  /** Records: the 32 hash bytes, RAW for Ed25519 (PureEdDSA signs the bytes themselves), DIGEST otherwise. */
  messageType: MessageType;
}

export const KMS_ALGORITHMS: Readonly<Record<SignatureAlgorithm, KmsAlgorithm>> = {
  ed25519: { keySpec: 'ECC_NIST_EDWARDS25519', signingAlgorithm: 'ED25519_SHA_512', messageType: 'RAW' },
  'rsa-sha256': { keySpec: 'RSA_2048', signingAlgorithm: 'RSASSA_PKCS1_V1_5_SHA_256', messageType: 'DIGEST' },
  'ecdsa-p256-sha256': { keySpec: 'ECC_NIST_P256', signingAlgorithm: 'ECDSA_SHA_256', messageType: 'DIGEST' },
};

/** Errors another attempt may cure: throttling, KMS's own transient failures, timeouts and 5xx. */
const RETRYABLE_NAMES = new Set([
  'ThrottlingException',
  'KMSInternalException',
  'DependencyTimeoutException',
  'TimeoutError',
  'AbortError',
  'RequestTimeout',
]);

export function classifyKmsError(error: unknown): SignerUnavailableError {
  if (error instanceof SignerUnavailableError) return error;
  const { name, message } = error as { name?: string; message?: string };
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  const text = `KMS: ${name ?? 'Error'}: ${message ?? String(error)}`;
  if (name === 'ThrottlingException') return new SignerUnavailableError(text, 'throttled', true);
  if (name === 'TimeoutError' || name === 'AbortError' || name === 'RequestTimeout')
    return new SignerUnavailableError(text, 'timeout', true);
  const networkCode = (error as { code?: string }).code;
  if (
    RETRYABLE_NAMES.has(name ?? '') ||
    (status !== undefined && status >= 500) ||
    (networkCode !== undefined && /^E[A-Z]+/.test(networkCode))
  ) {
    return new SignerUnavailableError(text, 'unavailable', true);
  }
  return new SignerUnavailableError(text, 'rejected', false);
}

export interface KmsSignerOptions extends RemoteCallOptions {
  client: KMSClient;
  keyId: string;
  kid: string;
  algorithm: SignatureAlgorithm;
  maxInFlight?: number;
}

/**
 * One KMS call: aborted after `timeoutMs` (the SDK's abortSignal), and raced
 * against the same timeout in case the SDK is stuck before the request
 * (credential or endpoint resolution). Errors come back classified.
 */
async function kmsCall<T>(send: (abortSignal: AbortSignal) => Promise<T>, timeoutMs: number, what: string): Promise<T> {
  try {
    return await withTimeout(send(AbortSignal.timeout(timeoutMs)), timeoutMs, what);
  } catch (error) {
    throw classifyKmsError(error);
  }
}

async function readPublicKey(
  options: KmsSignerOptions,
  call: ReturnType<typeof remoteCaller>['call'],
): Promise<KeyObject> {
  const expected = KMS_ALGORITHMS[options.algorithm];
  const answer = await call((timeoutMs) =>
    kmsCall(
      (abortSignal) => options.client.send(new GetPublicKeyCommand({ KeyId: options.keyId }), { abortSignal }),
      timeoutMs,
      'KMS GetPublicKey',
    ),
  );
  const problems: string[] = [];
  if (answer.KeyUsage !== 'SIGN_VERIFY')
    problems.push(`key usage is ${answer.KeyUsage ?? 'unknown'}, SIGN_VERIFY required`);
  if (!answer.SigningAlgorithms?.includes(expected.signingAlgorithm)) {
    problems.push(
      `the key does not offer ${expected.signingAlgorithm} (it offers ${answer.SigningAlgorithms?.join(', ') ?? 'nothing'})`,
    );
  }
  if (!answer.PublicKey) problems.push('GetPublicKey returned no public key');
  const publicKey = answer.PublicKey
    ? createPublicKey({ key: Buffer.from(answer.PublicKey), format: 'der', type: 'spki' })
    : undefined;
  const mismatch = publicKey && keyMismatch(options.algorithm, publicKey);
  if (mismatch) problems.push(mismatch);
  if (problems.length > 0 || !publicKey) {
    throw new CodedError(
      'SIGNER_KEY_MISMATCH',
      `KMS key ${options.keyId} cannot sign ${options.algorithm}: ${problems.join('; ')}`,
      {
        keyId: options.keyId,
        keySpec: answer.KeySpec,
      },
    );
  }
  return publicKey;
}

/** Opens a KMS signer: reads the key's public key and checks it fits the algorithm. */
export async function openKmsSigner(options: KmsSignerOptions): Promise<BackendSigner> {
  const caller = remoteCaller('kms', (error) => error instanceof SignerUnavailableError && error.retryable, options);
  const publicKey = await readPublicKey(options, caller.call);
  const { kid, algorithm, keyId, client } = options;
  const spec = KMS_ALGORITHMS[algorithm];
  const maxInFlight = options.maxInFlight ?? MAX_SIGN_IN_FLIGHT;

  const signBytes = async (message: Uint8Array, messageType: MessageType): Promise<RecordSignature> => {
    const command = new SignCommand({
      KeyId: keyId,
      Message: message,
      MessageType: messageType,
      SigningAlgorithm: spec.signingAlgorithm,
    });
    const answer = await caller.call((timeoutMs) =>
      kmsCall((abortSignal) => client.send(command, { abortSignal }), timeoutMs, 'KMS Sign'),
    );
    if (!answer.Signature)
      throw new SignerUnavailableError(`KMS Sign with key ${keyId} returned no signature`, 'unavailable', false);
    // KMS returns ECDSA signatures with either S; the chain takes the low-S form only (docs/FORMAT.md section 3).
    const signature = algorithm === 'ecdsa-p256-sha256' ? lowSEcdsaDer(answer.Signature) : answer.Signature;
    return { kid, alg: algorithm, value: Buffer.from(signature).toString('base64') };
  };
  const signOne = (request: SignRequest): Promise<RecordSignature> => signBytes(request.hash, spec.messageType);

  return {
    kid,
    algorithm,
    publicKey,
    description: `AWS KMS key ${keyId}`,
    sign: (hash, preimage) => signOne({ hash, preimage }),
    signBatch: (requests) => signConcurrently(requests, maxInFlight, signOne),
    async signMessage(message) {
      if (algorithm !== 'ed25519') return signBytes(sha256(message), 'DIGEST');
      if (message.length > KMS_MAX_RAW_MESSAGE_BYTES) {
        throw new CodedError(
          'KMS_MESSAGE_TOO_LARGE',
          `KMS signs at most ${KMS_MAX_RAW_MESSAGE_BYTES} bytes with Ed25519 (MessageType RAW); this document is ${message.length} bytes. ` +
            'Sign large documents with an rsa-sha256 or ecdsa-p256-sha256 key, or with the HSM.',
          { sizeBytes: message.length, maxBytes: KMS_MAX_RAW_MESSAGE_BYTES },
        );
      }
      return signBytes(message, 'RAW');
    },
    close: async () => client.destroy(),
  };
}

/** A KMS client for the region of the environment (AWS_REGION) with the SDK's own retries off: ours are bounded and counted. */
export function kmsClient(region?: string): KMSClient {
  return new KMSClient({ maxAttempts: 1, ...(region === undefined ? {} : { region }) });
}
