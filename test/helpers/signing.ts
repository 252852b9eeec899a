/** Shared by the signer tests: registry files, appends under load, verdicts from the verifier and from OpenSSL. */
import type { ExecutionContext } from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashPayload } from '../../chain/hash.ts';
import { payloadOf, type ChainRecord } from '../../chain/record.ts';
import { parseRegistry, type RegistryEntryJson, type SignerRegistry } from '../../chain/registry.ts';
import type { SqlDatabase } from '../../infra/adapters/sql/sql.ts';
import { databaseReader } from '../../infra/adapters/sql/databaseReader.ts';
import { writeRegistryFile } from '../../infra/adapters/signers/registryFile.ts';
import { workerChecker } from '../../infra/adapters/workers/checkPool.ts';
import { inProcessChecker } from '../../verifier/inProcessChecker.ts';
import type { BackendSigner } from '../../infra/adapters/signers/backend.ts';
import { createKeySigner } from '../../infra/adapters/signers/local.ts';
import { delegatingSigner } from '../../infra/adapters/signers/session.ts';
import { CLI } from './cli.ts';
import { registryEntry } from './keys.ts';
import { tempDir, testRuntime, type TestRuntime } from './runtime.ts';
import { verify, type VerifyOptions, type VerifyReport } from '../../verifier/verify.ts';

export function writeRegistry(path: string, entries: readonly RegistryEntryJson[]): SignerRegistry {
  const registry = parseRegistry({ signers: entries });
  writeRegistryFile(path, registry);
  return registry;
}

/** audit-verify's verdict in process, on the calling thread or on worker threads. */
export async function verdict(
  db: SqlDatabase,
  registry: SignerRegistry,
  options: VerifyOptions & { threads?: number } = {},
): Promise<VerifyReport> {
  const checker = options.threads ? workerChecker(registry, options.threads) : inProcessChecker(registry);
  try {
    return await verify(databaseReader(db), checker, options);
  } finally {
    await checker.close();
  }
}

/** `chainbook audit-verify` as an auditor runs it, in a child process: exit code and output. */
export function auditVerifyCli(
  args: readonly string[],
  env: Record<string, string> = {},
): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [...CLI, 'audit-verify', '--no-progress', ...args], {
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Checks one record's signature with OpenSSL alone, as docs/FORMAT.md section 3 tells an auditor to. */
export function opensslVerifiesRecord(record: ChainRecord, publicKeyPem: string, folder: string): boolean {
  const { preimage, hash } = hashPayload(payloadOf(record), record.prevHash);
  writeFileSync(join(folder, 'pub.pem'), publicKeyPem);
  writeFileSync(join(folder, 'sig.bin'), Buffer.from(record.sig.value, 'base64'));
  writeFileSync(join(folder, 'hash.bin'), hash);
  writeFileSync(join(folder, 'preimage.bin'), preimage);
  const args =
    record.sig.alg === 'ed25519'
      ? ['pkeyutl', '-verify', '-pubin', '-inkey', 'pub.pem', '-rawin', '-in', 'hash.bin', '-sigfile', 'sig.bin']
      : ['dgst', '-sha256', '-verify', 'pub.pem', '-signature', 'sig.bin', 'preimage.bin'];
  try {
    const out = execFileSync('openssl', args, { cwd: folder, stdio: 'pipe' }).toString();
    return /Verified OK|Signature Verified Successfully/.test(out);
  } catch {
    return false;
  }
}

export const buyer = { id: 'buyer-1', role: 'Buyer' } as const;

/** `count` appends of one event each, `concurrency` at a time, to distinct streams. */
export async function appendMany(
  append: (chain: string, events: never[]) => Promise<unknown>,
  count: number,
  concurrency: number,
  prefix = 'order',
): Promise<PromiseSettledResult<unknown>[]> {
  const results: PromiseSettledResult<unknown>[] = [];
  let next = 0;
  async function lane(): Promise<void> {
    while (next < count) {
      const index = next++;
      const event = {
        stream: `${prefix}-${index}`,
        type: 'order.created',
        actor: buyer,
        data: { index, priceMinor: 100 + index, currency: 'EUR' },
      };
      results[index] = await append('main', [event as never]).then(
        (value) => ({ status: 'fulfilled' as const, value }),
        (reason: unknown) => ({ status: 'rejected' as const, reason }),
      );
    }
  }
  await Promise.all(Array.from({ length: concurrency }, lane));
  return results;
}

/**
 * A PGlite runtime whose records are signed by session keys delegated from a root Ed25519 key, the
 * only key in its registry (written to `<folder>/signers.json`): what a KMS- or HSM-rooted service
 * writes. The folder is removed after the test.
 */
export async function sessionSignedRuntime(
  t: ExecutionContext,
  prefix: string,
): Promise<{ rt: TestRuntime; root: BackendSigner; folder: string; signersPath: string }> {
  const privateKey = generateKeyPairSync('ed25519').privateKey;
  const root: BackendSigner = {
    ...createKeySigner('kms-root', privateKey),
    publicKey: createPublicKey(privateKey),
    description: 'test root key',
  };
  const folder = tempDir(prefix);
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  const signersPath = join(folder, 'signers.json');
  writeRegistry(signersPath, [registryEntry(root.kid, 'ed25519', root.publicKey!)]);
  const rt = await testRuntime(t, 'pglite', {
    signer: delegatingSigner(root, { lifetimeMs: 4 * 3_600_000 }),
    env: { CHAINBOOK_SIGNERS: signersPath },
  });
  return { rt, root, folder, signersPath };
}
