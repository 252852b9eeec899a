/**
 * Contract tests against a real AWS KMS key. They run only when
 * KMS_TEST_KEY_ID names an asymmetric SIGN_VERIFY key (and AWS credentials and
 * AWS_REGION are in the environment); KMS_TEST_ALG gives its algorithm
 * (default ed25519). Without them every test here is skipped, saying so.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256 } from '../../../../chain/hash.ts';
import { isSignatureAlgorithm, verifyMessageSignature, verifySignature } from '../../../../chain/signature.ts';
import { spkiPem } from '../../../../infra/adapters/signers/der.ts';
import { kmsClient, openKmsSigner } from '../../../../infra/adapters/signers/kms.ts';
import { tempDir } from '../../../helpers/runtime.ts';

const keyId = process.env['KMS_TEST_KEY_ID'];
const algorithm = process.env['KMS_TEST_ALG'] ?? 'ed25519';
const contract = keyId === undefined ? test.skip : test;
if (keyId === undefined) {
  console.log(
    'KMS contract suite skipped: set KMS_TEST_KEY_ID (and AWS credentials, AWS_REGION, KMS_TEST_ALG) to run it against a real KMS key',
  );
}

contract('a real KMS key signs records and documents that verify with node:crypto and OpenSSL', async (t) => {
  if (!isSignatureAlgorithm(algorithm))
    throw new Error(`KMS_TEST_ALG must be ed25519, rsa-sha256 or ecdsa-p256-sha256 (got ${algorithm})`);
  const signer = await openKmsSigner({ client: kmsClient(), keyId: keyId!, kid: 'kms-contract', algorithm });
  t.teardown(() => signer.close());
  const preimage = Buffer.from('{"contract":"chainbook"}');
  const hash = sha256(preimage);
  const signature = await signer.sign(hash, preimage);
  t.true(verifySignature(algorithm, signer.publicKey!, hash, preimage, Buffer.from(signature.value, 'base64')));
  const document = Buffer.from('{"proof_id":"contract"}');
  const documentSignature = await signer.signMessage(document);
  t.true(
    verifyMessageSignature(algorithm, signer.publicKey!, document, Buffer.from(documentSignature.value, 'base64')),
  );
  const batch = await signer.signBatch(Array.from({ length: 20 }, () => ({ hash, preimage })));
  t.is(batch.length, 20);

  const folder = tempDir('kms-contract');
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  writeFileSync(join(folder, 'pub.pem'), spkiPem(signer.publicKey!));
  writeFileSync(join(folder, 'sig.bin'), Buffer.from(signature.value, 'base64'));
  writeFileSync(join(folder, 'hash.bin'), hash);
  writeFileSync(join(folder, 'preimage.bin'), preimage);
  const args =
    algorithm === 'ed25519'
      ? ['pkeyutl', '-verify', '-pubin', '-inkey', 'pub.pem', '-rawin', '-in', 'hash.bin', '-sigfile', 'sig.bin']
      : ['dgst', '-sha256', '-verify', 'pub.pem', '-signature', 'sig.bin', 'preimage.bin'];
  t.regex(
    execFileSync('openssl', args, { cwd: folder }).toString(),
    /Verif(ied|ication) OK|Signature Verified Successfully/,
  );
});
