/**
 * Unit tests of the KMS data key service's own logic against a small
 * hand-written fake of the KMS client: the request shapes, the order bound
 * by the encryption context, the mapping of every failure to
 * DELIVERY_KEY_UNAVAILABLE without KMS's message, and plaintexts of the
 * wrong length refused. The fake is no KMS and proves nothing about one:
 * test/infra/adapters/keys/kmsDataKeys.contract.int.test.ts runs against a
 * real key when DELIVERY_KMS_TEST_KEY_ID is set.
 */
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import {
  DecryptCommand,
  GenerateDataKeyCommand,
  type DecryptCommandOutput,
  type GenerateDataKeyCommandOutput,
} from '@aws-sdk/client-kms';
import { CodedError } from '../../../../domain/errors.ts';
import { kmsDataKeys, type KmsDataKeyClient } from '../../../../infra/adapters/keys/kmsDataKeys.ts';

const KEY_ARN = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';

/** KMS's errors as the SDK raises them: a name, a message naming the account, a status. */
function kmsError(name: string, status = 400): Error {
  return Object.assign(new Error(`User arn:aws:iam::111122223333:role/shop is refused (${name})`), {
    name,
    $metadata: { httpStatusCode: status },
  });
}

interface FakeKms {
  client: KmsDataKeyClient;
  commands: (GenerateDataKeyCommand | DecryptCommand)[];
  signals: (AbortSignal | undefined)[];
}

/**
 * Keeps what it "wrapped" in a map keyed by the blob, and opens a blob only
 * for the key id and encryption context it was made with, as KMS does.
 * `answer` replaces its answer to a command when given.
 */
function fakeKms(
  answer?: (
    command: GenerateDataKeyCommand | DecryptCommand,
  ) => Promise<Partial<GenerateDataKeyCommandOutput & DecryptCommandOutput>>,
): FakeKms {
  const wrapped = new Map<string, { keyId: string; context: string; plaintext: Buffer }>();
  const commands: FakeKms['commands'] = [];
  const signals: FakeKms['signals'] = [];
  const send = async (command: GenerateDataKeyCommand | DecryptCommand, options?: { abortSignal?: AbortSignal }) => {
    commands.push(command);
    signals.push(options?.abortSignal);
    if (answer) return { $metadata: {}, ...(await answer(command)) };
    if (command instanceof GenerateDataKeyCommand) {
      const plaintext = randomBytes(32);
      const blob = randomBytes(184);
      wrapped.set(blob.toString('hex'), {
        keyId: command.input.KeyId!,
        context: JSON.stringify(command.input.EncryptionContext),
        plaintext,
      });
      return { $metadata: {}, KeyId: KEY_ARN, Plaintext: plaintext, CiphertextBlob: blob };
    }
    const entry = wrapped.get(Buffer.from(command.input.CiphertextBlob!).toString('hex'));
    if (!entry || entry.context !== JSON.stringify(command.input.EncryptionContext))
      throw kmsError('InvalidCiphertextException');
    if (entry.keyId !== command.input.KeyId) throw kmsError('IncorrectKeyException');
    return { $metadata: {}, KeyId: KEY_ARN, Plaintext: entry.plaintext };
  };
  return { client: { send } as KmsDataKeyClient, commands, signals };
}

async function refusal(t: ExecutionContext, work: Promise<unknown>): Promise<CodedError> {
  const error = await t.throwsAsync(work, { instanceOf: CodedError });
  t.is(error.code, 'DELIVERY_KEY_UNAVAILABLE');
  t.false(error.message.includes('111122223333'), 'KMS messages (account ids, ARNs) are not passed on');
  t.false(JSON.stringify(error.details).includes('111122223333'));
  t.false(error.message.includes('    at '), 'no stack in the message');
  return error;
}

test('generate asks GenerateDataKey for an AES_256 key under the key id with the order id as encryption context', async (t) => {
  const kms = fakeKms();
  const service = kmsDataKeys({ client: kms.client, keyId: KEY_ARN });
  t.is(service.origin, 'kms');
  t.is(service.wrappingKeyId, KEY_ARN);
  const { plaintext, wrapped } = await service.generate('order-1');
  t.is(plaintext.length, 32);
  t.is(wrapped.length, 184, 'the CiphertextBlob, as KMS returned it');
  t.is(kms.commands.length, 1);
  const command = kms.commands[0]!;
  t.true(command instanceof GenerateDataKeyCommand);
  t.deepEqual(command.input, { KeyId: KEY_ARN, KeySpec: 'AES_256', EncryptionContext: { orderId: 'order-1' } });
  t.true(kms.signals[0] instanceof AbortSignal, 'the call can be aborted');
});

test('unwrap asks Decrypt with the recorded key id, the blob and the same encryption context, and returns the data key', async (t) => {
  const kms = fakeKms();
  const service = kmsDataKeys({ client: kms.client, keyId: KEY_ARN });
  const { plaintext, wrapped } = await service.generate('order-1');
  t.deepEqual(await service.unwrap('order-1', wrapped, KEY_ARN), plaintext);
  const command = kms.commands[1]!;
  t.true(command instanceof DecryptCommand);
  t.deepEqual(command.input, {
    KeyId: KEY_ARN,
    CiphertextBlob: wrapped,
    EncryptionContext: { orderId: 'order-1' },
  });
});

test('a data key recorded under an earlier KMS key is asked of that key, after the configuration moved to a new one', async (t) => {
  const kms = fakeKms();
  const before = kmsDataKeys({ client: kms.client, keyId: KEY_ARN });
  const { plaintext, wrapped } = await before.generate('order-1');
  const after = kmsDataKeys({ client: kms.client, keyId: `${KEY_ARN}-new` });
  t.deepEqual(await after.unwrap('order-1', wrapped, KEY_ARN), plaintext);
  t.is((kms.commands[1] as DecryptCommand).input.KeyId, KEY_ARN);
});

test("KMS refusing another order's encryption context is DELIVERY_KEY_UNAVAILABLE", async (t) => {
  const kms = fakeKms();
  const service = kmsDataKeys({ client: kms.client, keyId: KEY_ARN });
  const { wrapped } = await service.generate('order-1');
  const error = await refusal(t, service.unwrap('order-2', wrapped, KEY_ARN));
  t.regex(error.message, /does not open for this order/);
  t.regex(error.message, /InvalidCiphertextException/);
});

test('a blob made under another key, or with a flipped byte, is DELIVERY_KEY_UNAVAILABLE', async (t) => {
  const kms = fakeKms();
  const service = kmsDataKeys({ client: kms.client, keyId: KEY_ARN });
  const { wrapped } = await service.generate('order-1');
  await refusal(t, service.unwrap('order-1', wrapped, 'arn:aws:kms:eu-west-1:111122223333:key/other'));
  const flipped = Buffer.from(wrapped);
  flipped[100] = flipped[100]! ^ 0x01;
  await refusal(t, service.unwrap('order-1', flipped, KEY_ARN));
});

test('a plaintext that is not 32 bytes is refused, from GenerateDataKey and from Decrypt', async (t) => {
  for (const length of [0, 16, 31, 33, 64]) {
    const kms = fakeKms(async () => ({ Plaintext: randomBytes(length), CiphertextBlob: randomBytes(184) }));
    const service = kmsDataKeys({ client: kms.client, keyId: KEY_ARN });
    const generated = await refusal(t, service.generate('order-1'));
    t.regex(generated.message, new RegExp(`GenerateDataKey returned ${length} bytes`));
    const unwrapped = await refusal(t, service.unwrap('order-1', randomBytes(184), KEY_ARN));
    t.regex(unwrapped.message, new RegExp(`Decrypt returned ${length} bytes`));
  }
});

test('an answer without a plaintext or without a wrapped key is refused', async (t) => {
  const noPlaintext = kmsDataKeys({
    client: fakeKms(async () => ({ CiphertextBlob: randomBytes(184) })).client,
    keyId: KEY_ARN,
  });
  t.regex((await refusal(t, noPlaintext.generate('order-1'))).message, /no plaintext/);
  t.regex((await refusal(t, noPlaintext.unwrap('order-1', randomBytes(184), KEY_ARN))).message, /no plaintext/);
  const noBlob = kmsDataKeys({ client: fakeKms(async () => ({ Plaintext: randomBytes(32) })).client, keyId: KEY_ARN });
  t.regex((await refusal(t, noBlob.generate('order-1'))).message, /no wrapped key/);
});

test('KMS errors (access, throttling, a disabled key, the network) are DELIVERY_KEY_UNAVAILABLE naming only the kind', async (t) => {
  const failures: [Error, RegExp][] = [
    [kmsError('AccessDeniedException'), /KMS GenerateDataKey failed \(AccessDeniedException\)/],
    [kmsError('ThrottlingException'), /ThrottlingException/],
    [kmsError('DisabledException'), /DisabledException/],
    [kmsError('KMSInternalException', 500), /KMSInternalException/],
    [Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), { code: 'ECONNREFUSED' }), /failed \(Error\)/],
    [Object.assign(new Error('odd'), { name: 'not a plain name <script>' }), /failed \(Error\)/],
  ];
  for (const [failure, expected] of failures) {
    const service = kmsDataKeys({ client: fakeKms(() => Promise.reject(failure)).client, keyId: KEY_ARN });
    const error = await refusal(t, service.generate('order-1'));
    t.regex(error.message, expected);
    t.false(error.message.includes('ECONNREFUSED'));
  }
});

test('a KMS that does not answer is DELIVERY_KEY_UNAVAILABLE after the timeout, not a hang', async (t) => {
  const service = kmsDataKeys({
    client: fakeKms(() => new Promise(() => undefined)).client,
    keyId: KEY_ARN,
    timeoutMs: 50,
  });
  const started = Date.now();
  t.regex((await refusal(t, service.generate('order-1'))).message, /KMS GenerateDataKey did not answer within 50 ms/);
  t.regex(
    (await refusal(t, service.unwrap('order-1', randomBytes(184), KEY_ARN))).message,
    /KMS Decrypt did not answer/,
  );
  t.true(Date.now() - started < 2000);
});
