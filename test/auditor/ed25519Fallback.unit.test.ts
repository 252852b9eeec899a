/**
 * The checker's Ed25519 verdicts are the same with the browser's WebCrypto and
 * with the page's pure-JS fallback (@noble/ed25519, as the page inlines it):
 * over the Wycheproof vectors, over a forgery under a key of small order
 * (which WebCrypto's cofactorless check accepts for any message), and over a
 * signature whose R has a small-order component (which a cofactored check
 * accepts and WebCrypto refuses). The fallback is forced as a browser without
 * Ed25519 forces it: WebCrypto's importKey refuses Ed25519 with
 * NotSupportedError.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { Point, etc, hashes } from '@noble/ed25519';
import * as checker from '../../auditor/checker.mjs';
import { parseVerifierKey } from '../../chain/cosignature.ts';
import { sha256 } from '../../chain/hash.ts';
import { parseRegistryText } from '../../chain/registry.ts';
import { ed25519FallbackSource } from '../../infra/adapters/files/auditorPage.ts';

const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const L = Point.CURVE().n;
const fallback = new Function(`return ${ed25519FallbackSource().expression}`)() as checker.Ed25519Fallback;
const subtle = globalThis.crypto.subtle;
const importKey = subtle.importKey.bind(subtle);

let fallbackUsed = false;

type Verdict = 'key refused' | boolean | 'high-s';

function pemOf(raw: Uint8Array): string {
  const der = Buffer.concat([ED25519_SPKI_PREFIX, raw]).toString('base64');
  return `-----BEGIN PUBLIC KEY-----\n${der}\n-----END PUBLIC KEY-----\n`;
}

/** A browser without Ed25519 in WebCrypto: importKey refuses it as one does. */
function withoutWebCryptoEd25519(): () => void {
  const original = importKey as (...args: unknown[]) => Promise<unknown>;
  (subtle as unknown as { importKey: unknown }).importKey = (...args: unknown[]) => {
    const algorithm = args[2] as string | { name: string };
    const name = typeof algorithm === 'string' ? algorithm : algorithm.name;
    return name === 'Ed25519'
      ? Promise.reject(new DOMException('Algorithm: Unrecognized name', 'NotSupportedError'))
      : original(...args);
  };
  checker.useEd25519Fallback(fallback);
  return () => {
    delete (subtle as unknown as { importKey?: unknown }).importKey;
    checker.useEd25519Fallback(undefined);
  };
}

async function verdict(raw: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<Verdict> {
  const imported = await checker.importPublicKey('ed25519', pemOf(raw));
  if (!('key' in imported) || !imported.key) return 'key refused';
  return checker.verifySignature(imported.key, message, signature);
}

/** The verdicts with WebCrypto's Ed25519, then with the fallback alone. */
async function bothVerdicts(raw: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<[Verdict, Verdict]> {
  const webCrypto = await verdict(raw, message, signature);
  const restore = withoutWebCryptoEd25519();
  try {
    const pureJs = await verdict(raw, message, signature);
    fallbackUsed ||= checker.ed25519FallbackUsed() !== undefined;
    return [webCrypto, pureJs];
  } finally {
    restore();
  }
}

const bytesToNumberLE = (bytes: Uint8Array): bigint =>
  bytes.reduceRight((value, byte) => (value << 8n) | BigInt(byte), 0n);
const numberToBytesLE = (value: bigint): Uint8Array =>
  Uint8Array.from({ length: 32 }, (_, i) => Number((value >> BigInt(8 * i)) & 0xffn));

/** The eight points of small order, each with every encoding of it (sign bit set and clear, y and y + p where below 2^255). */
function smallOrderEncodings(): Uint8Array[] {
  const order8 = Point.fromBytes(etc.hexToBytes('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a'));
  const encodings: Uint8Array[] = [];
  let point = Point.ZERO;
  for (let i = 0; i < 8; i += 1, point = point.add(order8)) {
    const canonical = point.toBytes();
    const y = bytesToNumberLE(canonical) & ((1n << 255n) - 1n);
    for (const value of [y, y + (2n ** 255n - 19n)].filter((v) => v < 2n ** 255n))
      for (const sign of [0, 0x80]) {
        const bytes = numberToBytesLE(value);
        bytes[31]! |= sign;
        encodings.push(bytes);
      }
  }
  return encodings;
}

test.serial(
  'Wycheproof Ed25519: the same verdict with WebCrypto and with the fallback, and the one the vector expects',
  async (t) => {
    const file = JSON.parse(
      readFileSync(new URL('../outsideVectors/wycheproof/ed25519_test.json', import.meta.url), 'utf8'),
    ) as {
      testGroups: { publicKey: { pk: string }; tests: { tcId: number; msg: string; sig: string; result: string }[] }[];
    };
    let cases = 0;
    for (const group of file.testGroups) {
      const raw = etc.hexToBytes(group.publicKey.pk);
      for (const vector of group.tests) {
        const [webCrypto, pureJs] = await bothVerdicts(raw, etc.hexToBytes(vector.msg), etc.hexToBytes(vector.sig));
        t.is(pureJs, webCrypto, `tcId ${vector.tcId}`);
        t.is(webCrypto === true, vector.result === 'valid', `tcId ${vector.tcId}`);
        cases += 1;
      }
    }
    t.true(cases > 100);
    t.true(fallbackUsed, 'the fallback verified');
  },
);

test.serial(
  'a key of small order is refused with WebCrypto and with the fallback: the forgery (R the identity, S = 0) that verifies under it for any message is no verdict',
  async (t) => {
    const identitySignature = new Uint8Array(64);
    identitySignature[0] = 1;
    const encodings = smallOrderEncodings();
    t.true(encodings.length >= 14);
    for (const raw of encodings) {
      const [webCrypto, pureJs] = await bothVerdicts(raw, new TextEncoder().encode('any message'), identitySignature);
      t.is(webCrypto, 'key refused', etc.bytesToHex(raw));
      t.is(pureJs, 'key refused', etc.bytesToHex(raw));
      // A witness key of small order opens nothing either.
      const name = 'witness.example';
      const blob = new Uint8Array([0x04, ...raw]);
      const keyHash = new Uint8Array(
        await crypto.subtle.digest('SHA-256', new Uint8Array([...new TextEncoder().encode(name), 0x0a, 0x04, ...raw])),
      ).slice(0, 4);
      const vkey = `${name}+${etc.bytesToHex(keyHash)}+${Buffer.from(blob).toString('base64')}`;
      t.is(await checker.parseWitnessKey(vkey), undefined, etc.bytesToHex(raw));
      // Chainbook's Node verifier refuses the same keys: as a registry signer and as a witness or log key.
      const signers = {
        signers: [
          {
            signer_kid: 'small-order',
            algorithm: 'ed25519',
            public_key_pem: pemOf(raw),
            deployedAt: '2026-01-01T00:00:00Z',
            retiredAt: null,
          },
        ],
      };
      t.throws(() => parseRegistryText(JSON.stringify(signers)), { message: /small order|not canonically/ });
      t.is(parseVerifierKey(sha256, vkey), undefined, etc.bytesToHex(raw));
    }
    // An ordinary key is taken by both.
    const ordinary = etc.hexToBytes('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
    t.deepEqual(await bothVerdicts(ordinary, new Uint8Array(), new Uint8Array(64)), [false, false]);
  },
);

test.serial(
  "a signature whose R has a small-order component (by the key's holder): refused with WebCrypto and with the fallback alike",
  async (t) => {
    const secret = etc.hexToBytes('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
    const expanded = new Uint8Array(await crypto.subtle.digest('SHA-512', secret));
    const head = expanded.slice(0, 32);
    head[0]! &= 248;
    head[31]! &= 127;
    head[31]! |= 64;
    const a = etc.mod(bytesToNumberLE(head), L);
    const publicKey = Point.BASE.multiply(a).toBytes();
    const torsion = Point.fromBytes(etc.hexToBytes('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a'));
    const message = new TextEncoder().encode('a bundle that passes only where WebCrypto lacks Ed25519');
    for (const r of [1234567n, 7654321n, 99999989n]) {
      const R = Point.BASE.multiply(r).add(torsion).toBytes();
      const k = etc.mod(bytesToNumberLE(await hashes.sha512Async(etc.concatBytes(R, publicKey, message))), L);
      const signature = etc.concatBytes(R, numberToBytesLE(etc.mod(r + k * a, L)));
      const [webCrypto, pureJs] = await bothVerdicts(publicKey, message, signature);
      t.is(webCrypto, false);
      t.is(pureJs, false, 'the fallback gives the verdict WebCrypto gives');
    }
    // The same key signing honestly verifies both ways.
    const r = 31337n;
    const R = Point.BASE.multiply(r).toBytes();
    const k = etc.mod(bytesToNumberLE(await hashes.sha512Async(etc.concatBytes(R, publicKey, message))), L);
    const signature = etc.concatBytes(R, numberToBytesLE(etc.mod(r + k * a, L)));
    t.deepEqual(await bothVerdicts(publicKey, message, signature), [true, true]);
  },
);
