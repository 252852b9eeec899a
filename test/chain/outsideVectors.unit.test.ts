/**
 * Outside test vectors (test/outsideVectors/README.md): Wycheproof's
 * signature tests through chain/signature.ts, and the RFC 8785 test data
 * through chain/canonical.ts. Our code must agree with each vector, except
 * where docs/FORMAT.md decides otherwise; those cases are named below.
 */
import test, { type ExecutionContext } from 'ava';
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jcs } from '../../chain/canonical.ts';
import {
  isHighSEcdsa,
  keyMismatch,
  verifyMessageSignature,
  verifySignature,
  type SignatureAlgorithm,
} from '../../chain/signature.ts';

const OUTSIDE = fileURLToPath(new URL('../outsideVectors/', import.meta.url));

interface WycheproofTest {
  tcId: number;
  comment: string;
  flags: string[];
  msg: string;
  sig: string;
  result: 'valid' | 'invalid' | 'acceptable';
}

interface WycheproofFile {
  numberOfTests: number;
  testGroups: { publicKeyDer: string; tests: WycheproofTest[] }[];
}

function wycheproof(name: string): WycheproofFile {
  return JSON.parse(readFileSync(join(OUTSIDE, 'wycheproof', `${name}.json`), 'utf8')) as WycheproofFile;
}

/**
 * Whether chain/signature.ts accepts the signature, through both paths: as a
 * record's (over `hash` and the preimage) and as a document's (over the bytes).
 * Both must give the same answer.
 */
function verdicts(algorithm: SignatureAlgorithm, key: KeyObject, message: Buffer, signature: Buffer): boolean[] {
  const hash = createHash('sha256').update(message).digest();
  // A record's Ed25519 signature is over the 32 hash bytes: the message here is what was signed.
  const signed = algorithm === 'ed25519' ? message : hash;
  return [
    verifySignature(algorithm, key, signed, message, signature),
    verifyMessageSignature(algorithm, key, message, signature),
  ];
}

/** What our format expects of one Wycheproof test: the vector's result, unless the format decides otherwise (why). */
type Expectation = { accept: boolean; why?: string };

function runWycheproof(
  t: ExecutionContext,
  algorithm: SignatureAlgorithm,
  file: string,
  expect: (test: WycheproofTest, signature: Buffer) => Expectation,
): Map<string, number> {
  const document = wycheproof(file);
  const differences = new Map<string, number>();
  let count = 0;
  for (const group of document.testGroups) {
    const key = createPublicKey({ key: Buffer.from(group.publicKeyDer, 'hex'), format: 'der', type: 'spki' });
    t.is(keyMismatch(algorithm, key), undefined, 'the registry would accept the key');
    for (const vector of group.tests) {
      count += 1;
      const signature = Buffer.from(vector.sig, 'hex');
      const expected = expect(vector, signature);
      const [asRecord, asDocument] = verdicts(algorithm, key, Buffer.from(vector.msg, 'hex'), signature);
      const label = `${file} tcId ${vector.tcId} (${vector.result}, ${vector.comment}, ${vector.flags.join(' ')})`;
      t.is(asRecord, expected.accept, `${label}: record`);
      t.is(asDocument, expected.accept, `${label}: document`);
      if (expected.why) differences.set(expected.why, (differences.get(expected.why) ?? 0) + 1);
    }
  }
  t.is(count, document.numberOfTests, 'every test of the file ran');
  return differences;
}

test('Wycheproof ed25519: every valid signature verifies and every invalid one is refused', (t) => {
  const differences = runWycheproof(t, 'ed25519', 'ed25519_test', (vector) => {
    if (vector.result === 'acceptable') throw new Error(`ed25519 tcId ${vector.tcId}: no acceptable case expected`);
    return { accept: vector.result === 'valid' };
  });
  t.is(differences.size, 0);
});

const HIGH_S =
  'docs/FORMAT.md section 3: an ECDSA signature counts only in its low-S form, as (r, n − s) would be a second text of the same record';

test('Wycheproof ecdsa secp256r1 sha256 (DER): every invalid signature is refused; valid ones verify unless their S is high, which our format refuses', (t) => {
  const differences = runWycheproof(t, 'ecdsa-p256-sha256', 'ecdsa_secp256r1_sha256_test', (vector, signature) => {
    if (vector.result === 'acceptable') throw new Error(`ecdsa tcId ${vector.tcId}: no acceptable case expected`);
    if (vector.result === 'valid' && isHighSEcdsa(signature)) return { accept: false, why: HIGH_S };
    return { accept: vector.result === 'valid' };
  });
  // The file holds both forms of its valid signatures; the high-S ones are the only differences.
  t.true((differences.get(HIGH_S) ?? 0) > 0);
  t.deepEqual([...differences.keys()], [HIGH_S]);
});

const MISSING_NULL =
  'RSASSA-PKCS1-v1_5 DigestInfo without the NULL parameter: Wycheproof calls it acceptable; OpenSSL, and so our verifier, refuse it, and our signers always write the NULL (SHA256_DIGEST_INFO_PREFIX)';

test('Wycheproof rsa 2048 sha256 (PKCS#1 v1.5): every valid signature verifies, every invalid one is refused, and the acceptable missing-NULL encoding is refused', (t) => {
  const differences = runWycheproof(t, 'rsa-sha256', 'rsa_signature_2048_sha256_test', (vector) => {
    if (vector.result === 'acceptable') {
      if (!vector.flags.includes('MissingNull')) throw new Error(`rsa tcId ${vector.tcId}: unexpected acceptable case`);
      return { accept: false, why: MISSING_NULL };
    }
    return { accept: vector.result === 'valid' };
  });
  t.deepEqual([...differences.keys()], [MISSING_NULL]);
});

test('RFC 8785 test data: jcs gives each output file, byte for byte, from its input', (t) => {
  const folder = join(OUTSIDE, 'json-canonicalization');
  const names = readdirSync(join(folder, 'input')).sort();
  t.deepEqual(names, readdirSync(join(folder, 'output')).sort());
  t.true(names.length >= 6);
  for (const name of names) {
    const input = readFileSync(join(folder, 'input', name), 'utf8');
    const expected = readFileSync(join(folder, 'output', name));
    t.true(Buffer.from(jcs(JSON.parse(input) as object), 'utf8').equals(expected), name);
  }
});
