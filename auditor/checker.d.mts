/**
 * Types of auditor/checker.mjs for the TypeScript that uses it (tests, the
 * benchmark). The checker itself is plain JavaScript, so that a browser and
 * Node run it as it is (docs/FORMAT.md section 15).
 */

export const CHECKER_VERSION: number;
export const ZERO_HASH: string;
export const PAGE_RECORDS: number;
export const MAX_REGISTRY_SIGNERS: number;
export const MAX_NOTE_BYTES: number;
export const MAX_NOTE_SIGNATURES: number;
export const MAX_PROOF_HASHES: number;
export const MAX_PROOF_FILE_BYTES: number;
export const MAX_ARCHIVE_BATCH_BYTES: number;
export const MAX_BUNDLE_ARCHIVE_BYTES: number;
export const SIGNATURE_ALGORITHMS: readonly string[];

export interface CheckerFinding {
  chain: string;
  seq: number;
  reason: string;
  message: string;
  batch?: string;
}

export interface CheckerKey {
  algorithm: string;
  cryptoKey: CryptoKey;
  raw: Uint8Array | undefined;
}

export interface CheckerSigner {
  kid: string;
  algorithm: string;
  key: CheckerKey;
  deployedAt: string;
  deployedAtMs: number;
  retiredAt: string | null;
  retiredAtMs: number | null;
}

export interface CheckerRegistry {
  signers: ReadonlyMap<string, CheckerSigner>;
}

export interface CheckerChainSummary {
  chain: string;
  fromSeq: number;
  toSeq: number;
  records: number;
  lastHash: string;
}

export interface WitnessKey {
  name: string;
  raw: Uint8Array;
  key: CryptoKey;
}

export interface Checkpoint {
  origin: string;
  size: number;
  root: Uint8Array;
}

export function hexOf(bytes: Uint8Array): string;
export function bytesOfHex(text: string): Uint8Array | undefined;
export function base64Of(bytes: Uint8Array): string;
export function bytesOfBase64(text: string): Uint8Array | undefined;
export function sha256(bytes: Uint8Array): Promise<Uint8Array>;
export function canonicalize(value: unknown): string;
export function importPublicKey(
  algorithm: string,
  pem: string,
): Promise<{ key: CheckerKey; problem?: undefined } | { problem: string; key?: undefined }>;
export function verifySignature(
  key: CheckerKey,
  message: Uint8Array,
  signature: Uint8Array,
): Promise<boolean | 'high-s'>;
export function loadRegistry(
  text: string,
): Promise<{ registry: CheckerRegistry; problems?: undefined } | { problems: string[]; registry?: undefined }>;

export class ChainCheck {
  constructor(options: {
    chain: string;
    registry: CheckerRegistry;
    fromSeq?: number;
    prevHash?: string;
    ids?: Set<string>;
    treeSizes?: ReadonlySet<number>;
    hashesOf?: ReadonlySet<number>;
  });
  readonly chain: string;
  records: number;
  finding: CheckerFinding | undefined;
  roots: Map<number, Uint8Array>;
  add(lines: readonly string[]): Promise<CheckerFinding | undefined>;
  summary(): CheckerChainSummary;
}

export function linesOfBytes(bytes: Uint8Array): string[];

export interface CheckLinesOptions {
  chains?: readonly string[];
  fromSeq?: number;
  toSeq?: number;
  limit?: number;
  prevHash?: string;
  treeSizes?: ReadonlySet<number>;
  onProgress?: (progress: { chain: string; checked: number; total: number }) => void;
  onChain?: (check: ChainCheck) => void;
}

export function checkLines(
  lines: readonly string[],
  registry: CheckerRegistry,
  options?: CheckLinesOptions,
): Promise<{
  ok: boolean;
  finding: CheckerFinding | undefined;
  chains: CheckerChainSummary[];
  unchecked: { chain: string; seq: number; type: string }[];
}>;

export function rootOfLeafHashes(leafHashes: readonly Uint8Array[]): Promise<Uint8Array>;
export function verifyInclusion(
  index: number,
  size: number,
  leaf: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): Promise<boolean>;

export function verifyConsistency(
  first: number,
  second: number,
  proof: readonly Uint8Array[],
  firstRoot: Uint8Array,
  secondRoot: Uint8Array,
): Promise<boolean>;

export class TreeEdge {
  size: number;
  push(leaf: Uint8Array): Promise<void>;
  root(): Promise<Uint8Array>;
}

export function parseNote(
  note: string,
): { body: string; signatures: { name: string; keyHash: Uint8Array; signature: Uint8Array }[] } | undefined;
export function parseCheckpointBody(body: string): Checkpoint | undefined;
export function parseWitnessKey(vkey: string): Promise<WitnessKey | undefined>;
export function openCheckpoint(
  note: string,
  registry: CheckerRegistry,
  witnesses?: readonly WitnessKey[],
  origin?: string,
): Promise<
  { checkpoint: Checkpoint; signer: string; problem?: undefined } | { problem: string; checkpoint?: Checkpoint }
>;

export function parseProofFile(
  text: string,
): { record: string; index: number; hashes: Uint8Array[]; checkpoint: string } | undefined;
export function checkProofFile(
  text: string,
  registry: CheckerRegistry,
  options?: {
    witnesses?: readonly WitnessKey[];
    origin?: string;
    chain?: string;
    /** The caller compares the proof's record with one it checked with the chain's delegations: a signature the registry alone does not verify is returned as signatureProblem, not a finding. */
    recordHeld?: boolean;
  },
): Promise<
  | {
      ok: true;
      seq: number;
      chain: string;
      record: string;
      size: number;
      origin: string;
      signatureProblem?: string;
    }
  | { ok: false; finding: CheckerFinding }
>;

export function gunzip(bytes: Uint8Array, maxBytes?: number): Promise<Uint8Array>;

export type BundleFiles = ReadonlyMap<string, () => Promise<Uint8Array>>;

export interface BundleReport {
  ok: boolean;
  findings: CheckerFinding[];
  notes: string[];
  chains: CheckerChainSummary[];
  records: number;
  /** Checkpoints and inclusion proof files found (each checked; a failure is a finding). */
  checkpoints?: number;
  inclusionProofs?: number;
  /** The trust root: the bundle's own signers.json (the audited party's) or one the auditor gave, and its keys. */
  trust?: {
    source: 'bundle' | 'given';
    signers: { kid: string; algorithm: string; spkiSha256: string; deployedAt: string; retiredAt: string | null }[];
    /** Present when Ed25519 was verified by the fallback given with useEd25519Fallback: its name. */
    ed25519Fallback?: string;
  };
}

export function checkBundle(
  files: BundleFiles,
  options?: {
    witnesses?: readonly WitnessKey[];
    signersText?: string;
    /** The log's CHECKPOINT_ORIGIN: each checkpoint's origin must then be exactly `<checkpointOrigin>/<chain>`. */
    checkpointOrigin?: string;
    /** Checkpoints the auditor holds from elsewhere, checked like the bundle's against the same records. */
    heldCheckpoints?: readonly { name: string; text: string }[];
    onProgress?: (progress: { phase: string; checked: number; total: number }) => void;
  },
): Promise<BundleReport>;

/** The parts of a stream as one Uint8Array; throws past maxBytes. */
export function bytesOfParts(
  stream: AsyncIterable<Uint8Array>,
  maxBytes: number,
  expected?: number,
): Promise<Uint8Array>;

export function filesOfTar(tar: Uint8Array): Map<string, () => Promise<Uint8Array>>;

/** A pure-JS Ed25519 verifier, used only for keys WebCrypto cannot import as Ed25519 (NotSupportedError). */
export interface Ed25519Fallback {
  name: string;
  verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): Promise<boolean>;
}
export function useEd25519Fallback(fallback: Ed25519Fallback | undefined): void;
/** The fallback's name if it verified anything since it was given (or since checkBundle began). */
export function ed25519FallbackUsed(): string | undefined;
