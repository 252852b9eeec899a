/** Archive keys and manifests (docs/FORMAT.md section 8): naming, the exact members, the signed bytes. */
import test from 'ava';
import { generateKeyPairSync, sign } from 'node:crypto';
import { jcs } from '../../chain/canonical.ts';
import { parseRegistry } from '../../chain/registry.ts';
import { batchKey, batchKeyOf, manifestKeyOf, parseArchiveKey } from '../../archive/layout.ts';
import {
  MANIFEST_MEMBERS,
  manifestSignatureProblem,
  manifestText,
  parseManifest,
  signedBytes,
  signManifest,
  type ManifestPayload,
} from '../../archive/manifest.ts';
import { ed25519FromSeed, registryEntry } from '../helpers/keys.ts';

test('batch keys are <service>/<date of the first record>/<chain>-<from 12 digits>-<to 12 digits>.jsonl.gz, and parse back', (t) => {
  const key = batchKey('marketplace', 'main', 1, 10_000, '2026-11-23T23:59:59.999Z');
  t.is(key, 'marketplace/2026-11-23/main-000000000001-000000010000.jsonl.gz');
  t.is(manifestKeyOf(key), 'marketplace/2026-11-23/main-000000000001-000000010000.manifest.json');
  t.is(batchKeyOf(manifestKeyOf(key)), key);
  t.deepEqual(parseArchiveKey(key), {
    service: 'marketplace',
    date: '2026-11-23',
    chain: 'main',
    fromSeq: 1,
    toSeq: 10_000,
    kind: 'batch',
  });
  t.like(parseArchiveKey('finance/2026-11-23/ledger-eu-000000000005-000000000009.manifest.json'), {
    chain: 'ledger-eu',
    fromSeq: 5,
    toSeq: 9,
    kind: 'manifest',
  });
  for (const other of [
    'marketplace/2026-11-23/main-1-2.jsonl.gz',
    'marketplace/main-000000000001-000000000002.jsonl.gz',
    'marketplace/2026-11-23/main-000000000002-000000000001.jsonl.gz',
    'marketplace/2026-11-23/.tmp-1',
    'Marketplace/2026-11-23/main-000000000001-000000000002.jsonl.gz',
  ]) {
    t.is(parseArchiveKey(other), undefined, other);
  }
  t.throws(() => batchKey('marketplace', 'main', 1, 1_000_000_000_000, '2026-11-23T00:00:00.000Z'), {
    message: /12 digits/,
  });
});

const KID = 'archive-test-ed25519-v1';
const keys = ed25519FromSeed(KID);
const registry = parseRegistry({ signers: [registryEntry(KID, 'ed25519', keys.publicKey, '2026-01-01T00:00:00Z')] });
const signer = {
  signMessage: async (message: Uint8Array) => ({
    kid: KID,
    alg: 'ed25519',
    value: sign(null, message, keys.privateKey).toString('base64'),
  }),
};

const payload: ManifestPayload = {
  service: 'marketplace',
  env: 'production',
  version: '0.1.0',
  chain: 'main',
  from_seq: 1,
  to_seq: 3,
  count: 3,
  first_prev_hash: '0'.repeat(64),
  last_hash: 'a'.repeat(64),
  object_sha256: 'b'.repeat(64),
  pii_included: false,
  pii_policy_version: 'pii-2026-01',
  export_ts: '2026-11-23T10:00:00.000Z',
  signer_kid: KID,
  alg: 'ed25519',
};

test('a manifest has exactly the sixteen members of docs/FORMAT.md section 8, is written as its JCS and a line end, and signs the JCS without signature', async (t) => {
  const manifest = await signManifest(payload, signer);
  t.deepEqual(Object.keys(manifest).sort(), [...MANIFEST_MEMBERS].sort());
  const text = manifestText(manifest);
  t.is(text, `${jcs(manifest)}\n`);
  t.is(signedBytes(manifest).toString('utf8'), jcs(payload));
  t.is(text.replace(/,"signature":"[^"]*"/, '').trimEnd(), jcs(payload), 'sed removes exactly the signature member');
  t.deepEqual(parseManifest(Buffer.from(text)), manifest);
  t.is(manifestSignatureProblem(manifest, registry), undefined);
});

test('a manifest is refused for a missing or extra member, a wrong count, a bad label, and its signature for a change, a foreign key or a time outside the window', async (t) => {
  const manifest = await signManifest(payload, signer);
  const { count: _count, ...missing } = manifest;
  t.regex(parseManifest(Buffer.from(JSON.stringify(missing))) as string, /missing \[count\]/);
  t.regex(parseManifest(Buffer.from(JSON.stringify({ ...manifest, note: 'x' }))) as string, /unknown \[note\]/);
  t.is(parseManifest(Buffer.from(JSON.stringify({ ...manifest, count: 4 }))), 'count is not to_seq - from_seq + 1');
  t.regex(parseManifest(Buffer.from(JSON.stringify({ ...manifest, env: 'prod uction' }))) as string, /^env must match/);
  t.regex(parseManifest(Buffer.from('{')) as string, /does not parse as JSON/);
  t.regex(manifestSignatureProblem({ ...manifest, last_hash: 'c'.repeat(64) }, registry)!, /^bad-signature/);
  const foreign = generateKeyPairSync('ed25519');
  t.regex(
    manifestSignatureProblem(
      { ...manifest, signature: sign(null, signedBytes(manifest), foreign.privateKey).toString('base64') },
      registry,
    )!,
    /^bad-signature/,
  );
  t.regex(manifestSignatureProblem({ ...manifest, signer_kid: 'someone-else' }, registry)!, /^unknown-signer/);
  const early = await signManifest({ ...payload, export_ts: '2025-12-31T23:59:59.999Z' }, signer);
  t.regex(manifestSignatureProblem(early, registry)!, /^outside-validity-window/);
});
