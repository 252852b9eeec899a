/**
 * Ed25519 on the hot path: node:crypto (OpenSSL) against @noble/ed25519
 * (pure JS), sign and verify over 32-byte record hashes, one core, in the
 * same run. The faster one signs and verifies records (chain/signature.ts,
 * infra/adapters/signers/local.ts).
 */
import { createHash, generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';
import * as noble from '@noble/ed25519';
import { format, opensslEd25519 } from './lib.ts';

const OPERATIONS = Number(process.env['BENCH_CRYPTO_OPERATIONS'] ?? 5000);

function rate(operations: number, run: (index: number) => void): number {
  const started = performance.now();
  for (let index = 0; index < operations; index++) run(index);
  return Math.round((operations * 1000) / (performance.now() - started));
}

export interface CryptoFigures {
  nodeSign: number;
  nodeVerify: number;
  nobleSign: number;
  nobleVerify: number;
  opensslSign: number;
  opensslVerify: number;
}

export function cryptoBenchmark(log: (line: string) => void): CryptoFigures {
  noble.hashes.sha512 = (message: Uint8Array) => new Uint8Array(createHash('sha512').update(message).digest());
  const hashes = Array.from({ length: 64 }, () => randomBytes(32));
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const nodeSignatures = hashes.map((hash) => sign(null, hash, privateKey));
  const secret = noble.utils.randomSecretKey();
  const noblePublic = noble.getPublicKey(secret);
  const nobleSignatures = hashes.map((hash) => noble.sign(hash, secret));

  const figures: CryptoFigures = {
    nodeSign: rate(OPERATIONS, (i) => sign(null, hashes[i % 64]!, privateKey)),
    nodeVerify: rate(OPERATIONS, (i) => verify(null, hashes[i % 64]!, publicKey, nodeSignatures[i % 64]!)),
    nobleSign: rate(OPERATIONS / 5, (i) => noble.sign(hashes[i % 64]!, secret)),
    nobleVerify: rate(OPERATIONS / 5, (i) => noble.verify(nobleSignatures[i % 64]!, hashes[i % 64]!, noblePublic)),
    ...(() => {
      const openssl = opensslEd25519();
      return { opensslSign: openssl.signPerSecond, opensslVerify: openssl.verifyPerSecond };
    })(),
  };
  log(`node:crypto  sign ${format(figures.nodeSign)}/s, verify ${format(figures.nodeVerify)}/s`);
  log(`@noble      sign ${format(figures.nobleSign)}/s, verify ${format(figures.nobleVerify)}/s`);
  log(`openssl     sign ${format(figures.opensslSign)}/s, verify ${format(figures.opensslVerify)}/s (one core)`);
  return figures;
}
