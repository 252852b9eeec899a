import { spawnSync } from 'node:child_process';
import { createHash, createSecretKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { encryptEnvelope } from '../../../../commands/delivery/deliveryEnvelope.ts';
import { deliveryKeyOf } from '../../../../commands/orders/deliveryKey.ts';
import { runCli } from '../../../helpers/cli.ts';
import { tempDir } from '../../../helpers/runtime.ts';

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

async function* once(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  yield bytes;
}

/** A buyer's key pair (private key as PEM in `directory`) and an envelope of `artifact` for it. */
async function delivered(directory: string, name: string, type: 'rsa' | 'x25519', artifact: Buffer) {
  const pair =
    type === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: 3072 })
      : (generateKeyPairSync('x25519') as { publicKey: KeyObject; privateKey: KeyObject });
  const keyPath = join(directory, `${name}.pem`);
  writeFileSync(keyPath, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const recipient = deliveryKeyOf(pair.publicKey.export({ type: 'spki', format: 'pem' }) as string);
  const parts: Uint8Array[] = [];
  for await (const part of encryptEnvelope(once(artifact), recipient, {
    sizeBytes: artifact.length,
    artifactSha256: sha256(artifact),
  }))
    parts.push(part);
  const envelopePath = join(directory, `${name}.delivery`);
  writeFileSync(envelopePath, Buffer.concat(parts));
  return { keyPath, envelopePath };
}

test('delivery decrypt opens RSA-3072 and X25519 envelopes to the exact bytes; tampering or another key exits 1 leaving nothing; an unreadable key exits 2', async (t) => {
  const directory = tempDir('delivery-cli');
  t.teardown(() => rmSync(directory, { recursive: true, force: true }));
  const artifact = randomBytes(2_500_000);
  const rsa = await delivered(directory, 'rsa', 'rsa', artifact);
  const x25519 = await delivered(directory, 'x25519', 'x25519', artifact);
  for (const [name, buyer] of [
    ['rsa', rsa],
    ['x25519', x25519],
  ] as const) {
    const out = join(directory, `${name}.out`);
    const result = await runCli([
      'delivery',
      'decrypt',
      '--in',
      buyer.envelopePath,
      '--key',
      buyer.keyPath,
      '--out',
      out,
    ]);
    t.is(result.code, 0, result.stderr);
    t.is(sha256(readFileSync(out)), sha256(artifact), name);
  }
  const tampered = readFileSync(rsa.envelopePath);
  tampered[tampered.length - 100]! ^= 1;
  writeFileSync(join(directory, 'tampered.delivery'), tampered);
  for (const [what, input, key] of [
    ['a flipped byte', join(directory, 'tampered.delivery'), rsa.keyPath],
    ['another key', rsa.envelopePath, x25519.keyPath],
  ] as const) {
    const out = join(directory, 'refused.out');
    const result = await runCli(['delivery', 'decrypt', '--in', input, '--key', key, '--out', out]);
    t.is(result.code, 1, what);
    t.regex(result.stderr, /DELIVERY_DECRYPTION_FAILED|decryption failed/, what);
    t.false(existsSync(out), `${what}: nothing written`);
  }
  const missing = await runCli(['delivery', 'decrypt', '--in', rsa.envelopePath, '--key', join(directory, 'nope.pem')]);
  t.is(missing.code, 2);
});

/** An envelope to a managed data key, and the key as the key route answers it (JSON), in `directory`. */
async function managedEnvelope(directory: string, artifact: Buffer) {
  const dataKey = randomBytes(32);
  const parts: Uint8Array[] = [];
  for await (const part of encryptEnvelope(
    once(artifact),
    { alg: 'A256KW', key: createSecretKey(dataKey), kid: 'dk-1' },
    { sizeBytes: artifact.length, artifactSha256: sha256(artifact) },
  ))
    parts.push(part);
  const envelopePath = join(directory, 'managed-recipe.delivery');
  writeFileSync(envelopePath, Buffer.concat(parts));
  const keyPath = join(directory, 'managed-recipe.json');
  writeFileSync(keyPath, JSON.stringify({ jwk: { kty: 'oct', k: dataKey.toString('base64url'), alg: 'A256KW' } }));
  return { envelopePath, keyPath };
}

test('delivery decrypt opens a managed-key (Option B) envelope with the JSON the key route answers; a wrong key exits 1, a malformed one 2', async (t) => {
  const directory = tempDir('delivery-cli-managed');
  t.teardown(() => rmSync(directory, { recursive: true, force: true }));
  const artifact = randomBytes(1_500_000);
  const dataKey = randomBytes(32);
  const parts: Uint8Array[] = [];
  for await (const part of encryptEnvelope(
    once(artifact),
    { alg: 'A256KW', key: createSecretKey(dataKey), kid: 'dk-1' },
    { sizeBytes: artifact.length, artifactSha256: sha256(artifact) },
  ))
    parts.push(part);
  const envelope = join(directory, 'managed.delivery');
  writeFileSync(envelope, Buffer.concat(parts));
  const answer = (key: Buffer) =>
    JSON.stringify({
      orderId: 'o-1',
      keyId: 'dk-1',
      jwk: { kty: 'oct', k: key.toString('base64url'), alg: 'A256KW', kid: 'dk-1' },
    });
  writeFileSync(join(directory, 'key.json'), answer(dataKey));
  writeFileSync(join(directory, 'wrong.json'), answer(randomBytes(32)));
  writeFileSync(join(directory, 'short.json'), answer(randomBytes(16)));
  const out = join(directory, 'managed.out');
  const opened = await runCli([
    'delivery',
    'decrypt',
    '--in',
    envelope,
    '--key',
    join(directory, 'key.json'),
    '--out',
    out,
  ]);
  t.is(opened.code, 0, opened.stderr);
  t.is(sha256(readFileSync(out)), sha256(artifact));
  const wrong = await runCli(['delivery', 'decrypt', '--in', envelope, '--key', join(directory, 'wrong.json')]);
  t.is(wrong.code, 1, wrong.stderr);
  const short = await runCli(['delivery', 'decrypt', '--in', envelope, '--key', join(directory, 'short.json')]);
  t.is(short.code, 2, short.stderr);
});

test("docs/FORMAT.md section 11's recipe opens an envelope with Node.js and jose alone", async (t) => {
  const format = readFileSync(new URL('../../../../docs/FORMAT.md', import.meta.url), 'utf8');
  const script = /^```js example=open-delivery\n([\s\S]*?)\n```$/m.exec(format)?.[1];
  t.truthy(script, 'the recipe block is in docs/FORMAT.md');
  const directory = tempDir('delivery-recipe');
  // Beside node_modules, so that the script's `import 'jose'` resolves as it would in a buyer's project.
  const scripts = join(process.cwd(), 'node_modules', '.cache', 'chainbook-test');
  mkdirSync(scripts, { recursive: true });
  const scriptPath = join(scripts, `open-delivery-${process.pid}.mjs`);
  writeFileSync(scriptPath, `${script!}\n`);
  t.teardown(() => {
    rmSync(directory, { recursive: true, force: true });
    rmSync(scriptPath, { force: true });
  });
  const artifact = randomBytes(1_500_000);
  for (const type of ['rsa', 'x25519'] as const) {
    const buyer = await delivered(directory, type, type, artifact);
    const out = join(directory, `${type}.out`);
    const result = spawnSync(process.execPath, [scriptPath, buyer.envelopePath, buyer.keyPath, out], {
      encoding: 'utf8',
    });
    t.is(result.status, 0, result.stderr);
    t.is(sha256(readFileSync(out)), sha256(artifact), type);
  }
  const managed = await managedEnvelope(directory, artifact);
  const out = join(directory, 'managed.out');
  const result = spawnSync(process.execPath, [scriptPath, managed.envelopePath, managed.keyPath, out], {
    encoding: 'utf8',
  });
  t.is(result.status, 0, result.stderr);
  t.is(sha256(readFileSync(out)), sha256(artifact), 'managed key');
});

test('delivery sweep deletes the ciphertexts past the lifetime from the delivery folder and keeps the others', async (t) => {
  const dataDir = tempDir('delivery-sweep');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const folder = join(dataDir, 'deliveries', 'deliveries', 'o-1');
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, 'old'), 'ciphertext');
  writeFileSync(join(folder, 'fresh'), 'ciphertext');
  // Writes that never finished (a crash mid-preparation): an old one is cleaned, a recent one (in progress) kept.
  writeFileSync(join(folder, '.tmp-1-abcdef'), 'partial');
  writeFileSync(join(folder, '.tmp-2-abcdef'), 'partial');
  const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
  utimesSync(join(folder, 'old'), twoDaysAgo, twoDaysAgo);
  utimesSync(join(folder, '.tmp-1-abcdef'), twoDaysAgo, twoDaysAgo);
  const env = { CHAINBOOK_DATA_DIR: dataDir };
  const swept = await runCli(['delivery', 'sweep', '--lifetime', '1d'], { env });
  t.is(swept.code, 0, swept.stderr);
  t.regex(swept.stdout, /^delivery sweep: 1 ciphertexts older than 86400 s deleted from /);
  t.false(existsSync(join(folder, 'old')));
  t.true(existsSync(join(folder, 'fresh')));
  t.false(existsSync(join(folder, '.tmp-1-abcdef')), 'an old partial write is removed');
  t.true(existsSync(join(folder, '.tmp-2-abcdef')), 'a write in progress is left alone');
  const bad = await runCli(['delivery', 'sweep', '--lifetime', 'forever'], { env });
  t.is(bad.code, 2, bad.stderr);
});
