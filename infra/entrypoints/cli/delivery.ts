/**
 * `chainbook delivery decrypt`: the buyer's side of a delivery. Opens a
 * delivery envelope (docs/FORMAT.md section 11) with the buyer's private key
 * and writes the artifact, streaming, so memory stays bounded at any size.
 * With --out the artifact is written to a temporary file beside it and
 * renamed only once every chunk authenticated; a tampered envelope exits 1
 * and leaves nothing.
 */
import { createPrivateKey, createSecretKey, type KeyObject } from 'node:crypto';
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { decryptEnvelope } from '../../../commands/delivery/deliveryEnvelope.ts';
import { sweepDeliveries } from '../../../commands/delivery/sweepDeliveries.ts';
import { openBlobStore } from '../../wiring/blobStores.ts';
import { loadConfig } from '../../wiring/config.ts';
import { EXIT, UsageError } from './io.ts';

interface DecryptOptions {
  in: string;
  key: string;
  out?: string;
}

function privateKeyFrom(path: string): KeyObject {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${path}: ${(error as Error).message}`);
  }
  if (text.trimStart().startsWith('{')) return managedKeyFrom(path, text);
  try {
    return createPrivateKey({ key: text, format: 'pem' });
  } catch (error) {
    throw new UsageError(`${path} is not an unencrypted PEM private key: ${(error as Error).message}`);
  }
}

/** Option B: the managed data key as GET /orders/{orderId}/delivery/key answers it (the answer, or its `jwk`). */
function managedKeyFrom(path: string, text: string): KeyObject {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${path} is not JSON: ${(error as Error).message}`);
  }
  const holder = document as { jwk?: unknown };
  const jwk = (typeof holder === 'object' && holder !== null && 'jwk' in holder ? holder.jwk : document) as {
    kty?: unknown;
    k?: unknown;
  };
  const key = typeof jwk?.k === 'string' ? Buffer.from(jwk.k, 'base64url') : Buffer.alloc(0);
  if (jwk?.kty !== 'oct' || key.length !== 32)
    throw new UsageError(`${path} is not a managed delivery key (a JWK {"kty":"oct","k":…} of 32 bytes)`);
  return createSecretKey(key);
}

async function decrypt(options: DecryptOptions): Promise<number> {
  const privateKey = privateKeyFrom(options.key);
  const input = createReadStream(options.in);
  await new Promise<void>((resolve, reject) => {
    input.once('open', () => resolve());
    input.once('error', (error) => reject(new UsageError(`cannot read ${options.in}: ${error.message}`)));
  });
  const plaintext = Readable.from(decryptEnvelope(input, privateKey));
  if (options.out === undefined) {
    await pipeline(plaintext, process.stdout, { end: false });
    return EXIT.ok;
  }
  const temporary = `${options.out}.partial-${process.pid}`;
  try {
    await pipeline(plaintext, createWriteStream(temporary, { flags: 'wx', mode: 0o600 }));
    await rename(temporary, options.out);
  } finally {
    await unlink(temporary).catch(() => undefined);
  }
  process.stderr.write(`delivery decrypt: OK: ${options.out}\n`);
  return EXIT.ok;
}

/** `delivery sweep`: what `serve` does every hour, for a cron job or a bucket without a lifecycle rule. */
async function sweep(options: { lifetime?: string }): Promise<number> {
  const config = loadConfig(
    options.lifetime === undefined ? process.env : { ...process.env, DELIVERY_OBJECT_LIFETIME: options.lifetime },
  );
  const opened = openBlobStore(config.delivery.s3Bucket, config.delivery.folder, config.archive.s3);
  try {
    const swept = await sweepDeliveries(opened.store, config.delivery.objectLifetimeSeconds, Date.now());
    process.stdout.write(
      `delivery sweep: ${swept.length} ciphertexts older than ${config.delivery.objectLifetimeSeconds} s deleted from ${opened.store.description}\n`,
    );
    return EXIT.ok;
  } finally {
    opened.close();
  }
}

export function registerDelivery(program: Command, exit: (code: number) => void): void {
  const delivery = program.command('delivery').description('encrypted deliveries (docs/FORMAT.md section 11)');
  delivery
    .command('sweep')
    .description(
      'deletes delivered ciphertexts older than DELIVERY_OBJECT_LIFETIME from the delivery store (serve does it hourly); a buyer who asks later gets the artifact prepared again',
    )
    .option('--lifetime <duration>', 'instead of DELIVERY_OBJECT_LIFETIME: 12h, 7d, …')
    .action(async (options: { lifetime?: string }) => exit(await sweep(options)));
  delivery
    .command('decrypt')
    .description(
      "decrypts a delivery envelope with the buyer's private key; exit 1 when it does not authenticate (nothing written with --out)",
    )
    .requiredOption('--in <file>', 'the delivery envelope, as downloaded')
    .requiredOption(
      '--key <file>',
      "the buyer's private key (PEM: RSA, P-256 or X25519) whose public key was given at checkout, or the managed key (the JSON of GET /orders/{orderId}/delivery/key)",
    )
    .option('-o, --out <file>', 'write the artifact here (default: standard output)')
    .action(async (options: DecryptOptions) => exit(await decrypt(options)));
}
