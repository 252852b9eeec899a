import test from 'ava';
import { checkSigner, parseRegistry, parseRegistryText, registryJson, RegistryError } from '../../chain/registry.ts';
import { generateKeys, publicPem, registryEntry } from '../helpers/keys.ts';

const ed = generateKeys('ed25519');
const rsa = generateKeys('rsa-sha256');
const ec = generateKeys('ecdsa-p256-sha256');

function problems(document: unknown): readonly string[] {
  try {
    parseRegistry(document);
  } catch (error) {
    if (error instanceof RegistryError) return error.problems;
    throw error;
  }
  return [];
}

test('accepts one signer of each algorithm and round-trips to signers.json', (t) => {
  const document = {
    signers: [
      registryEntry('kernel-audit-ed25519-v1', 'ed25519', ed.publicKey),
      registryEntry('kernel-audit-rsa-v1', 'rsa-sha256', rsa.publicKey, '2025-02-24T00:00:00Z', '2026-02-24T00:00:00Z'),
      registryEntry('finance-ecdsa-v1', 'ecdsa-p256-sha256', ec.publicKey),
    ],
  };
  const registry = parseRegistry(document);
  t.is(registry.signers.size, 3);
  t.deepEqual(registryJson(registry), document);
});

test('rejects a duplicate kid', (t) => {
  const entry = registryEntry('k1', 'ed25519', ed.publicKey);
  t.deepEqual(problems({ signers: [entry, entry] }), ['signers[1].signer_kid: duplicate kid "k1"']);
});

test('rejects a bad PEM and names the entry', (t) => {
  const entry = {
    ...registryEntry('k1', 'ed25519', ed.publicKey),
    public_key_pem: '-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n',
  };
  const found = problems({ signers: [entry] });
  t.is(found.length, 1);
  t.regex(found[0]!, /^signers\[0\]\.public_key_pem: bad PEM/);
});

test('rejects a private key pasted where the public key belongs', (t) => {
  const entry = {
    ...registryEntry('k1', 'ed25519', ed.publicKey),
    public_key_pem: ed.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
  t.regex(problems({ signers: [entry] })[0]!, /must be an SPKI PEM public key/);
});

test('rejects a key that does not fit its algorithm', (t) => {
  const found = problems({
    signers: [
      { ...registryEntry('a', 'ed25519', ed.publicKey), algorithm: 'rsa-sha256' },
      { ...registryEntry('b', 'ecdsa-p256-sha256', ec.publicKey), algorithm: 'ed25519' },
      { ...registryEntry('c', 'ed25519', ed.publicKey), algorithm: 'hmac-sha256' },
    ],
  });
  t.deepEqual(found, [
    'signers[0]: algorithm mismatch: key is ed25519, algorithm rsa-sha256 needs an RSA key',
    'signers[1]: algorithm mismatch: key is ec, algorithm ed25519 needs an Ed25519 key',
    'signers[2].algorithm: must be one of ed25519, rsa-sha256, ecdsa-p256-sha256 (got "hmac-sha256")',
  ]);
});

test('rejects an empty or malformed validity window', (t) => {
  const found = problems({
    signers: [
      registryEntry('a', 'ed25519', ed.publicKey, '2025-02-24T00:00:00Z', '2025-02-24T00:00:00Z'),
      registryEntry('b', 'ed25519', ed.publicKey, 'yesterday'),
      registryEntry('c', 'ed25519', ed.publicKey, '2025-02-24T00:00:00', null),
    ],
  });
  t.deepEqual(found, [
    'signers[0]: retiredAt must be after deployedAt (empty validity window)',
    'signers[1].deployedAt: must be an RFC 3339 timestamp with a zone, e.g. 2025-02-24T00:00:00Z (got "yesterday")',
    'signers[2].deployedAt: must be an RFC 3339 timestamp with a zone, e.g. 2025-02-24T00:00:00Z (got "2025-02-24T00:00:00")',
  ]);
});

test('rejects unknown members, so a misspelt retiredAt cannot be ignored silently', (t) => {
  const entry = { ...registryEntry('a', 'ed25519', ed.publicKey), retired_at: '2026-01-01T00:00:00Z' };
  t.deepEqual(problems({ signers: [entry] }), ['signers[0].retired_at: unknown member']);
});

test('reports every problem of a file at once, and JSON syntax errors clearly', (t) => {
  const error = t.throws(() => parseRegistryText('{"signers": ['), { instanceOf: RegistryError });
  t.regex(error.message, /not JSON/);
  t.is(problems({ signers: [{}, { signer_kid: 'x' }] }).length, 7);
  t.deepEqual(problems([]), ['the document must be an object with a "signers" array']);
});

test('checkSigner applies deployedAt <= ts < retiredAt and the algorithm', (t) => {
  const registry = parseRegistry({
    signers: [registryEntry('k', 'ed25519', ed.publicKey, '2025-01-01T00:00:00Z', '2026-01-01T00:00:00Z')],
  });
  const at = (iso: string): number => Date.parse(iso);
  t.true(checkSigner(registry, 'k', 'ed25519', at('2025-01-01T00:00:00.000Z')).ok);
  t.true(checkSigner(registry, 'k', 'ed25519', at('2025-12-31T23:59:59.999Z')).ok);
  t.like(checkSigner(registry, 'k', 'ed25519', at('2026-01-01T00:00:00.000Z')), {
    ok: false,
    reason: 'outside-validity-window',
  });
  t.like(checkSigner(registry, 'k', 'ed25519', at('2024-12-31T23:59:59.999Z')), {
    ok: false,
    reason: 'outside-validity-window',
  });
  t.like(checkSigner(registry, 'k', 'rsa-sha256', at('2025-06-01T00:00:00.000Z')), {
    ok: false,
    reason: 'algorithm-mismatch',
  });
  t.like(checkSigner(registry, 'other', 'ed25519', at('2025-06-01T00:00:00.000Z')), {
    ok: false,
    reason: 'unknown-signer',
  });
});

test('publicPem of a test key is what the registry stores', (t) => {
  t.is(
    parseRegistry({ signers: [registryEntry('k', 'ed25519', ed.publicKey)] }).signers.get('k')!.publicKeyPem,
    publicPem(ed.publicKey),
  );
});
