/**
 * The local data key service (Option B's embedded default): data keys
 * wrapped with AES-256-GCM under a wrapping key, bound to the order, and the
 * wrapping key from DELIVERY_WRAPPING_KEY or a key file made once.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CodedError } from '../../../../domain/errors.ts';
import { localDataKeys, localWrappingKey, localWrappingKeyId } from '../../../../infra/adapters/keys/localDataKeys.ts';
import { tempDir } from '../../../helpers/runtime.ts';

const WRAPPED_BYTES = 12 + 32 + 16;

test('a data key wrapped for an order unwraps for that order, under the same wrapping key id', async (t) => {
  const wrappingKey = randomBytes(32);
  const service = localDataKeys(wrappingKey);
  t.is(service.origin, 'local');
  t.is(service.wrappingKeyId, localWrappingKeyId(wrappingKey));
  t.regex(service.wrappingKeyId, /^local-[0-9a-f]{16}$/);
  const { plaintext, wrapped } = await service.generate('order-1');
  t.is(plaintext.length, 32);
  t.is(wrapped.length, WRAPPED_BYTES);
  t.false(wrapped.includes(plaintext), 'the wrapped form does not carry the key in the clear');
  t.deepEqual(await service.unwrap('order-1', wrapped, service.wrappingKeyId), plaintext);
  t.deepEqual(
    await localDataKeys(Buffer.from(wrappingKey)).unwrap('order-1', wrapped, service.wrappingKeyId),
    plaintext,
  );
});

test('each order gets a fresh data key and a fresh IV', async (t) => {
  const service = localDataKeys(randomBytes(32));
  const first = await service.generate('order-1');
  const second = await service.generate('order-1');
  t.notDeepEqual(first.plaintext, second.plaintext);
  t.notDeepEqual(first.wrapped.subarray(0, 12), second.wrapped.subarray(0, 12));
});

test('a wrapped key moved to another order is refused with DELIVERY_KEY_UNAVAILABLE', async (t) => {
  const service = localDataKeys(randomBytes(32));
  const { wrapped } = await service.generate('order-1');
  const error = await t.throwsAsync(service.unwrap('order-2', wrapped, service.wrappingKeyId), {
    instanceOf: CodedError,
  });
  t.is(error.code, 'DELIVERY_KEY_UNAVAILABLE');
  t.regex(error.message, /does not open for this order/);
});

test('a wrapped key recorded under another wrapping key id is refused, and so is one wrapped by another key', async (t) => {
  const service = localDataKeys(randomBytes(32));
  const other = localDataKeys(randomBytes(32));
  const { wrapped } = await other.generate('order-1');
  const named = await t.throwsAsync(service.unwrap('order-1', wrapped, other.wrappingKeyId), {
    instanceOf: CodedError,
  });
  t.is(named.code, 'DELIVERY_KEY_UNAVAILABLE');
  t.regex(named.message, new RegExp(`wrapped by ${other.wrappingKeyId}`));
  const forged = await t.throwsAsync(service.unwrap('order-1', wrapped, service.wrappingKeyId), {
    instanceOf: CodedError,
  });
  t.is(forged.code, 'DELIVERY_KEY_UNAVAILABLE');
});

test('a flipped byte in the IV, the ciphertext or the tag is refused; so is a wrapped key of the wrong length', async (t) => {
  const service = localDataKeys(randomBytes(32));
  const { wrapped } = await service.generate('order-1');
  for (const index of [0, 11, 12, 43, 44, WRAPPED_BYTES - 1]) {
    const flipped = Buffer.from(wrapped);
    flipped[index] = flipped[index]! ^ 0x01;
    const error = await t.throwsAsync(service.unwrap('order-1', flipped, service.wrappingKeyId), {
      instanceOf: CodedError,
    });
    t.is(error.code, 'DELIVERY_KEY_UNAVAILABLE', `byte ${index}`);
  }
  const short = await t.throwsAsync(service.unwrap('order-1', wrapped.subarray(1), service.wrappingKeyId), {
    instanceOf: CodedError,
  });
  t.regex(short.message, /wrong length/);
});

test('without DELIVERY_WRAPPING_KEY the key file is made once with mode 0600 and reused', (t) => {
  const folder = tempDir('wrapping-key');
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  const file = join(folder, 'keys', 'delivery-wrapping.key');
  const first = localWrappingKey(undefined, file);
  t.is(first.length, 32);
  t.is(statSync(file).mode & 0o777, 0o600);
  const written = readFileSync(file, 'utf8');
  t.deepEqual(localWrappingKey(undefined, file), first, 'the second start reads the same key');
  t.is(readFileSync(file, 'utf8'), written, 'and does not rewrite the file');
});

test('DELIVERY_WRAPPING_KEY is used as given and no key file is made', (t) => {
  const folder = tempDir('wrapping-key');
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  const file = join(folder, 'keys', 'delivery-wrapping.key');
  const key = randomBytes(32);
  t.deepEqual(localWrappingKey(key.toString('base64'), file), key);
  t.false(existsSync(file));
});

test('a DELIVERY_WRAPPING_KEY or a wrapping key of the wrong length is refused', (t) => {
  const folder = tempDir('wrapping-key');
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  const file = join(folder, 'delivery-wrapping.key');
  for (const length of [16, 31, 33, 64]) {
    t.throws(() => localWrappingKey(randomBytes(length).toString('base64'), file), {
      message: /DELIVERY_WRAPPING_KEY must be base64 of 32 bytes/,
    });
    t.throws(() => localDataKeys(randomBytes(length)), { message: /must be 32 bytes/ });
  }
  t.false(existsSync(file));
});

test('a key file that does not hold 32 bytes stops start-up and is left as it is', (t) => {
  const folder = tempDir('wrapping-key');
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  const file = join(folder, 'delivery-wrapping.key');
  writeFileSync(file, `${randomBytes(16).toString('base64')}\n`, { mode: 0o600 });
  const before = readFileSync(file, 'utf8');
  t.throws(() => localWrappingKey(undefined, file), { message: /does not hold base64 of 32 bytes/ });
  t.is(readFileSync(file, 'utf8'), before);
});
