/**
 * The batch manifest of docs/FORMAT.md section 8: exactly these members,
 *
 *   service env version chain from_seq to_seq count first_prev_hash last_hash
 *   object_sha256 pii_included pii_policy_version export_ts signer_kid alg signature
 *
 * and, in manifests written since the Merkle tree (docs/FORMAT.md section
 * 14), both or neither of `tree_size` (= to_seq) and `tree_root` (hex): the
 * root of the chain's tree of its first to_seq records, at the batch's end.
 *
 * `signature` signs JCS of the manifest without `signature`: ed25519 over
 * those bytes, rsa-sha256 and ecdsa-p256-sha256 over their SHA-256. The
 * manifest object is written as that JCS text with `signature` put back (one
 * line and a line end), so `sed 's/,"signature":"[^"]*"//'` recovers the
 * signed bytes; a reader parses it and re-serialises, so whitespace does not
 * matter to verification.
 */
import { jcs } from '../chain/canonical.ts';
import { BASE64_PATTERN, CHAIN_NAME_PATTERN, HASH_PATTERN, isTimestamp } from '../chain/record.ts';
import { checkSigner, type SignerRegistry } from '../chain/registry.ts';
import { verifyMessageSignature } from '../chain/signature.ts';
import type { Signer } from '../chain/signer.ts';
import { isJsonObject } from '../domain/json.ts';
import { SERVICE_PATTERN } from './layout.ts';

export interface ManifestPayload {
  service: string;
  env: string;
  version: string;
  chain: string;
  from_seq: number;
  to_seq: number;
  count: number;
  first_prev_hash: string;
  last_hash: string;
  object_sha256: string;
  pii_included: boolean;
  pii_policy_version: string;
  export_ts: string;
  signer_kid: string;
  alg: string;
  /** The tree's size at the batch's end: to_seq (docs/FORMAT.md section 14). */
  tree_size?: number;
  /** The root of the tree of the first to_seq records, 64 lowercase hex digits. */
  tree_root?: string;
}

export interface Manifest extends ManifestPayload {
  signature: string;
}

export const MANIFEST_MEMBERS = [
  'service',
  'env',
  'version',
  'chain',
  'from_seq',
  'to_seq',
  'count',
  'first_prev_hash',
  'last_hash',
  'object_sha256',
  'pii_included',
  'pii_policy_version',
  'export_ts',
  'signer_kid',
  'alg',
  'signature',
] as const;

/** Members a manifest has since the Merkle tree, both or neither: older manifests stay valid. */
export const MANIFEST_TREE_MEMBERS = ['tree_size', 'tree_root'] as const;

/**
 * env, version and pii_policy_version: printable ASCII labels, so that
 * `jq -cS` writes the same bytes as JCS and an auditor needs no JCS tool.
 */
export const LABEL_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:+-]{0,63}$/;
const KID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export function manifestPayloadOf(manifest: Manifest): ManifestPayload {
  const { signature: _signature, ...payload } = manifest;
  return payload;
}

/** The exact bytes the signature covers. */
export function signedBytes(payload: ManifestPayload): Buffer {
  return Buffer.from(jcs(manifestPayloadOf({ ...payload, signature: '' })), 'utf8');
}

export async function signManifest(payload: ManifestPayload, signer: Pick<Signer, 'signMessage'>): Promise<Manifest> {
  const signature = await signer.signMessage(signedBytes(payload));
  return { ...manifestPayloadOf({ ...payload, signature: '' }), signature: signature.value };
}

/** The manifest object's text: its JCS and a line end. */
export function manifestText(manifest: Manifest): string {
  return `${jcs(manifest)}\n`;
}

function positiveInteger(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 1;
}

/** Why a parsed value is not a manifest, or undefined when it is one. */
function shapeProblem(m: Record<string, unknown>): string | undefined {
  const members = Object.keys(m);
  const missing = MANIFEST_MEMBERS.filter((member) => !Object.hasOwn(m, member));
  const known: readonly string[] = [...MANIFEST_MEMBERS, ...MANIFEST_TREE_MEMBERS];
  const extra = members.filter((member) => !known.includes(member));
  if (missing.length > 0 || extra.length > 0)
    return `members differ from the format: missing [${missing.join(', ')}], unknown [${extra.join(', ')}]`;
  if (typeof m['service'] !== 'string' || !SERVICE_PATTERN.test(m['service'])) return 'service is not a service name';
  for (const label of ['env', 'version', 'pii_policy_version'] as const) {
    if (typeof m[label] !== 'string' || !LABEL_PATTERN.test(m[label]))
      return `${label} must match ${LABEL_PATTERN.source}`;
  }
  if (typeof m['chain'] !== 'string' || !CHAIN_NAME_PATTERN.test(m['chain'])) return 'chain is not a chain id';
  if (!positiveInteger(m['from_seq']) || !positiveInteger(m['to_seq']) || !positiveInteger(m['count']))
    return 'from_seq, to_seq and count must be positive integers';
  if (m['count'] !== m['to_seq'] - m['from_seq'] + 1) return 'count is not to_seq - from_seq + 1';
  for (const hash of ['first_prev_hash', 'last_hash', 'object_sha256'] as const) {
    if (typeof m[hash] !== 'string' || !HASH_PATTERN.test(m[hash])) return `${hash} is not 64 lowercase hex digits`;
  }
  const tree = MANIFEST_TREE_MEMBERS.filter((member) => Object.hasOwn(m, member)).length;
  if (tree === 1) return 'tree_size and tree_root go together';
  if (
    tree === 2 &&
    (m['tree_size'] !== m['to_seq'] || typeof m['tree_root'] !== 'string' || !HASH_PATTERN.test(m['tree_root']))
  )
    return 'tree_size must be to_seq and tree_root 64 lowercase hex digits';
  if (typeof m['pii_included'] !== 'boolean') return 'pii_included is not a boolean';
  if (typeof m['export_ts'] !== 'string' || !isTimestamp(m['export_ts']))
    return 'export_ts is not RFC 3339 UTC with milliseconds';
  if (typeof m['signer_kid'] !== 'string' || !KID_PATTERN.test(m['signer_kid'])) return 'signer_kid is not a signer id';
  if (typeof m['alg'] !== 'string') return 'alg is not a string';
  if (typeof m['signature'] !== 'string' || !BASE64_PATTERN.test(m['signature']) || m['signature'] === '')
    return 'signature is not base64';
  return undefined;
}

/** Parses a manifest object's bytes: the manifest, or why it is not one. */
export function parseManifest(bytes: Uint8Array): Manifest | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (error) {
    return `does not parse as JSON: ${(error as Error).message}`;
  }
  if (!isJsonObject(parsed)) return 'not a JSON object';
  return shapeProblem(parsed) ?? (parsed as unknown as Manifest);
}

/** docs/FORMAT.md sections 4 and 8: the signer is in the registry, fits alg, was in its window at export_ts, and the signature verifies. */
export function manifestSignatureProblem(manifest: Manifest, registry: SignerRegistry): string | undefined {
  const signer = checkSigner(registry, manifest.signer_kid, manifest.alg, Date.parse(manifest.export_ts));
  if (!signer.ok) return `${signer.reason}: ${signer.message}`;
  const valid = verifyMessageSignature(
    signer.signer.algorithm,
    signer.signer.publicKey,
    signedBytes(manifest),
    Buffer.from(manifest.signature, 'base64'),
  );
  return valid ? undefined : `bad-signature: the signature does not verify under signer ${manifest.signer_kid}`;
}
