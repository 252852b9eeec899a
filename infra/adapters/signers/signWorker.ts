/**
 * A signing thread for an in-process Ed25519 key: signs batches of record
 * hashes off the main thread. Hashes arrive packed (32 bytes each) and
 * signatures leave packed (64 bytes each), both transferred, not copied.
 */
import { createPrivateKey, sign } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';

const HASH_BYTES = 32;
const SIGNATURE_BYTES = 64;
const privateKey = createPrivateKey({
  key: Buffer.from((workerData as { pkcs8: Uint8Array }).pkcs8),
  format: 'der',
  type: 'pkcs8',
});

parentPort!.on('message', ({ id, hashes }: { id: number; hashes: ArrayBuffer }) => {
  const count = hashes.byteLength / HASH_BYTES;
  const signatures = new Uint8Array(count * SIGNATURE_BYTES);
  for (let index = 0; index < count; index++) {
    signatures.set(
      sign(null, new Uint8Array(hashes, index * HASH_BYTES, HASH_BYTES), privateKey),
      index * SIGNATURE_BYTES,
    );
  }
  parentPort!.postMessage({ id, signatures: signatures.buffer }, [signatures.buffer]);
});
