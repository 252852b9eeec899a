/**
 * The KMS client mock (aws-sdk-client-mock) in a CLI process: loaded with `--import` (after tsx), it
 * makes every KMSClient of the process answer from KMS_MOCK_MODE instead of calling AWS:
 *   key      GetPublicKey answers KMS_MOCK_PUBLIC_KEY (SPKI DER, base64) for KMS_MOCK_ALG
 *   empty    GetPublicKey answers nothing (no key, usage or algorithms)
 *   timeout  every call fails as the SDK's TimeoutError does
 * For scripts around the CLI (test/scripts/updateSignersFromKms.int.test.ts); in-process tests use
 * mockClient directly.
 */
import { GetPublicKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';

const SIGNING_ALGORITHMS: Record<string, { keySpec: string; signing: string }> = {
  ed25519: { keySpec: 'ECC_NIST_EDWARDS25519', signing: 'ED25519_SHA_512' },
  'rsa-sha256': { keySpec: 'RSA_2048', signing: 'RSASSA_PKCS1_V1_5_SHA_256' },
  'ecdsa-p256-sha256': { keySpec: 'ECC_NIST_P256', signing: 'ECDSA_SHA_256' },
};

const kms = mockClient(KMSClient);
const mode = process.env['KMS_MOCK_MODE'];
if (mode === 'key') {
  const algorithm = SIGNING_ALGORITHMS[process.env['KMS_MOCK_ALG'] ?? ''];
  if (!algorithm) throw new Error('KMS_MOCK_ALG must name an algorithm of the registry');
  kms.on(GetPublicKeyCommand).callsFake((input: { KeyId?: string }) => ({
    KeyId: `arn:aws:kms:eu-west-1:111122223333:key/${input.KeyId ?? ''}`,
    KeySpec: algorithm.keySpec,
    KeyUsage: 'SIGN_VERIFY',
    SigningAlgorithms: [algorithm.signing],
    PublicKey: Buffer.from(process.env['KMS_MOCK_PUBLIC_KEY'] ?? '', 'base64'),
  }));
} else if (mode === 'empty') {
  kms.on(GetPublicKeyCommand).resolves({});
} else if (mode === 'timeout') {
  kms.onAnyCommand().rejects(Object.assign(new Error('Connection timed out after 2000 ms'), { name: 'TimeoutError' }));
} else {
  throw new Error(`KMS_MOCK_MODE must be key, empty or timeout (got ${JSON.stringify(mode)})`);
}
