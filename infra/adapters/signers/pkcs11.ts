/**
 * PKCS#11 HSM signer (pkcs11js), tested against SoftHSM2.
 *
 *   ed25519            CKM_EDDSA over the 32 hash bytes (PureEdDSA), key type CKK_EC_EDWARDS
 *   rsa-sha256         CKM_RSA_PKCS over DigestInfo(SHA-256) ‖ hash: the hash is the digest, no preimage needed
 *   ecdsa-p256-sha256  CKM_ECDSA over the hash; the token's r‖s is DER-encoded
 *
 * The slot is found by token label (slot ids change when tokens are
 * initialised). One login serves every session of the process (PKCS#11
 * login state is per application and token); sessions are pooled because a
 * session runs one operation at a time.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { assert, CodedError } from '../../../domain/errors.ts';
import { sha256 } from '../../../chain/hash.ts';
import type { RecordSignature } from '../../../chain/record.ts';
import { lowSEcdsaDer, type SignatureAlgorithm } from '../../../chain/signature.ts';
import { signConcurrently, type SignRequest } from '../../../chain/signer.ts';
import type { BackendSigner } from './backend.ts';
import {
  ecdsaRawToDer,
  ED25519_OID_DER,
  ed25519PublicKey,
  P256_OID_DER,
  p256PublicKey,
  rsaPublicKey,
  SHA256_DIGEST_INFO_PREFIX,
} from './der.ts';
import { remoteCaller, type RemoteCallOptions } from './remote.ts';
import { SignerUnavailableError, withTimeout } from './resilience.ts';

/** PKCS#11 3.0 values pkcs11js does not define. */
export const CKK_EC_EDWARDS = 0x40;
export const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;
export const CKM_EDDSA = 0x1057;

/** Sessions opened per token: the most signing operations in flight at once. */
export const HSM_SESSION_POOL_SIZE = 8;
/** Callers waiting for a session before more are refused. */
export const HSM_MAX_WAITING = 4096;
/** Objects read per C_FindObjects call; a label names one key, more is an error. */
const FIND_OBJECTS_MAX = 4;
const RSA_MODULUS_BITS = 2048;

export interface Pkcs11Settings {
  modulePath: string;
  tokenLabel: string;
  pin: string;
}

interface LoadedModule {
  module: pkcs11js.PKCS11;
  users: number;
}

/** C_Initialize once per library per process; C_Finalize when its last user closes. */
const loadedModules = new Map<string, LoadedModule>();

function loadModule(path: string): pkcs11js.PKCS11 {
  const loaded = loadedModules.get(path);
  if (loaded) {
    loaded.users += 1;
    return loaded.module;
  }
  const module = new pkcs11js.PKCS11();
  try {
    module.load(path);
    module.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  } catch (error) {
    throw new CodedError('HSM_UNAVAILABLE', `cannot load PKCS#11 module ${path}: ${(error as Error).message}`, {
      modulePath: path,
    });
  }
  loadedModules.set(path, { module, users: 1 });
  return module;
}

function unloadModule(path: string): void {
  const loaded = loadedModules.get(path);
  if (!loaded) return;
  loaded.users -= 1;
  if (loaded.users > 0) return;
  loadedModules.delete(path);
  loaded.module.C_Finalize();
  loaded.module.close();
}

/** An open, logged-in token with a pool of sessions. */
export class Pkcs11Token {
  readonly module: pkcs11js.PKCS11;
  readonly settings: Pkcs11Settings;
  readonly #idle: Buffer[] = [];
  readonly #all: Buffer[] = [];
  readonly #waiting: ((session: Buffer) => void)[] = [];
  #closed = false;

  private constructor(module: pkcs11js.PKCS11, settings: Pkcs11Settings) {
    this.module = module;
    this.settings = settings;
  }

  static open(settings: Pkcs11Settings, sessions = HSM_SESSION_POOL_SIZE): Pkcs11Token {
    const module = loadModule(settings.modulePath);
    const token = new Pkcs11Token(module, settings);
    try {
      const slot = findSlot(module, settings.tokenLabel);
      for (let index = 0; index < sessions; index++) {
        const session = module.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
        token.#all.push(session);
        token.#idle.push(session);
      }
      login(module, token.#all[0]!, settings);
      return token;
    } catch (error) {
      token.close();
      throw error;
    }
  }

  /** Runs `work` on a pooled session; waits (bounded) when all are busy. */
  async withSession<T>(work: (session: Buffer) => Promise<T> | T): Promise<T> {
    const session = await this.#acquire();
    try {
      return await work(session);
    } finally {
      this.#release(session);
    }
  }

  /** A session for set-up work done before any signing starts (finding keys, generating one). */
  withSessionSync(): Buffer {
    const session = this.#all[0];
    assert(session !== undefined && !this.#closed, 'set-up on an open token');
    return session;
  }

  #acquire(): Promise<Buffer> {
    if (this.#closed)
      return Promise.reject(new SignerUnavailableError('the HSM token is closed', 'unavailable', false));
    const idle = this.#idle.pop();
    if (idle) return Promise.resolve(idle);
    if (this.#waiting.length >= HSM_MAX_WAITING) {
      return Promise.reject(
        new SignerUnavailableError(
          `more than ${HSM_MAX_WAITING} signing requests wait for an HSM session`,
          'overloaded',
          false,
        ),
      );
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  #release(session: Buffer): void {
    const next = this.#waiting.shift();
    if (next) next(session);
    else this.#idle.push(session);
  }

  /** The one object of `objectClass` with this label, or undefined. */
  findObject(session: Buffer, objectClass: number, label: string): Buffer | undefined {
    this.module.C_FindObjectsInit(session, [
      { type: pkcs11js.CKA_CLASS, value: objectClass },
      { type: pkcs11js.CKA_LABEL, value: label },
    ]);
    let found: Buffer[];
    try {
      found = this.module.C_FindObjects(session, FIND_OBJECTS_MAX);
    } finally {
      this.module.C_FindObjectsFinal(session);
    }
    if (found.length > 1)
      throw new CodedError(
        'HSM_KEY_AMBIGUOUS',
        `${found.length} objects on token ${this.settings.tokenLabel} have label ${JSON.stringify(label)}`,
      );
    return found[0];
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const session of this.#all) {
      try {
        this.module.C_CloseSession(session);
      } catch {
        // The session may already be gone with the token; nothing to free.
      }
    }
    unloadModule(this.settings.modulePath);
  }
}

function findSlot(module: pkcs11js.PKCS11, tokenLabel: string): Buffer {
  const labels: string[] = [];
  for (const slot of module.C_GetSlotList(true)) {
    const label = module.C_GetTokenInfo(slot).label.trim();
    if (label === tokenLabel) return slot;
    labels.push(label);
  }
  throw new CodedError(
    'HSM_TOKEN_NOT_FOUND',
    `no PKCS#11 token labelled ${JSON.stringify(tokenLabel)} (tokens present: ${labels.map((l) => JSON.stringify(l)).join(', ') || 'none'})`,
    {
      tokenLabel,
    },
  );
}

function login(module: pkcs11js.PKCS11, session: Buffer, settings: Pkcs11Settings): void {
  try {
    module.C_Login(session, pkcs11js.CKU_USER, settings.pin);
  } catch (error) {
    if ((error as { code?: number }).code === pkcs11js.CKR_USER_ALREADY_LOGGED_IN) return;
    // Never echo the PIN.
    throw new CodedError(
      'HSM_LOGIN_FAILED',
      `login to token ${settings.tokenLabel} failed: ${(error as Error).message}`,
      { tokenLabel: settings.tokenLabel },
    );
  }
}

function attribute(token: Pkcs11Token, session: Buffer, object: Buffer, type: number): Buffer {
  const [value] = token.module.C_GetAttributeValue(session, object, [{ type }]);
  assert(value?.value instanceof Buffer, `attribute ${type} came back without a value`);
  return value.value;
}

/** CK_ULONG attributes come back in the platform's byte order and width (little-endian on the platforms we run on). */
function readKeyType(token: Pkcs11Token, session: Buffer, object: Buffer): number {
  const value = attribute(token, session, object, pkcs11js.CKA_KEY_TYPE);
  return value.readUIntLE(0, Math.min(value.length, 6));
}

/** The algorithm of a key pair on the token, from its key type and curve, and its public key. */
export function readPublicKey(
  token: Pkcs11Token,
  session: Buffer,
  publicObject: Buffer,
): { algorithm: SignatureAlgorithm; publicKey: KeyObject } {
  const keyType = readKeyType(token, session, publicObject);
  if (keyType === pkcs11js.CKK_RSA) {
    const publicKey = rsaPublicKey(
      attribute(token, session, publicObject, pkcs11js.CKA_MODULUS),
      attribute(token, session, publicObject, pkcs11js.CKA_PUBLIC_EXPONENT),
    );
    return { algorithm: 'rsa-sha256', publicKey };
  }
  const point = attribute(token, session, publicObject, pkcs11js.CKA_EC_POINT);
  if (keyType === CKK_EC_EDWARDS) return { algorithm: 'ed25519', publicKey: ed25519PublicKey(point) };
  if (keyType === pkcs11js.CKK_EC) {
    const params = attribute(token, session, publicObject, pkcs11js.CKA_EC_PARAMS);
    if (!params.equals(P256_OID_DER)) throw new CodedError('HSM_KEY_UNSUPPORTED', 'the EC key is not on P-256');
    return { algorithm: 'ecdsa-p256-sha256', publicKey: p256PublicKey(point) };
  }
  throw new CodedError('HSM_KEY_UNSUPPORTED', `key type 0x${keyType.toString(16)} is not Ed25519, RSA or EC P-256`);
}

const MECHANISMS: Readonly<Record<SignatureAlgorithm, number>> = {
  ed25519: CKM_EDDSA,
  'rsa-sha256': pkcs11js.CKM_RSA_PKCS,
  'ecdsa-p256-sha256': pkcs11js.CKM_ECDSA,
};
const SIGNATURE_BUFFER_BYTES: Readonly<Record<SignatureAlgorithm, number>> = {
  ed25519: 64,
  'rsa-sha256': 512,
  'ecdsa-p256-sha256': 132,
};

/** What the token signs for a 32-byte SHA-256 digest (records, and RSA/ECDSA documents). */
function digestInput(algorithm: SignatureAlgorithm, hash: Uint8Array): Buffer {
  return algorithm === 'rsa-sha256' ? Buffer.concat([SHA256_DIGEST_INFO_PREFIX, hash]) : Buffer.from(hash);
}

export interface Pkcs11SignerOptions extends Pkcs11Settings, RemoteCallOptions {
  keyLabel: string;
  kid: string;
  sessions?: number;
  maxInFlight?: number;
}

function hsmError(error: unknown, what: string): SignerUnavailableError {
  if (error instanceof SignerUnavailableError) return error;
  return new SignerUnavailableError(`HSM ${what}: ${(error as Error).message}`, 'unavailable', false);
}

/** Opens the token, finds the key pair by label, and returns a signer for it. */
export function openPkcs11Signer(options: Pkcs11SignerOptions): BackendSigner {
  const token = Pkcs11Token.open(options, options.sessions ?? HSM_SESSION_POOL_SIZE);
  try {
    return pkcs11Signer(token, options);
  } catch (error) {
    token.close();
    throw error;
  }
}

function pkcs11Signer(token: Pkcs11Token, options: Pkcs11SignerOptions): BackendSigner {
  const { kid, keyLabel } = options;
  const { privateKey, algorithm, publicKey } = (() => {
    const session = token.withSessionSync();
    const privateObject = token.findObject(session, pkcs11js.CKO_PRIVATE_KEY, keyLabel);
    const publicObject = token.findObject(session, pkcs11js.CKO_PUBLIC_KEY, keyLabel);
    if (!privateObject || !publicObject) {
      throw new CodedError(
        'HSM_KEY_NOT_FOUND',
        `token ${options.tokenLabel} has no key pair labelled ${JSON.stringify(keyLabel)} (make one with chainbook signers hsm-keygen)`,
        {
          keyLabel,
        },
      );
    }
    return { privateKey: privateObject, ...readPublicKey(token, session, publicObject) };
  })();
  const caller = remoteCaller('pkcs11', (error) => error instanceof SignerUnavailableError && error.retryable, options);
  const mechanism = { mechanism: MECHANISMS[algorithm] };

  const signRaw = (input: Buffer): Promise<Buffer> =>
    caller.call((timeoutMs) =>
      // The timeout wraps the pooled call: a session whose operation is late stays taken until the token answers.
      withTimeout(
        token.withSession(async (session) => {
          try {
            token.module.C_SignInit(session, mechanism, privateKey);
            return await token.module.C_SignAsync(session, input, Buffer.alloc(SIGNATURE_BUFFER_BYTES[algorithm]));
          } catch (error) {
            throw hsmError(error, `C_Sign with key ${keyLabel} failed`);
          }
        }),
        timeoutMs,
        `the HSM (token ${options.tokenLabel})`,
      ),
    );
  const finish = (raw: Buffer): RecordSignature => ({
    kid,
    alg: algorithm,
    // A token returns ECDSA signatures with either S; the chain takes the low-S form only (docs/FORMAT.md section 3).
    value: (algorithm === 'ecdsa-p256-sha256' ? lowSEcdsaDer(ecdsaRawToDer(raw)) : raw).toString('base64'),
  });
  const signOne = async (request: SignRequest): Promise<RecordSignature> =>
    finish(await signRaw(digestInput(algorithm, request.hash)));

  return {
    kid,
    algorithm,
    publicKey,
    description: `PKCS#11 token ${options.tokenLabel}, key ${keyLabel}`,
    sign: (hash, preimage) => signOne({ hash, preimage }),
    signBatch: (requests) => signConcurrently(requests, options.maxInFlight ?? HSM_SESSION_POOL_SIZE * 2, signOne),
    async signMessage(message) {
      // Ed25519 signs the document itself; RSA and ECDSA sign its SHA-256.
      return finish(
        await signRaw(algorithm === 'ed25519' ? Buffer.from(message) : digestInput(algorithm, sha256(message))),
      );
    },
    close: async () => token.close(),
  };
}

/** Templates of a new key pair: the private half stays on the token, sensitive and not extractable. */
function keyTemplates(
  algorithm: SignatureAlgorithm,
  label: string,
  id: Buffer,
): { mechanism: number; publicTemplate: pkcs11js.Template; privateTemplate: pkcs11js.Template } {
  const common = [
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_LABEL, value: label },
    { type: pkcs11js.CKA_ID, value: id },
  ];
  const privateTemplate = [
    ...common,
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: false },
    { type: pkcs11js.CKA_SIGN, value: true },
  ];
  const publicTemplate = [...common, { type: pkcs11js.CKA_VERIFY, value: true }];
  switch (algorithm) {
    case 'ed25519':
      return {
        mechanism: CKM_EC_EDWARDS_KEY_PAIR_GEN,
        publicTemplate: [...publicTemplate, { type: pkcs11js.CKA_EC_PARAMS, value: ED25519_OID_DER }],
        privateTemplate,
      };
    case 'ecdsa-p256-sha256':
      return {
        mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN,
        publicTemplate: [...publicTemplate, { type: pkcs11js.CKA_EC_PARAMS, value: P256_OID_DER }],
        privateTemplate,
      };
    case 'rsa-sha256':
      return {
        mechanism: pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN,
        publicTemplate: [
          ...publicTemplate,
          { type: pkcs11js.CKA_MODULUS_BITS, value: RSA_MODULUS_BITS },
          { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
        ],
        privateTemplate,
      };
  }
}

/**
 * Makes a key pair on the token (`chainbook signers hsm-keygen`). Refuses a
 * label already in use: a second key under one label would make the signer
 * ambiguous. Returns the public key for the registry.
 */
export function generateHsmKeyPair(settings: Pkcs11Settings, label: string, algorithm: SignatureAlgorithm): KeyObject {
  const token = Pkcs11Token.open(settings, 1);
  try {
    const session = token.withSessionSync();
    if (
      token.findObject(session, pkcs11js.CKO_PRIVATE_KEY, label) ||
      token.findObject(session, pkcs11js.CKO_PUBLIC_KEY, label)
    ) {
      throw new CodedError(
        'HSM_KEY_EXISTS',
        `token ${settings.tokenLabel} already has a key labelled ${JSON.stringify(label)}`,
        { label },
      );
    }
    const { mechanism, publicTemplate, privateTemplate } = keyTemplates(algorithm, label, randomBytes(16));
    const pair = token.module.C_GenerateKeyPair(session, { mechanism }, publicTemplate, privateTemplate);
    const read = readPublicKey(token, session, pair.publicKey);
    assert(read.algorithm === algorithm, `generated a ${read.algorithm} key for ${algorithm}`);
    return read.publicKey;
  } finally {
    token.close();
  }
}
