/**
 * The local development signer: an Ed25519 key made on first start in the
 * data folder (mode 0600). Refused when NODE_ENV=production: production signs
 * with KMS, an HSM or a signing proxy.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assert, CodedError } from '../../../domain/errors.ts';
import type { RecordSignature } from '../../../chain/record.ts';
import {
  parseRegistry,
  registryEntryJson,
  type RegisteredSigner,
  type SignerRegistry,
} from '../../../chain/registry.ts';
import type { Signer, SignRequest } from '../../../chain/signer.ts';
import { tsWorker } from '../workers/tsWorker.ts';
import { loadRegistryFile, registryFileExists, writeRegistryFile } from './registryFile.ts';

export const LOCAL_KEY_FILE = 'keys/local-ed25519.pem';

/** kid of a local key: stable for the key, recognisable as local. */
export function localKid(publicKey: KeyObject): string {
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  return `local-ed25519-${createHash('sha256').update(spki).digest('hex').slice(0, 12)}`;
}

function readOrCreateKey(dataDir: string): KeyObject {
  const path = join(dataDir, LOCAL_KEY_FILE);
  mkdirSync(join(dataDir, 'keys'), { recursive: true, mode: 0o700 });
  try {
    const { privateKey } = generateKeyPairSync('ed25519');
    // 'wx': two processes starting at once cannot both create a key.
    writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new CodedError(
      'LOCAL_KEY_EXPOSED',
      `${path} is readable by others (mode ${mode.toString(8)}); run chmod 600 ${path}`,
      { path },
    );
  }
  return createPrivateKey(readFileSync(path));
}

/**
 * Batches smaller than this are signed on the calling thread: posting to the
 * signing thread costs more than it saves.
 */
const MIN_THREAD_BATCH = 4;
const ED25519_SIGNATURE_BYTES = 64;
const RECORD_HASH_BYTES = 32;

/**
 * Signs on a worker thread, so the writer seals the next batch while this one
 * is signed (bench/append.ts measures the difference).
 */
function signingThread(privateKey: KeyObject): {
  signHashes(hashes: Uint8Array[]): Promise<string[]>;
  close(): Promise<void>;
} {
  const worker = tsWorker(new URL('./signWorker.ts', import.meta.url), {
    workerData: { pkcs8: privateKey.export({ type: 'pkcs8', format: 'der' }) },
  });
  worker.unref();
  const pending = new Map<number, { resolve: (signatures: string[]) => void; reject: (error: Error) => void }>();
  let nextId = 0;
  /** Once the thread is gone, every request fails at once: a message to a dead worker is never answered. */
  let stopped: Error | undefined;
  const failAll = (error: Error): void => {
    stopped ??= error;
    for (const request of pending.values()) request.reject(error);
    pending.clear();
  };
  worker.on('message', ({ id, signatures }: { id: number; signatures: ArrayBuffer }) => {
    const packed = Buffer.from(signatures);
    const values = Array.from({ length: packed.length / ED25519_SIGNATURE_BYTES }, (_, index) =>
      packed.toString('base64', index * ED25519_SIGNATURE_BYTES, (index + 1) * ED25519_SIGNATURE_BYTES),
    );
    pending.get(id)?.resolve(values);
    pending.delete(id);
  });
  worker.on('error', failAll);
  worker.on('exit', () => failAll(new Error('the signing thread stopped')));
  return {
    signHashes(hashes) {
      if (stopped) return Promise.reject(stopped);
      const id = nextId++;
      const packed = new Uint8Array(hashes.length * RECORD_HASH_BYTES);
      hashes.forEach((hash, index) => packed.set(hash, index * RECORD_HASH_BYTES));
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker.postMessage({ id, hashes: packed.buffer }, [packed.buffer]);
      });
    },
    async close() {
      stopped ??= new Error('the signer is closed');
      await worker.terminate();
    },
  };
}

export function createKeySigner(kid: string, privateKey: KeyObject, options: { thread?: boolean } = {}): Signer {
  assert(privateKey.asymmetricKeyType === 'ed25519', 'the key signer takes Ed25519 keys');
  const signOne = (hash: Uint8Array): RecordSignature => ({
    kid,
    alg: 'ed25519',
    value: sign(null, hash, privateKey).toString('base64'),
  });
  // Started on the first batch that needs it: a CLI command that never appends never starts it.
  let thread: ReturnType<typeof signingThread> | undefined;
  return {
    kid,
    algorithm: 'ed25519',
    sign: async (hash) => signOne(hash),
    async signBatch(requests: readonly SignRequest[]) {
      if (!options.thread || requests.length < MIN_THREAD_BATCH)
        return requests.map((request) => signOne(request.hash));
      thread ??= signingThread(privateKey);
      const values = await thread.signHashes(requests.map((request) => request.hash));
      return values.map((value) => ({ kid, alg: 'ed25519', value }));
    },
    signMessage: async (message) => signOne(message),
    close: async () => thread?.close(),
  };
}

export interface LocalSignerOptions {
  dataDir: string;
  /** The registry file the local key is published in (created or extended when it lacks the key). */
  registryPath: string;
  production: boolean;
  nowMs?: number;
}

/**
 * The local signer, with its public key published in the registry file
 * before its first signature (deployedAt = the moment it was published).
 */
export function openLocalSigner(options: LocalSignerOptions): { signer: Signer; registry: SignerRegistry } {
  if (options.production) {
    throw new CodedError(
      'LOCAL_SIGNER_REFUSED',
      'the local development signer is refused when NODE_ENV=production: configure KMS, an HSM or a signing proxy',
    );
  }
  const privateKey = readOrCreateKey(options.dataDir);
  const publicKey = createPublicKey(privateKey);
  const kid = localKid(publicKey);
  const existing = registryFileExists(options.registryPath)
    ? loadRegistryFile(options.registryPath)
    : { signers: new Map<string, RegisteredSigner>() };
  let registry = existing;
  if (!existing.signers.has(kid)) {
    const entry = {
      signer_kid: kid,
      algorithm: 'ed25519',
      public_key_pem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      deployedAt: new Date(options.nowMs ?? Date.now()).toISOString(),
      retiredAt: null,
      description: 'local development signer (not for production)',
    };
    registry = parseRegistry({ signers: [...[...existing.signers.values()].map(registryEntryJson), entry] });
    writeRegistryFile(options.registryPath, registry);
  }
  return { signer: createKeySigner(kid, privateKey, { thread: true }), registry };
}
