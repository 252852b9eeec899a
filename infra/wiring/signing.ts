/**
 * Which signer the process signs with (SIGNING_BACKEND) and the guards before
 * it may: its kid is in the registry with the same algorithm and public key,
 * its validity window holds now (so a signer added for later is refused until
 * its deployedAt), and a probe signature verifies under the registered key.
 * Any failure stops start-up: production never falls back to another signer.
 */
import { assert, CodedError } from '../../domain/errors.ts';
import type { SignerRegistry } from '../../chain/registry.ts';
import { readFileSync } from 'node:fs';
import { ConfigError, type Config } from './config.ts';
import type { BackendSigner } from '../adapters/signers/backend.ts';
import { countedSigner } from '../adapters/signers/countedSigner.ts';
import { openBreakglassSigner } from '../adapters/signers/breakglass.ts';
import { sameKey } from '../adapters/signers/der.ts';
import { kmsClient, openKmsSigner } from '../adapters/signers/kms.ts';
import { openLocalSigner } from '../adapters/signers/local.ts';
import { openPkcs11Signer } from '../adapters/signers/pkcs11.ts';
import { probeSigner } from '../adapters/signers/probe.ts';
import { DEFAULT_BREAKER } from '../adapters/signers/resilience.ts';
import { openProxySigner } from '../adapters/signers/proxyClient.ts';
import { loadRegistryFile } from '../adapters/signers/registryFile.ts';
import { delegatingSigner } from '../adapters/signers/session.ts';

/** Why `signer` may not sign at `nowMs` under `registry`, without signing anything; undefined when it may. */
export function registrationProblem(
  signer: BackendSigner,
  registry: SignerRegistry,
  nowMs: number,
): { code: string; message: string } | undefined {
  const entry = registry.signers.get(signer.kid);
  if (!entry) {
    return {
      code: 'SIGNER_NOT_REGISTERED',
      message: `signer ${signer.kid} is not in the registry: publish its public key first (chainbook signers add)`,
    };
  }
  if (entry.algorithm !== signer.algorithm) {
    return {
      code: 'SIGNER_KEY_MISMATCH',
      message: `${signer.description} signs ${signer.algorithm}, the registry says ${signer.kid} is ${entry.algorithm}`,
    };
  }
  if (signer.publicKey && !sameKey(signer.publicKey, entry.publicKey)) {
    return {
      code: 'SIGNER_KEY_MISMATCH',
      message: `the public key of ${signer.description} is not the one registered for ${signer.kid}: refusing to sign`,
    };
  }
  if (nowMs < entry.deployedAtMs) {
    return {
      code: 'SIGNER_NOT_YET_DEPLOYED',
      message: `signer ${signer.kid} is deployed from ${entry.deployedAt}: it may not sign before then`,
    };
  }
  if (entry.retiredAtMs !== null && nowMs >= entry.retiredAtMs) {
    return { code: 'SIGNER_RETIRED', message: `signer ${signer.kid} was retired at ${entry.retiredAt}` };
  }
  return undefined;
}

/**
 * Start-up and /ready: registered, in its window, and a probe signs and
 * verifies under the registered key. Returns the problem, or undefined.
 */
export async function signerReadiness(
  signer: BackendSigner,
  registry: SignerRegistry,
  nowMs = Date.now(),
): Promise<{ code: string; message: string } | undefined> {
  const problem = registrationProblem(signer, registry, nowMs);
  if (problem) return problem;
  const probe = await probeSigner(signer, registry.signers.get(signer.kid)!.publicKey);
  return probe === undefined ? undefined : { code: 'SIGNING_UNAVAILABLE', message: `${signer.description}: ${probe}` };
}

async function openBackend(config: Config, registry: SignerRegistry): Promise<BackendSigner> {
  const { signing } = config;
  const remote = { timeoutMs: signing.timeoutMs, breaker: { ...DEFAULT_BREAKER, openMs: signing.circuitOpenMs } };
  switch (signing.backend) {
    case 'kms':
      return openKmsSigner({
        client: kmsClient(signing.kms!.region),
        keyId: signing.kms!.keyId,
        algorithm: signing.kms!.algorithm,
        kid: signing.kid!,
        ...remote,
      });
    case 'pkcs11':
      return openPkcs11Signer({
        ...signing.pkcs11!,
        keyLabel: signing.pkcs11!.keyLabel!,
        kid: signing.kid!,
        ...remote,
      });
    case 'proxy':
      return openProxySigner({
        url: signing.proxy!.url,
        apiKey: signing.proxy!.apiKey,
        tls: proxyTlsFiles(signing.proxy!.tls),
        kid: signing.kid!,
        ...remote,
      });
    case 'breakglass':
      return openBreakglassSigner(signing.breakglassKeyFile!, signing.kid!, registry);
    case 'local':
      assert(false, 'the local signer is opened by openSigning');
  }
}

/** Opens the configured signer and checks it may sign; throws a CodedError saying why not. */
export async function openSigning(
  config: Config,
  nowMs = Date.now(),
): Promise<{ signer: BackendSigner; registry: SignerRegistry }> {
  if (config.signing.backend === 'local') {
    const { signer, registry } = openLocalSigner({
      dataDir: config.dataDir,
      registryPath: config.signersPath,
      production: config.production,
    });
    if (config.signing.kid !== undefined && config.signing.kid !== signer.kid) {
      throw new CodedError(
        'SIGNER_KEY_MISMATCH',
        `SIGNING_KID is ${config.signing.kid} but the local key of ${config.dataDir} is ${signer.kid}`,
      );
    }
    return {
      signer: countedSigner(
        {
          ...signer,
          publicKey: registry.signers.get(signer.kid)?.publicKey,
          description: `local development key in ${config.dataDir}`,
        },
        'local',
      ),
      registry,
    };
  }
  const registry = loadRegistryFile(config.signersPath);
  const backend = await openBackend(config, registry);
  try {
    const problem = await signerReadiness(backend, registry, nowMs);
    if (problem) throw new CodedError(problem.code, problem.message, { kid: backend.kid });
  } catch (error) {
    await backend.close();
    throw error;
  }
  const signer = config.signing.sessionKeys
    ? delegatingSigner(backend, { lifetimeMs: config.signing.sessionLifetimeMs })
    : backend;
  return { signer: countedSigner(signer, config.signing.backend), registry };
}

/** What `chainbook signing check` found: the configured signer signs, and where the registry allows it. */
export interface SigningCheck {
  kid: string;
  algorithm: string;
  description: string;
  deployedAt: string;
  retiredAt: string | null;
}

/**
 * The runbooks' CI gate (`chainbook signing check`): the configured signing path answers a probe
 * signature that verifies under the public key the registry holds for its kid, inside that key's
 * window. Throws a CodedError naming why not. Session keys are left out: the gate is about the key
 * behind them. The local development signer is checked too (it makes its key on first use, as
 * every command does); REQUIRE_KMS and REQUIRE_SIGNING_PROXY refuse it in loadConfig already.
 */
export async function checkSigning(config: Config, nowMs = Date.now()): Promise<SigningCheck> {
  const { signer, registry } = await openSigning(
    { ...config, signing: { ...config.signing, sessionKeys: false } },
    nowMs,
  );
  try {
    // openSigning checked every backend but the local one; a second probe costs one signature.
    const problem = await signerReadiness(signer, registry, nowMs);
    if (problem) throw new CodedError(problem.code, problem.message, { kid: signer.kid });
    const entry = registry.signers.get(signer.kid)!;
    return {
      kid: signer.kid,
      algorithm: signer.algorithm,
      description: signer.description,
      deployedAt: entry.deployedAt,
      retiredAt: entry.retiredAt,
    };
  } finally {
    await signer.close();
  }
}

/** The signing proxy's client certificate, key and CA, read at start: a file that cannot be read is named. */
function proxyTlsFiles(
  files: NonNullable<Config['signing']['proxy']>['tls'],
): { cert?: Buffer; key?: Buffer; ca?: Buffer } | undefined {
  if (files === undefined) return undefined;
  const problems: string[] = [];
  const read = (path: string | undefined, variable: string): Buffer | undefined => {
    if (path === undefined) return undefined;
    try {
      return readFileSync(path);
    } catch (error) {
      problems.push(`${variable}: cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
      return undefined;
    }
  };
  const cert = read(files.certFile, 'SIGNING_PROXY_CLIENT_CERT');
  const key = read(files.keyFile, 'SIGNING_PROXY_CLIENT_KEY');
  const ca = read(files.caFile, 'SIGNING_PROXY_CA');
  if (problems.length > 0) throw new ConfigError(problems);
  return { ...(cert ? { cert } : {}), ...(key ? { key } : {}), ...(ca ? { ca } : {}) };
}
