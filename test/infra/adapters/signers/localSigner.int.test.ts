import test from 'ava';
import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CodedError } from '../../../../domain/errors.ts';
import { sha256 } from '../../../../chain/hash.ts';
import { verifyMessageSignature, verifySignature } from '../../../../chain/signature.ts';
import { LOCAL_KEY_FILE, openLocalSigner } from '../../../../infra/adapters/signers/local.ts';
import { loadRegistryFile } from '../../../../infra/adapters/signers/registryFile.ts';
import { tempDir } from '../../../helpers/runtime.ts';

function open(dataDir: string, production = false) {
  return openLocalSigner({ dataDir, registryPath: join(dataDir, 'signers.json'), production });
}

test('makes an Ed25519 key with mode 0600 on first start, publishes it, and reuses it after', (t) => {
  const dataDir = tempDir('signer');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const first = open(dataDir);
  t.is(statSync(join(dataDir, LOCAL_KEY_FILE)).mode & 0o777, 0o600);
  t.regex(first.signer.kid, /^local-ed25519-[0-9a-f]{12}$/);
  const published = loadRegistryFile(join(dataDir, 'signers.json')).signers.get(first.signer.kid);
  t.is(published?.algorithm, 'ed25519');
  t.notRegex(readFileSync(join(dataDir, 'signers.json'), 'utf8'), /PRIVATE/);
  t.is(open(dataDir).signer.kid, first.signer.kid);
  t.is(loadRegistryFile(join(dataDir, 'signers.json')).signers.size, 1);
});

test('is refused when NODE_ENV=production, before any key is made', (t) => {
  const dataDir = tempDir('signer');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const error = t.throws(() => open(dataDir, true), { instanceOf: CodedError });
  t.is(error.code, 'LOCAL_SIGNER_REFUSED');
  t.throws(() => statSync(join(dataDir, LOCAL_KEY_FILE)));
});

test('refuses a key file others can read', (t) => {
  const dataDir = tempDir('signer');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  open(dataDir);
  chmodSync(join(dataDir, LOCAL_KEY_FILE), 0o644);
  t.throws(() => open(dataDir), { message: /readable by others.*chmod 600/ });
});

test('record and document signatures verify with node:crypto and with OpenSSL alone', async (t) => {
  const dataDir = tempDir('signer');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const { signer, registry } = open(dataDir);
  const publicKey = registry.signers.get(signer.kid)!;
  const preimage = Buffer.from('{"example":1}');
  const hash = sha256(preimage);
  const recordSig = await signer.sign(hash, preimage);
  t.like(recordSig, { kid: signer.kid, alg: 'ed25519' });
  t.true(verifySignature('ed25519', publicKey.publicKey, hash, preimage, Buffer.from(recordSig.value, 'base64')));
  const document = Buffer.from('{"proof_id":"p1"}');
  const documentSig = await signer.signMessage(document);
  t.true(verifyMessageSignature('ed25519', publicKey.publicKey, document, Buffer.from(documentSig.value, 'base64')));

  const files = { pub: join(dataDir, 'pub.pem'), msg: join(dataDir, 'hash.bin'), sig: join(dataDir, 'sig.bin') };
  writeFileSync(files.pub, publicKey.publicKeyPem);
  const openssl = (message: Buffer, signature: string): string => {
    writeFileSync(files.msg, message);
    writeFileSync(files.sig, Buffer.from(signature, 'base64'));
    return execFileSync('openssl', [
      'pkeyutl',
      '-verify',
      '-pubin',
      '-inkey',
      files.pub,
      '-rawin',
      '-in',
      files.msg,
      '-sigfile',
      files.sig,
    ]).toString();
  };
  t.regex(openssl(hash, recordSig.value), /Signature Verified Successfully/);
  t.regex(openssl(document, documentSig.value), /Signature Verified Successfully/);
  t.throws(() => openssl(Buffer.concat([hash.subarray(0, 31), Buffer.from([hash[31]! ^ 1])]), recordSig.value));
});
