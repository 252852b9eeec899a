/**
 * Append throughput by signer, 64 appends in flight, one event per append,
 * all in one run so the ratios compare like with like:
 *
 *   local            in-memory Ed25519 (the dev signer's code path)
 *   hsm              SoftHSM2 Ed25519 through PKCS#11 (a throw-away token)
 *   proxy            `chainbook signing-proxy` in a child process, the same HSM behind it, over HTTP
 *   hsm-session      HSM-rooted session keys (docs/FORMAT.md section 4b)
 *   kms-sim          a simulated KMS: BENCH_KMS_LATENCY_MS per Sign, at most BENCH_KMS_RATE Sign calls a second
 *                    (throttled beyond, like KMS's per-key quota), through the real KMS signer code
 *   kms-sim-session  the simulated KMS as root of session keys
 *
 * Run (PostgreSQL on TEST_DATABASE_URL, as the tests; SoftHSM2 installed):
 *   node --import tsx bench/signing.ts [--appends 3000] [--modes local,hsm,proxy,hsm-session,kms-sim,kms-sim-session]
 * Prints one line per mode and a JSON summary; `npm run bench:signing` runs the default.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, sign as nodeSign } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetPublicKeyCommand, KMSClient, SignCommand, type SignCommandInput } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import type { Signer } from '../chain/signer.ts';
import type { BackendSigner } from '../infra/adapters/signers/backend.ts';
import { openKmsSigner } from '../infra/adapters/signers/kms.ts';
import { createKeySigner } from '../infra/adapters/signers/local.ts';
import { generateHsmKeyPair, openPkcs11Signer } from '../infra/adapters/signers/pkcs11.ts';
import { openProxySigner } from '../infra/adapters/signers/proxyClient.ts';
import { delegatingSigner } from '../infra/adapters/signers/session.ts';
import { SqlEventStore } from '../infra/adapters/sql/sqlEventStore.ts';
import { openTestDatabase } from '../test/helpers/databases.ts';
import { registryEntry } from '../test/helpers/keys.ts';
import { writeRegistry } from '../test/helpers/signing.ts';
import { softHsmToken } from '../test/helpers/softhsm.ts';

const IN_FLIGHT = 64;
const MODES = ['local', 'hsm', 'proxy', 'hsm-session', 'kms-sim', 'kms-sim-session'] as const;
type Mode = (typeof MODES)[number];

function argument(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? (process.argv[index + 1] ?? fallback) : fallback;
}

const appends = Number(argument('appends', '3000'));
const modes = argument('modes', MODES.join(',')).split(',') as Mode[];
const kmsLatencyMs = Number(process.env['BENCH_KMS_LATENCY_MS'] ?? '8');
const kmsRate = Number(process.env['BENCH_KMS_RATE'] ?? '1000');

/** Wraps a signer to add up the time spent inside signBatch and count batches. */
function timed(signer: Signer): { signer: Signer; stats: { batches: number; events: number; signMs: number } } {
  const stats = { batches: 0, events: 0, signMs: 0 };
  const wrap =
    <T extends unknown[], R>(work: (...args: T) => Promise<R>, size: (...args: T) => number) =>
    async (...args: T) => {
      const started = performance.now();
      try {
        return await work(...args);
      } finally {
        stats.signMs += performance.now() - started;
        stats.batches += 1;
        stats.events += size(...args);
      }
    };
  const session = signer.session?.bind(signer);
  return {
    stats,
    signer: {
      ...signer,
      kid: signer.kid,
      algorithm: signer.algorithm,
      signBatch: wrap(
        (requests) => signer.signBatch(requests),
        (requests) => requests.length,
      ),
      ...(session
        ? {
            session: (tsMs: number) => {
              const key = session(tsMs);
              return (
                key && {
                  ...key,
                  signBatch: wrap(
                    (requests) => key.signBatch(requests),
                    (requests) => requests.length,
                  ),
                }
              );
            },
          }
        : {}),
    },
  };
}

/** A KMS double: fixed latency, a token bucket of `kmsRate` calls per second, ThrottlingException beyond. */
function simulatedKms(): { client: KMSClient; restore: () => void; publicKeyDer: Buffer } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const kms = mockClient(KMSClient);
  const publicKeyDer = publicKey.export({ type: 'spki', format: 'der' });
  kms.on(GetPublicKeyCommand).resolves({
    KeyUsage: 'SIGN_VERIFY',
    KeySpec: 'ECC_NIST_EDWARDS25519',
    SigningAlgorithms: ['ED25519_SHA_512'],
    PublicKey: publicKeyDer,
  });
  // A burst of at most a tenth of a second's quota, so a short run cannot live off a full bucket.
  const burst = Math.max(1, kmsRate / 10);
  let tokens = burst;
  let refilledAtMs = performance.now();
  kms.on(SignCommand).callsFake(async (input: SignCommandInput) => {
    const now = performance.now();
    tokens = Math.min(burst, tokens + ((now - refilledAtMs) * kmsRate) / 1000);
    refilledAtMs = now;
    await new Promise((resolve) => setTimeout(resolve, kmsLatencyMs));
    if (tokens < 1)
      throw Object.assign(new Error('Rate exceeded'), {
        name: 'ThrottlingException',
        $metadata: { httpStatusCode: 400 },
      });
    tokens -= 1;
    return { Signature: nodeSign(null, Buffer.from(input.Message!), privateKey) };
  });
  return { client: new KMSClient({ region: 'eu-west-1', maxAttempts: 1 }), restore: () => kms.restore(), publicKeyDer };
}

async function startProxyProcess(env: Record<string, string>): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['bin/chainbook.js', 'signing-proxy', '--port', '0'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let text = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const match = /listening on (\S+)/.exec(text);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`signing-proxy exited with ${code}: ${text}`)));
  });
  return { url, child };
}

interface Result {
  mode: Mode;
  appendsPerSecond: number;
  elapsedMs: number;
  batches: number;
  meanBatch: number;
  signShare: number;
  meanBatchSignMs: number;
}

async function measure(mode: Mode, signer: Signer): Promise<Result> {
  const test = await openTestDatabase(process.env['BENCH_ENGINE'] === 'pglite' ? 'pglite' : 'postgres');
  const { signer: wrapped, stats } = timed(signer);
  const store = new SqlEventStore(test.db, { signer: wrapped });
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < appends) {
        const index = next++;
        await store.append('main', [
          {
            stream: `order-${index}`,
            type: 'order.created',
            actor: { id: 'bench', role: 'Buyer' },
            data: { priceMinor: index, currency: 'EUR' },
          },
        ]);
      }
    }),
  );
  const elapsedMs = performance.now() - started;
  await store.close();
  await test.drop();
  const batches = stats.batches;
  return {
    mode,
    appendsPerSecond: Math.round((appends * 1000) / elapsedMs),
    elapsedMs: Math.round(elapsedMs),
    batches,
    meanBatch: Math.round((stats.events / Math.max(1, batches)) * 10) / 10,
    signShare: Math.round((stats.signMs / elapsedMs) * 100) / 100,
    meanBatchSignMs: Math.round((stats.signMs / Math.max(1, batches)) * 10) / 10,
  };
}

async function main(): Promise<void> {
  const token = softHsmToken('chainbook-bench');
  const folder = mkdtempSync(join(tmpdir(), 'chainbook-bench-'));
  generateHsmKeyPair(token, 'bench', 'ed25519');
  const hsmSettings = { ...token, keyLabel: 'bench', kid: 'bench-hsm' };
  const results: Result[] = [];
  const cleanups: (() => Promise<void> | void)[] = [];
  try {
    for (const mode of modes) {
      let signer: BackendSigner | Signer;
      if (mode === 'local') signer = createKeySigner('bench-local', generateKeyPairSync('ed25519').privateKey);
      else if (mode === 'hsm' || mode === 'hsm-session') {
        const hsm = openPkcs11Signer(hsmSettings);
        signer = mode === 'hsm' ? hsm : delegatingSigner(hsm);
      } else if (mode === 'proxy') {
        const hsm = openPkcs11Signer(hsmSettings);
        const signersPath = join(folder, 'signers.json');
        writeRegistry(signersPath, [registryEntry('bench-hsm', 'ed25519', hsm.publicKey!)]);
        await hsm.close();
        const proxy = await startProxyProcess({
          SIGNING_BACKEND: 'pkcs11',
          SIGNING_KID: 'bench-hsm',
          PKCS11_MODULE: token.modulePath,
          PKCS11_TOKEN_LABEL: token.tokenLabel,
          PKCS11_PIN: token.pin,
          PKCS11_KEY_LABEL: 'bench',
          CHAINBOOK_SIGNERS: signersPath,
          CHAINBOOK_DATA_DIR: folder,
          SIGNING_PROXY_CLIENTS: 'bench:bench-api-key-0123456789',
        });
        cleanups.push(() => void proxy.child.kill('SIGTERM'));
        signer = await openProxySigner({ url: proxy.url, apiKey: 'bench-api-key-0123456789', kid: 'bench-hsm' });
      } else {
        const kms = simulatedKms();
        cleanups.push(kms.restore);
        const root = await openKmsSigner({
          client: kms.client,
          keyId: 'alias/bench',
          kid: 'bench-kms',
          algorithm: 'ed25519',
          retry: { maxAttempts: 6, baseDelayMs: 20, maxDelayMs: 500 },
        });
        signer = mode === 'kms-sim' ? root : delegatingSigner(root);
      }
      const result = await measure(mode, signer);
      await signer.close();
      results.push(result);
      const local = results.find((r) => r.mode === 'local');
      process.stdout.write(
        `${mode.padEnd(16)} ${String(result.appendsPerSecond).padStart(7)} appends/s` +
          `${local && mode !== 'local' ? ` (${(result.appendsPerSecond / local.appendsPerSecond).toFixed(2)}x local)` : ''}` +
          `  batches ${result.batches}, mean ${result.meanBatch} events, signing ${Math.round(result.signShare * 100)}% of wall time, ${result.meanBatchSignMs} ms per batch\n`,
      );
    }
  } finally {
    for (const cleanup of cleanups) await cleanup();
    token.remove();
    rmSync(folder, { recursive: true, force: true });
  }
  process.stdout.write(`${JSON.stringify({ appends, inFlight: IN_FLIGHT, kmsLatencyMs, kmsRate, results })}\n`);
}

await main();
