/**
 * Break-glass signing (docs/SIGNING.md, "Break-glass"): when KMS or the proxy is
 * down beyond the agreed time and Security and Finance have approved, an
 * operator registers a temporary emergency signer:
 *
 *   - its key is made on the operator's machine (written only to a file the
 *     operator names, mode 0600, outside the repository) or on the HSM;
 *   - signers.json gets it with a short window (deployedAt now, retiredAt at
 *     most MAX_BREAKGLASS_WINDOW_MS later), so nothing it signs afterwards
 *     verifies;
 *   - the chain gets signing.breakglass_used, actor service:signing-breakglass,
 *     with the justification and at least two distinct approvers, signed by
 *     the emergency key itself (the normal signer is the one that is down);
 *   - `audit-verify --report-breakglass` lists every record it signed.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { CodedError } from '../../../domain/errors.ts';
import { SIGNER_EVENT_TYPES } from '../../../chain/delegation.ts';
import type { AppendEventInput } from '../../../chain/input.ts';
import { parseRegistry, registryEntryJson, type SignerRegistry } from '../../../chain/registry.ts';
import type { Signer } from '../../../chain/signer.ts';
import type { AppendResult } from '../../../chain/store.ts';
import type { BackendSigner } from './backend.ts';
import { spkiPem } from './der.ts';
import { createKeySigner } from './local.ts';
import { generateHsmKeyPair, openPkcs11Signer, type Pkcs11Settings } from './pkcs11.ts';
import { loadRegistryFile, writeRegistryFile } from './registryFile.ts';

export const BREAKGLASS_ACTOR = { id: 'service:signing-breakglass', role: 'Service' } as const;
/** Longest validity of an emergency signer. */
export const MAX_BREAKGLASS_WINDOW_MS = 4 * 60 * 60 * 1000;
export const DEFAULT_BREAKGLASS_WINDOW_MS = 60 * 60 * 1000;
export const MIN_APPROVERS = 2;
export const MIN_JUSTIFICATION_LENGTH = 20;

function checkKeyFileMode(path: string): void {
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0)
    throw new CodedError(
      'LOCAL_KEY_EXPOSED',
      `${path} is readable by others (mode ${mode.toString(8)}); run chmod 600 ${path}`,
      { path },
    );
}

/** The emergency signer of SIGNING_BACKEND=breakglass: refused unless the registry gives it a short, closed window. */
export function openBreakglassSigner(keyFile: string, kid: string, registry: SignerRegistry): BackendSigner {
  const entry = registry.signers.get(kid);
  if (!entry || entry.retiredAtMs === null || entry.retiredAtMs - entry.deployedAtMs > MAX_BREAKGLASS_WINDOW_MS) {
    throw new CodedError(
      'BREAKGLASS_REFUSED',
      `signer ${kid} is not a break-glass signer: its registry entry must close within ${MAX_BREAKGLASS_WINDOW_MS / 3_600_000} h (chainbook signers break-glass makes one)`,
    );
  }
  let privateKey: KeyObject;
  try {
    checkKeyFileMode(keyFile);
    privateKey = createPrivateKey(readFileSync(keyFile));
  } catch (error) {
    if (error instanceof CodedError) throw error;
    throw new CodedError(
      'BREAKGLASS_KEY_UNREADABLE',
      `cannot read the break-glass key ${keyFile}: ${(error as Error).message}`,
    );
  }
  const signer = createKeySigner(kid, privateKey);
  return { ...signer, publicKey: createPublicKey(privateKey), description: `break-glass key ${kid} (${keyFile})` };
}

export interface BreakglassRequest {
  registryPath: string;
  justification: string;
  approvedBy: readonly string[];
  windowMs: number;
  nowMs: number;
  /** Where the key is made: a file on this machine, or the HSM under a label. */
  key: { kind: 'file'; path: string } | { kind: 'hsm'; settings: Pkcs11Settings; label: string };
  /** Appends with the given signer (the emergency one). */
  appendWith(signer: Signer, events: readonly AppendEventInput[]): Promise<AppendResult>;
}

export interface BreakglassResult {
  kid: string;
  deployedAt: string;
  retiredAt: string;
  publicKeyPem: string;
  appended: AppendResult;
}

function checkRequest(request: BreakglassRequest): string[] {
  const approvers = [...new Set(request.approvedBy.map((name) => name.trim()).filter((name) => name !== ''))];
  if (request.justification.trim().length < MIN_JUSTIFICATION_LENGTH) {
    throw new CodedError(
      'BREAKGLASS_REFUSED',
      `a justification of at least ${MIN_JUSTIFICATION_LENGTH} characters is required`,
    );
  }
  if (approvers.length < MIN_APPROVERS)
    throw new CodedError(
      'BREAKGLASS_REFUSED',
      `at least ${MIN_APPROVERS} distinct approvers are required (--approved-by A --approved-by B)`,
    );
  if (!(request.windowMs > 0 && request.windowMs <= MAX_BREAKGLASS_WINDOW_MS)) {
    throw new CodedError(
      'BREAKGLASS_REFUSED',
      `the window must be between 1 minute and ${MAX_BREAKGLASS_WINDOW_MS / 60_000} minutes`,
    );
  }
  return approvers;
}

/** Makes the emergency key where asked; the signer for it and a way to undo (delete the key file) when a later step fails. */
function makeKey(request: BreakglassRequest, kid: string): { signer: Signer; publicKey: KeyObject; undo: () => void } {
  if (request.key.kind === 'hsm') {
    const publicKey = generateHsmKeyPair(request.key.settings, request.key.label, 'ed25519');
    return {
      signer: openPkcs11Signer({ ...request.key.settings, keyLabel: request.key.label, kid }),
      publicKey,
      undo: () => undefined,
    };
  }
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const path = request.key.path;
  // 'wx': never overwrite a file; 0600: the operator's eyes only.
  writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  return { signer: createKeySigner(kid, privateKey), publicKey, undo: () => rmSync(path, { force: true }) };
}

export async function breakGlass(request: BreakglassRequest): Promise<BreakglassResult> {
  const approvers = checkRequest(request);
  const previous = loadRegistryFile(request.registryPath);
  const deployedAt = new Date(request.nowMs).toISOString();
  const retiredAt = new Date(request.nowMs + request.windowMs).toISOString();
  const kid = `breakglass-${deployedAt.slice(0, 16).replace(/[-:]/g, '').replace('T', 't')}-${randomBytes(3).toString('hex')}`;
  const { signer, publicKey, undo } = makeKey(request, kid);
  const publicKeyPem = spkiPem(publicKey);
  const entry = {
    signer_kid: kid,
    algorithm: 'ed25519' as const,
    public_key_pem: publicKeyPem,
    deployedAt,
    retiredAt,
    description: `break-glass: ${request.justification.slice(0, 200)}`,
  };
  try {
    writeRegistryFile(
      request.registryPath,
      parseRegistry({ signers: [...[...previous.signers.values()].map(registryEntryJson), entry] }),
    );
    const data = {
      kid,
      algorithm: 'ed25519',
      public_key_pem: publicKeyPem,
      justification: request.justification,
      approvedBy: approvers,
      notBefore: deployedAt,
      notAfter: retiredAt,
      keyLocation: request.key.kind === 'hsm' ? 'hsm' : 'operator-machine',
    };
    const appended = await request.appendWith(signer, [
      { stream: `signer-${kid}`, type: SIGNER_EVENT_TYPES.breakglassUsed, actor: BREAKGLASS_ACTOR, data },
    ]);
    return { kid, deployedAt, retiredAt, publicKeyPem, appended };
  } catch (error) {
    writeRegistryFile(request.registryPath, previous);
    undo();
    throw error;
  } finally {
    await signer.close();
  }
}
