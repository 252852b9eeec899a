/**
 * Unit tests of the KMS signer's own logic against a mocked KMS client
 * (aws-sdk-client-mock): request shapes, the public-key cross-check,
 * throttling and retries, timeouts, the circuit breaker. No KMS is called;
 * test/infra/adapters/signers/kms.contract.int.test.ts runs against a real key when KMS_TEST_KEY_ID is set.
 */
import test from 'ava';
import { generateKeyPairSync, sign as nodeSign } from 'node:crypto';
import { GetPublicKeyCommand, KMSClient, SignCommand, type SignCommandInput } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { CodedError } from '../../../../domain/errors.ts';
import { sha256 } from '../../../../chain/hash.ts';
import type { SignatureAlgorithm } from '../../../../chain/signature.ts';
import { verifyMessageSignature, verifySignature } from '../../../../chain/signature.ts';
import { KMS_MAX_RAW_MESSAGE_BYTES, openKmsSigner } from '../../../../infra/adapters/signers/kms.ts';
import { metricsRegistry } from '../../../../infra/adapters/metrics.ts';
import { generateKeys } from '../../../helpers/keys.ts';
import { ecdsaTwins } from '../../../helpers/ecdsa.ts';

const SPECS: Record<SignatureAlgorithm, { keySpec: string; signing: string; messageType: string }> = {
  ed25519: { keySpec: 'ECC_NIST_EDWARDS25519', signing: 'ED25519_SHA_512', messageType: 'RAW' },
  'rsa-sha256': { keySpec: 'RSA_2048', signing: 'RSASSA_PKCS1_V1_5_SHA_256', messageType: 'DIGEST' },
  'ecdsa-p256-sha256': { keySpec: 'ECC_NIST_P256', signing: 'ECDSA_SHA_256', messageType: 'DIGEST' },
};

/** KMS's throttling error as the SDK raises it. */
function throttling(): Error {
  return Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } });
}

function fakeKms(algorithm: SignatureAlgorithm, keys = generateKeys(algorithm)) {
  const kms = mockClient(KMSClient);
  kms.on(GetPublicKeyCommand).resolves({
    KeyId: 'arn:aws:kms:eu-west-1:111122223333:key/test',
    KeySpec: SPECS[algorithm].keySpec as never,
    KeyUsage: 'SIGN_VERIFY',
    SigningAlgorithms: [SPECS[algorithm].signing as never],
    PublicKey: keys.publicKey.export({ type: 'spki', format: 'der' }),
  });
  return { kms, keys };
}

const noWait = {
  retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2 },
  breaker: { failureThreshold: 3, openMs: 60_000 },
};

for (const algorithm of ['ed25519', 'rsa-sha256', 'ecdsa-p256-sha256'] as const) {
  test(`${algorithm}: Sign is called with the key id, ${SPECS[algorithm].signing} and MessageType ${SPECS[algorithm].messageType} over the 32 hash bytes`, async (t) => {
    const { kms, keys } = fakeKms(algorithm);
    t.teardown(() => kms.restore());
    const preimages = new Map<string, Buffer>();
    kms.on(SignCommand).callsFake((input: SignCommandInput) => {
      const message = Buffer.from(input.Message!);
      if (algorithm === 'ed25519') return { Signature: nodeSign(null, message, keys.privateKey) };
      // KMS signs the digest; the double signs the preimage whose SHA-256 it is, which yields the same signature.
      return { Signature: nodeSign('sha256', preimages.get(message.toString('hex'))!, keys.privateKey) };
    });
    const signer = await openKmsSigner({
      client: new KMSClient({ region: 'eu-west-1' }),
      keyId: 'alias/chainbook',
      kid: 'kms-1',
      algorithm,
      ...noWait,
    });
    const preimage = Buffer.from('{"example":1}');
    const hash = sha256(preimage);
    preimages.set(hash.toString('hex'), preimage);
    const signature = await signer.sign(hash, preimage);
    t.like(signature, { kid: 'kms-1', alg: algorithm });
    t.true(verifySignature(algorithm, keys.publicKey, hash, preimage, Buffer.from(signature.value, 'base64')));
    const calls = kms.commandCalls(SignCommand);
    t.is(calls.length, 1);
    const input = calls[0]!.args[0].input;
    t.is(input.KeyId, 'alias/chainbook');
    t.is<string | undefined, string>(input.SigningAlgorithm, SPECS[algorithm].signing);
    t.is<string | undefined, string>(input.MessageType, SPECS[algorithm].messageType);
    t.deepEqual(Buffer.from(input.Message!), hash);
    t.true(
      signer
        .publicKey!.export({ type: 'spki', format: 'der' })
        .equals(keys.publicKey.export({ type: 'spki', format: 'der' })),
    );
  });
}

test('ecdsa-p256-sha256: a KMS signature returned with a high S is recorded in its low-S form', async (t) => {
  const { kms, keys } = fakeKms('ecdsa-p256-sha256');
  t.teardown(() => kms.restore());
  const preimage = Buffer.from('{"example":2}');
  const hash = sha256(preimage);
  const { low, high } = ecdsaTwins(nodeSign('sha256', preimage, { key: keys.privateKey, dsaEncoding: 'ieee-p1363' }));
  kms.on(SignCommand).resolves({ Signature: high });
  const signer = await openKmsSigner({
    client: new KMSClient({ region: 'eu-west-1' }),
    keyId: 'alias/chainbook',
    kid: 'kms-1',
    algorithm: 'ecdsa-p256-sha256',
    ...noWait,
  });
  const signature = await signer.sign(hash, preimage);
  t.is(signature.value, low.toString('base64'));
  t.true(verifySignature('ecdsa-p256-sha256', keys.publicKey, hash, preimage, low));
  t.false(verifySignature('ecdsa-p256-sha256', keys.publicKey, hash, preimage, high));
  t.is((await signer.signMessage(preimage)).value, low.toString('base64'), 'documents too');
});

test('signMessage: Ed25519 signs the document RAW; RSA and ECDSA sign its SHA-256 as a DIGEST', async (t) => {
  for (const algorithm of ['ed25519', 'rsa-sha256'] as const) {
    const { kms, keys } = fakeKms(algorithm);
    const document = Buffer.from('{"proof_id":"p1"}');
    kms.on(SignCommand).callsFake((input: SignCommandInput) => ({
      Signature:
        algorithm === 'ed25519'
          ? nodeSign(null, Buffer.from(input.Message!), keys.privateKey)
          : nodeSign('sha256', document, keys.privateKey),
    }));
    const signer = await openKmsSigner({
      client: new KMSClient({ region: 'eu-west-1' }),
      keyId: 'k',
      kid: 'kms-1',
      algorithm,
      ...noWait,
    });
    const signature = await signer.signMessage(document);
    const input = kms.commandCalls(SignCommand)[0]!.args[0].input;
    t.is(input.MessageType, algorithm === 'ed25519' ? 'RAW' : 'DIGEST');
    t.deepEqual(Buffer.from(input.Message!), algorithm === 'ed25519' ? document : sha256(document));
    t.true(verifyMessageSignature(algorithm, keys.publicKey, document, Buffer.from(signature.value, 'base64')));
    kms.restore();
  }
});

test(`an Ed25519 document over ${KMS_MAX_RAW_MESSAGE_BYTES} bytes is refused with KMS_MESSAGE_TOO_LARGE before any call`, async (t) => {
  const { kms } = fakeKms('ed25519');
  t.teardown(() => kms.restore());
  const signer = await openKmsSigner({
    client: new KMSClient({ region: 'eu-west-1' }),
    keyId: 'k',
    kid: 'kms-1',
    algorithm: 'ed25519',
    ...noWait,
  });
  const error = await t.throwsAsync(signer.signMessage(Buffer.alloc(KMS_MAX_RAW_MESSAGE_BYTES + 1)), {
    instanceOf: CodedError,
  });
  t.is(error.code, 'KMS_MESSAGE_TOO_LARGE');
  t.is(kms.commandCalls(SignCommand).length, 0);
});

test('refuses a key whose spec or public key does not fit the algorithm (SIGNER_KEY_MISMATCH)', async (t) => {
  const kms = mockClient(KMSClient);
  t.teardown(() => kms.restore());
  kms.on(GetPublicKeyCommand).resolves({
    KeySpec: 'ECC_NIST_P256',
    KeyUsage: 'SIGN_VERIFY',
    SigningAlgorithms: ['ECDSA_SHA_256'],
    PublicKey: generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({
      type: 'spki',
      format: 'der',
    }),
  });
  const error = await t.throwsAsync(
    openKmsSigner({
      client: new KMSClient({ region: 'eu-west-1' }),
      keyId: 'k',
      kid: 'kms-1',
      algorithm: 'ed25519',
      ...noWait,
    }),
    {
      instanceOf: CodedError,
    },
  );
  t.is(error.code, 'SIGNER_KEY_MISMATCH');
  t.regex(error.message, /does not offer ED25519_SHA_512/);
});

test('throttling is retried with backoff within the attempt bound, then succeeds', async (t) => {
  const { kms, keys } = fakeKms('ed25519');
  t.teardown(() => kms.restore());
  const throttled = throttling();
  kms
    .on(SignCommand)
    .rejectsOnce(throttled)
    .rejectsOnce(throttled)
    .callsFake((input: SignCommandInput) => ({
      Signature: nodeSign(null, Buffer.from(input.Message!), keys.privateKey),
    }));
  const signer = await openKmsSigner({
    client: new KMSClient({ region: 'eu-west-1' }),
    keyId: 'k',
    kid: 'kms-1',
    algorithm: 'ed25519',
    ...noWait,
  });
  const hash = sha256(Buffer.from('x'));
  await t.notThrowsAsync(signer.sign(hash, Buffer.from('x')));
  t.is(kms.commandCalls(SignCommand).length, 3);
  t.regex(await metricsRegistry.getSingleMetricAsString('kms_errors_total'), /backend="kms",reason="throttled"} 2/);
});

test('throttling beyond the attempt bound fails with SIGNING_UNAVAILABLE; an access error is not retried', async (t) => {
  const { kms } = fakeKms('ed25519');
  t.teardown(() => kms.restore());
  kms.on(SignCommand).rejects(throttling());
  const signer = await openKmsSigner({
    client: new KMSClient({ region: 'eu-west-1' }),
    keyId: 'k',
    kid: 'kms-1',
    algorithm: 'ed25519',
    ...noWait,
    breaker: { failureThreshold: 100, openMs: 1 },
  });
  const error = await t.throwsAsync(signer.sign(sha256(Buffer.from('x')), Buffer.from('x')), {
    instanceOf: CodedError,
  });
  t.is(error.code, 'SIGNING_UNAVAILABLE');
  t.is(kms.commandCalls(SignCommand).length, 3);
  kms.reset();
  kms
    .on(SignCommand)
    .rejects(
      Object.assign(new Error('not allowed'), { name: 'AccessDeniedException', $metadata: { httpStatusCode: 400 } }),
    );
  await t.throwsAsync(signer.sign(sha256(Buffer.from('x')), Buffer.from('x')), { message: /AccessDeniedException/ });
  t.is(kms.commandCalls(SignCommand).length, 1);
});

test('a KMS that does not answer times out per attempt instead of hanging the writer', async (t) => {
  const { kms } = fakeKms('ed25519');
  t.teardown(() => kms.restore());
  kms.on(SignCommand).callsFake(() => new Promise(() => undefined));
  const signer = await openKmsSigner({
    client: new KMSClient({ region: 'eu-west-1' }),
    keyId: 'k',
    kid: 'kms-1',
    algorithm: 'ed25519',
    timeoutMs: 50,
    retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 1 },
    breaker: { failureThreshold: 100, openMs: 1 },
  });
  const started = Date.now();
  const error = await t.throwsAsync(signer.sign(sha256(Buffer.from('x')), Buffer.from('x')), {
    instanceOf: CodedError,
  });
  t.is(error.code, 'SIGNING_UNAVAILABLE');
  t.true(Date.now() - started < 2000);
});

test('the circuit opens after consecutive failures: later calls fail at once without reaching KMS, then one trial closes it', async (t) => {
  const { kms, keys } = fakeKms('ed25519');
  t.teardown(() => kms.restore());
  kms
    .on(SignCommand)
    .rejects(Object.assign(new Error('boom'), { name: 'KMSInternalException', $metadata: { httpStatusCode: 500 } }));
  const signer = await openKmsSigner({
    client: new KMSClient({ region: 'eu-west-1' }),
    keyId: 'k',
    kid: 'kms-1',
    algorithm: 'ed25519',
    retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
    breaker: { failureThreshold: 3, openMs: 200 },
  });
  const hash = sha256(Buffer.from('x'));
  for (let attempt = 0; attempt < 3; attempt++) await t.throwsAsync(signer.sign(hash, Buffer.from('x')));
  t.is(kms.commandCalls(SignCommand).length, 3);
  const open = await t.throwsAsync(
    signer.signBatch(Array.from({ length: 50 }, () => ({ hash, preimage: Buffer.from('x') }))),
    { instanceOf: CodedError },
  );
  t.regex(open.message, /circuit open/);
  t.is(kms.commandCalls(SignCommand).length, 3, 'an open circuit does not call KMS');
  kms.reset();
  kms.on(SignCommand).callsFake((input: SignCommandInput) => ({
    Signature: nodeSign(null, Buffer.from(input.Message!), keys.privateKey),
  }));
  await new Promise((resolve) => setTimeout(resolve, 250));
  await t.notThrowsAsync(signer.sign(hash, Buffer.from('x')));
  t.is((await signer.signBatch(Array.from({ length: 10 }, () => ({ hash, preimage: Buffer.from('x') })))).length, 10);
});

test('a batch is signed with at most maxInFlight Sign calls outstanding, results in request order', async (t) => {
  const { kms, keys } = fakeKms('ed25519');
  t.teardown(() => kms.restore());
  let inFlight = 0;
  let peak = 0;
  kms.on(SignCommand).callsFake(async (input: SignCommandInput) => {
    inFlight += 1;
    peak = Math.max(peak, inFlight);
    await new Promise((resolve) => setTimeout(resolve, 2));
    inFlight -= 1;
    return { Signature: nodeSign(null, Buffer.from(input.Message!), keys.privateKey) };
  });
  const signer = await openKmsSigner({
    client: new KMSClient({ region: 'eu-west-1' }),
    keyId: 'k',
    kid: 'kms-1',
    algorithm: 'ed25519',
    maxInFlight: 8,
    ...noWait,
  });
  const requests = Array.from({ length: 100 }, (_, index) => {
    const preimage = Buffer.from(`record ${index}`);
    return { hash: sha256(preimage), preimage };
  });
  const signatures = await signer.signBatch(requests);
  t.is(peak, 8);
  signatures.forEach((signature, index) =>
    t.true(
      verifySignature(
        'ed25519',
        keys.publicKey,
        requests[index]!.hash,
        requests[index]!.preimage,
        Buffer.from(signature.value, 'base64'),
      ),
    ),
  );
});
