/**
 * The checks of docs/FORMAT.md section 5 that need one record only:
 * 1 (it parses, exact members and types, in JCS form), 4 (hash recomputes)
 * and 5 (signature under the registry). They are independent per record, so
 * they run in parallel (worker threads); verify.ts applies the ordered checks
 * 2, 3 and 6 and decides which failure comes first.
 */
import { jcs, payloadJcsFromParts, recordJcs } from '../chain/canonical.ts';
import { preimageOf, sha256 } from '../chain/hash.ts';
import { dataProblem } from '../chain/input.ts';
import {
  BASE64_PATTERN,
  CHAIN_NAME_PATTERN,
  EVENT_TYPE_PATTERN,
  FORMAT_VERSION,
  HASH_PATTERN,
  STREAM_PATTERN,
  UUID_PATTERN,
  isTimestamp,
  payloadOf,
  type ChainRecord,
} from '../chain/record.ts';
import { SIGNER_EVENT_TYPES, type Delegation } from '../chain/delegation.ts';
import { checkSigner, type SignerRegistry } from '../chain/registry.ts';
import { isHighSEcdsa, isSignatureAlgorithm, verifyMessageSignature, verifySignature } from '../chain/signature.ts';
import { EMBEDDED_SIGNATURE_TYPES } from './embeddedTypes.ts';

export type SignatureFailure = 'unknown-signer' | 'algorithm-mismatch' | 'outside-validity-window' | 'bad-signature';

/** What the ordered checks need of a record that has the right shape. */
export interface RecordFacts {
  chain: string;
  seq: number;
  id: string;
  type: string;
  stream: string;
  version: number;
  ts: string;
  prevHash: string;
  hash: string;
  kid: string;
  alg: string;
}

export type LineCheck =
  | { ok: false; malformed: string }
  | {
      ok: true;
      facts: RecordFacts;
      /** Whether `hash` recomputes from the payload and prevHash. */
      hashOk: boolean;
      /** `session`: signed by a delegated session key (docs/FORMAT.md section 4b); the ordered pass checks its delegation and window. */
      signature: { ok: true; session?: true } | { ok: false; reason: SignatureFailure; message: string };
      /** `data` of records the ordered pass needs whole (signer.delegated, signing.breakglass_used). */
      data?: unknown;
    };

const RECORD_MEMBERS = [
  'actor',
  'chain',
  'data',
  'hash',
  'id',
  'meta',
  'prevHash',
  'seq',
  'sig',
  'stream',
  'ts',
  'type',
  'v',
  'version',
];

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function hasExactly(value: Record<string, unknown>, members: readonly string[]): boolean {
  const keys = Object.keys(value);
  return keys.length === members.length && members.every((member) => Object.hasOwn(value, member));
}

function positiveInteger(value: unknown): boolean {
  return Number.isSafeInteger(value) && (value as number) >= 1;
}

/**
 * docs/FORMAT.md section 5, check 1: why a parsed value is not a record of
 * section 1, or undefined when it is. Every string must be well-formed
 * Unicode (section 1; RFC 8785 has no form for a lone surrogate): the
 * patterned members are ASCII, `data` is checked by dataProblem, and the
 * free strings (actor, meta, sig) here, before anything serialises them.
 */
export function shapeProblem(r: unknown): string | undefined {
  if (!isObject(r)) return 'not a JSON object';
  if (!hasExactly(r, RECORD_MEMBERS)) {
    const keys = Object.keys(r);
    const missing = RECORD_MEMBERS.filter((member) => !keys.includes(member));
    const extra = keys.filter((key) => !RECORD_MEMBERS.includes(key));
    return `members differ from the format: missing [${missing.join(', ')}], unknown [${extra.join(', ')}]`;
  }
  if (r['v'] !== FORMAT_VERSION) return `v must be ${FORMAT_VERSION}`;
  if (typeof r['chain'] !== 'string' || !CHAIN_NAME_PATTERN.test(r['chain'])) return 'chain is not a chain id';
  if (!positiveInteger(r['seq'])) return 'seq is not a positive integer';
  if (typeof r['id'] !== 'string' || !UUID_PATTERN.test(r['id'])) return 'id is not a lowercase UUID';
  if (typeof r['type'] !== 'string' || !EVENT_TYPE_PATTERN.test(r['type']))
    return 'type is not a dot-namespaced lower-case event type';
  if (typeof r['stream'] !== 'string' || !STREAM_PATTERN.test(r['stream'])) return 'stream is not <category>-<id>';
  if (!positiveInteger(r['version'])) return 'version is not a positive integer';
  if (typeof r['ts'] !== 'string' || !isTimestamp(r['ts'])) return 'ts is not RFC 3339 UTC with milliseconds';
  const actor = r['actor'];
  if (
    !isObject(actor) ||
    !hasExactly(actor, ['id', 'role']) ||
    typeof actor['id'] !== 'string' ||
    typeof actor['role'] !== 'string'
  ) {
    return 'actor is not {id: string, role: string}';
  }
  if (!actor['id'].isWellFormed() || !actor['role'].isWellFormed()) return 'actor has a string with a lone surrogate';
  if (!isObject(r['data'])) return 'data is not an object';
  const problem = dataProblem(r['data'], 'data', 0);
  if (problem) return problem;
  const meta = r['meta'];
  if (!isObject(meta) || !Object.values(meta).every((value) => typeof value === 'string'))
    return 'meta is not an object of strings';
  if (!Object.entries(meta).every(([key, value]) => key.isWellFormed() && (value as string).isWellFormed()))
    return 'meta has a string with a lone surrogate';
  if (typeof r['prevHash'] !== 'string' || !HASH_PATTERN.test(r['prevHash']))
    return 'prevHash is not 64 lowercase hex digits';
  if (typeof r['hash'] !== 'string' || !HASH_PATTERN.test(r['hash'])) return 'hash is not 64 lowercase hex digits';
  const sig = r['sig'];
  if (
    !isObject(sig) ||
    !hasExactly(sig, ['alg', 'kid', 'value']) ||
    typeof sig['kid'] !== 'string' ||
    typeof sig['alg'] !== 'string' ||
    typeof sig['value'] !== 'string' ||
    !BASE64_PATTERN.test(sig['value'])
  ) {
    return 'sig is not {kid, alg, value: base64}';
  }
  if (!sig['kid'].isWellFormed() || !sig['alg'].isWellFormed()) return 'sig has a string with a lone surrogate';
  // Base64 whose unused trailing bits are not zero decodes to the same bytes:
  // a second text for the same record. Only the canonical encoding is accepted.
  if (Buffer.from(sig['value'], 'base64').toString('base64') !== sig['value'])
    return 'sig.value is not canonical base64 (nonzero padding bits)';
  return undefined;
}

/**
 * Whether every object in a JSON.parse result enumerates its members in JCS
 * order (sorted by UTF-16 code units, which is what `<` compares on strings).
 */
function membersInJcsOrder(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return true;
  if (Array.isArray(value)) return value.every(membersInJcsOrder);
  const object = value as Record<string, unknown>;
  let previous: string | undefined;
  for (const key of Object.keys(object)) {
    if (previous !== undefined && !(previous < key)) return false;
    previous = key;
    if (!membersInJcsOrder(object[key])) return false;
  }
  return true;
}

/**
 * docs/FORMAT.md section 5, check 1 (JCS form) for a record that passed
 * shapeProblem: the JCS text of its `data` when `text` is canonical, else
 * undefined. JCS writes strings and numbers as JSON.stringify does (RFC 8785
 * 3.2.2; shapeProblem has refused lone surrogates), so a text that
 * JSON.stringify reproduces from its own parse, with every object's members
 * in JCS order, is canonical: that is checked natively, without
 * re-serialising `data` in JavaScript. Anything else (integer-like keys,
 * which JSON.parse enumerates first; -0; duplicate members) takes the full
 * comparison with recordJcs, whose verdict it is. `data` is then cut out of
 * the text, between the first `,"data":` (actor's and chain's strings cannot
 * hold an unescaped quote) and the last `,"hash":"<hash>","id":"<id>","meta":{`
 * (after it, meta and sig hold strings only and no other member is an object).
 */
function canonicalDataJcs(text: string, record: ChainRecord, metaJcs: string): string | undefined {
  if (JSON.stringify(record) !== text || !membersInJcsOrder(record)) {
    const dataJcs = jcs(record.data);
    return recordJcs(record, dataJcs, metaJcs) === text ? dataJcs : undefined;
  }
  const dataStart = text.indexOf(',"data":') + ',"data":'.length;
  return text.slice(dataStart, text.lastIndexOf(`,"hash":"${record.hash}","id":"${record.id}","meta":{`));
}

export interface LineCheckOptions {
  /**
   * false: checks 1 and 4 only, the signature is taken as valid. For an
   * export told to verify hashes and links only (`export --verify hashes`);
   * the default checks everything.
   */
  signatures?: boolean;
}

/** Records whose data the ordered pass reads: delegations, break-glass, and those that carry a document signature (verifier/embedded.ts). */
const DATA_TYPES: ReadonlySet<string> = new Set([
  SIGNER_EVENT_TYPES.delegated,
  SIGNER_EVENT_TYPES.breakglassUsed,
  ...Object.values(EMBEDDED_SIGNATURE_TYPES),
]);

/**
 * `delegations`: session signers (docs/FORMAT.md section 4b) whose signer.delegated record the
 * ordered pass has already verified, by kid. A record signed by one of them
 * is checked against its key here; whether the delegation is in the record's
 * chain and the record inside its window is the ordered pass's to decide.
 */
export function checkLine(
  text: string,
  registry: SignerRegistry,
  delegations?: ReadonlyMap<string, Delegation>,
  options: LineCheckOptions = {},
): LineCheck {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    // The line's start names what it is when a reader marked it (infra/adapters/files/fileReader.ts: not UTF-8).
    const start = JSON.stringify(text.slice(0, 32));
    return { ok: false, malformed: `does not parse as JSON (it starts ${start}): ${(error as Error).message}` };
  }
  const problem = shapeProblem(parsed);
  if (problem) return { ok: false, malformed: problem };
  const record = parsed as ChainRecord;
  const metaJcs = jcs(record.meta);
  const dataJcs = canonicalDataJcs(text, record, metaJcs);
  if (dataJcs === undefined) return { ok: false, malformed: 'record text is not in canonical (JCS) form' };

  const preimage = preimageOf(payloadJcsFromParts(payloadOf(record), dataJcs, metaJcs), record.prevHash);
  const hash = sha256(preimage);
  const hashOk = hash.toString('hex') === record.hash;
  const { kid, alg, value } = record.sig;
  const facts: RecordFacts = {
    chain: record.chain,
    seq: record.seq,
    id: record.id,
    type: record.type,
    stream: record.stream,
    version: record.version,
    ts: record.ts,
    prevHash: record.prevHash,
    hash: record.hash,
    kid,
    alg,
  };
  const extra = DATA_TYPES.has(record.type) ? { data: record.data } : {};
  if (options.signatures === false) return { ok: true, facts, hashOk, signature: { ok: true }, ...extra };
  const signer = checkSigner(registry, kid, alg, Date.parse(record.ts));
  const delegation = signer.ok || signer.reason !== 'unknown-signer' ? undefined : delegations?.get(kid);
  if (delegation)
    return {
      ok: true,
      facts,
      hashOk,
      signature: checkSessionSignature(delegation, alg, hash, preimage, value),
      ...extra,
    };
  if (!signer.ok)
    return {
      ok: true,
      facts,
      hashOk,
      signature: { ok: false, reason: signer.reason, message: signer.message },
      ...extra,
    };
  return {
    ok: true,
    facts,
    hashOk,
    signature: checkSignatureBytes(alg, signer.signer.publicKey, hash, preimage, value, kid),
    ...extra,
  };
}

function checkSessionSignature(
  delegation: Delegation,
  alg: string,
  hash: Uint8Array,
  preimage: Uint8Array,
  valueBase64: string,
): { ok: true; session: true } | { ok: false; reason: SignatureFailure; message: string } {
  if (alg !== delegation.algorithm) {
    return {
      ok: false,
      reason: 'algorithm-mismatch',
      message: `sig.alg ${JSON.stringify(alg)} but session signer ${delegation.kid} is ${delegation.algorithm}`,
    };
  }
  const checked = checkSignatureBytes(alg, delegation.publicKey, hash, preimage, valueBase64, delegation.kid);
  return checked.ok ? { ok: true, session: true } : checked;
}

export function checkSignatureBytes(
  alg: string,
  publicKey: Parameters<typeof verifySignature>[1],
  hash: Uint8Array,
  preimage: Uint8Array,
  valueBase64: string,
  kid: string,
): { ok: true } | { ok: false; reason: SignatureFailure; message: string } {
  if (!isSignatureAlgorithm(alg))
    return { ok: false, reason: 'algorithm-mismatch', message: `unknown algorithm ${JSON.stringify(alg)}` };
  const signature = Buffer.from(valueBase64, 'base64');
  if (verifySignature(alg, publicKey, hash, preimage, signature)) return { ok: true };
  if (alg === 'ecdsa-p256-sha256' && isHighSEcdsa(signature))
    return {
      ok: false,
      reason: 'bad-signature',
      message: `ECDSA signature of signer ${kid} has a high S (s > n/2): only the low-S form is accepted (docs/FORMAT.md section 3)`,
    };
  return { ok: false, reason: 'bad-signature', message: `signature does not verify under signer ${kid}` };
}

/**
 * A document signature carried in a record's data (docs/FORMAT.md section 5,
 * check 5b): its signer is a registry signer (documents never are signed by
 * session keys) of that algorithm, valid at `tsMs`, and the signature
 * verifies over `message` as documents are signed (section 3); with no
 * message, only the signer is checked. Problems are returned as text for the
 * finding; undefined when it checks.
 */
export function documentSignatureProblem(
  registry: SignerRegistry,
  signature: { kid: string; alg: string; value: string },
  tsMs: number,
  message: Uint8Array | undefined,
  options: LineCheckOptions = {},
): string | undefined {
  if (options.signatures === false) return undefined;
  const signer = checkSigner(registry, signature.kid, signature.alg, tsMs);
  if (!signer.ok) return `${signer.reason}: ${signer.message}`;
  if (message === undefined) return undefined;
  if (!BASE64_PATTERN.test(signature.value) || !isSignatureAlgorithm(signature.alg))
    return `the signature of signer ${signature.kid} is not base64`;
  const bytes = Buffer.from(signature.value, 'base64');
  if (verifyMessageSignature(signature.alg, signer.signer.publicKey, message, bytes)) return undefined;
  return `the signature does not verify under signer ${signature.kid}`;
}
