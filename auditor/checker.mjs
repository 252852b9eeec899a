// Chainbook's independent checker (docs/FORMAT.md section 15). One file, no
// dependency and no build step: it runs as an ES module in Node 20 or later
// and in a browser, and reads only what docs/FORMAT.md publishes: records
// (sections 1 to 5), the signer registry (section 4, 4b), archive batches and
// their signed manifests and the audit bundle (section 8), checkpoints,
// cosignatures and inclusion proof files (section 14). SHA-256 and the
// signatures are WebCrypto's (globalThis.crypto.subtle); RFC 8785 is written
// here from the RFC. It reports what it finds as findings
// { chain, seq, reason, message } and never throws on bad data.
//
// It shares no code with Chainbook's Node verifier on purpose: a test runs
// both over the golden vectors and compares their findings
// (test/auditor/checker.unit.test.ts).

export const CHECKER_VERSION = 1;
export const ZERO_HASH = '0'.repeat(64);

/** Records checked concurrently (hash and signature promises in flight) before the ordered pass takes them. */
export const PAGE_RECORDS = 512;
/** Bounds of docs/FORMAT.md: a registry's signers, a note, a proof file, a batch's JSON Lines. */
export const MAX_REGISTRY_SIGNERS = 1000;
export const MAX_NOTE_BYTES = 65536;
export const MAX_NOTE_SIGNATURES = 100;
export const MAX_PROOF_HASHES = 64;
export const MAX_PROOF_FILE_BYTES = 262144;
export const MAX_ARCHIVE_BATCH_BYTES = 33554432;
/** The most a bundle archive (.tar.gz) is unpacked to in memory. */
export const MAX_BUNDLE_ARCHIVE_BYTES = 1024 * 1024 * 1024;
const MAX_DATA_DEPTH = 32;
const MAX_DELEGATION_WINDOW_MS = 24 * 60 * 60 * 1000;

const subtle = globalThis.crypto.subtle;
const encoder = new TextEncoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true });

// ---------------------------------------------------------------- bytes

const HEX_PATTERN = /^[0-9a-f]*$/;
const BASE64_PATTERN = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function hexOf(bytes) {
  let text = '';
  for (const byte of bytes) text += byte.toString(16).padStart(2, '0');
  return text;
}

export function bytesOfHex(text) {
  if (text.length % 2 !== 0 || !HEX_PATTERN.test(text)) return undefined;
  const bytes = new Uint8Array(text.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Number.parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

export function base64Of(bytes) {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/** Standard base64 with padding, in its canonical form only (unused bits zero); undefined otherwise. */
export function bytesOfBase64(text) {
  if (typeof text !== 'string' || !BASE64_PATTERN.test(text)) return undefined;
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return base64Of(bytes) === text ? bytes : undefined;
}

function concat(...parts) {
  const bytes = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    bytes.set(part, at);
    at += part.length;
  }
  return bytes;
}

function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export async function sha256(bytes) {
  return new Uint8Array(await subtle.digest('SHA-256', bytes));
}

function isObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// ---------------------------------------------------------------- RFC 8785

/** RFC 8785 section 3.2.2.2: strings as ECMAScript JSON.stringify writes them; a lone surrogate has no form. */
function canonicalString(value) {
  if (!value.isWellFormed()) throw new TypeError('a string with a lone surrogate has no RFC 8785 form');
  return JSON.stringify(value);
}

/** RFC 8785 section 3.2.2.3: numbers as ECMAScript Number.prototype.toString writes them, -0 as 0. */
function canonicalNumber(value) {
  if (!Number.isFinite(value)) throw new TypeError('NaN and Infinity have no JSON form');
  return Object.is(value, -0) ? '0' : String(value);
}

/** Members sorted by the UTF-16 code units of their names (RFC 8785 section 3.2.3): JavaScript's default sort. */
function compareUtf16(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** RFC 8785 (JCS) text of a parsed JSON value. Throws TypeError on a value JSON cannot hold. */
export function canonicalize(value) {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      return canonicalNumber(value);
    case 'string':
      return canonicalString(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map(canonicalize).join(',')}]`;
      const names = Object.keys(value).sort(compareUtf16);
      return `{${names.map((name) => `${canonicalString(name)}:${canonicalize(value[name])}`).join(',')}}`;
    }
    default:
      throw new TypeError(`${typeof value} has no JSON form`);
  }
}

// ---------------------------------------------------------------- keys and signatures (docs/FORMAT.md section 3)

export const SIGNATURE_ALGORITHMS = ['ed25519', 'rsa-sha256', 'ecdsa-p256-sha256'];
const RSA_MIN_MODULUS_BITS = 2048;
const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const P256_HALF_ORDER = P256_ORDER >> 1n;

const WEBCRYPTO = {
  ed25519: { import: { name: 'Ed25519' }, verify: { name: 'Ed25519' } },
  'rsa-sha256': {
    import: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
    verify: { name: 'RSASSA-PKCS1-v1_5' },
  },
  'ecdsa-p256-sha256': {
    import: { name: 'ECDSA', namedCurve: 'P-256' },
    verify: { name: 'ECDSA', hash: 'SHA-256' },
  },
};

function spkiOfPem(pem) {
  const match = /^-----BEGIN PUBLIC KEY-----\r?\n([A-Za-z0-9+/=\r\n]+)-----END PUBLIC KEY-----\r?\n?$/.exec(
    pem.trim() + '\n',
  );
  if (!match) return undefined;
  const binary = atob(match[1].replace(/[\r\n]/g, ''));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

// ---------------------------------------------------------------- the Ed25519 fallback

/** An Ed25519 key's SPKI (RFC 8410): this fixed prefix, then the 32-byte key. */
const ED25519_SPKI_PREFIX = Uint8Array.of(0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00);
let ed25519Fallback;

/**
 * Gives the checker a pure-JS Ed25519 verifier, `{ name, verify(signature,
 * message, publicKey) → Promise<boolean> }`, for a browser whose WebCrypto
 * lacks Ed25519. The checker uses it only for a key WebCrypto refuses to
 * import as Ed25519 with NotSupportedError; everywhere else WebCrypto
 * verifies. The auditor page gives it the pinned @noble/ed25519 (section 15).
 */
export function useEd25519Fallback(fallback) {
  ed25519Fallback = fallback && typeof fallback.verify === 'function' ? { ...fallback, used: false } : undefined;
}

/** The fallback's name if it verified anything since it was given, else undefined. */
export function ed25519FallbackUsed() {
  return ed25519Fallback?.used ? ed25519Fallback.name : undefined;
}

/** A key the fallback verifies, when WebCrypto refused `error` for Ed25519 and a fallback is given; else undefined. */
function fallbackEd25519Key(error, raw) {
  if (error?.name !== 'NotSupportedError' || !ed25519Fallback || raw?.length !== 32) return undefined;
  return { fallback: true, raw };
}

/**
 * The encodings, sign bit cleared, of Ed25519's points of small order (the
 * identity, y = 0, y = p - 1 and the two y of order 8): under such a key the
 * identity R with S = 0 verifies for any message with WebCrypto's
 * cofactorless check, and the fallback refuses it, so the checker refuses
 * the key itself (section 3), as it does one whose y is not below p.
 */
const ED25519_SMALL_ORDER_Y = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
];

/** Why a raw 32-byte Ed25519 public key is refused whatever verifies with it (small order, y not below p); else undefined. */
function ed25519KeyProblem(raw) {
  const y = Uint8Array.from(raw);
  y[31] &= 0x7f;
  if (ED25519_SMALL_ORDER_Y.includes(hexOf(y))) return 'an Ed25519 key of small order';
  // y >= p = 2^255 - 19: bytes 1..30 all 0xff, byte 31 0x7f, byte 0 at least 0xed.
  if (y[0] >= 0xed && y[31] === 0x7f && y.subarray(1, 31).every((byte) => byte === 0xff))
    return 'an Ed25519 key not canonically encoded';
  return undefined;
}

/** Ed25519 over `message` by a key from importPublicKey or parseWitnessKey: WebCrypto's, or the fallback's. */
async function ed25519Verifies(key, message, signature) {
  try {
    if (signature.length !== 64) return false;
    if (key.fallback) {
      ed25519Fallback.used = true;
      return (await ed25519Fallback.verify(signature, message, key.raw)) === true;
    }
    return await subtle.verify({ name: 'Ed25519' }, key, signature, message);
  } catch {
    return false;
  }
}

/** A WebCrypto public key for `algorithm` from an SPKI PEM, or why there is none (another kind of key, RSA too short). */
export async function importPublicKey(algorithm, pem) {
  if (!SIGNATURE_ALGORITHMS.includes(algorithm)) return { problem: `unknown algorithm ${JSON.stringify(algorithm)}` };
  if (typeof pem !== 'string' || !pem.includes('-----BEGIN PUBLIC KEY-----'))
    return { problem: 'not an SPKI PEM public key ("-----BEGIN PUBLIC KEY-----")' };
  let spki;
  try {
    spki = spkiOfPem(pem);
  } catch {
    spki = undefined;
  }
  if (!spki) return { problem: 'bad PEM' };
  let key;
  try {
    key = await subtle.importKey('spki', spki, WEBCRYPTO[algorithm].import, true, ['verify']);
  } catch (error) {
    // A browser without Ed25519 in WebCrypto: the pinned fallback if the page gave one, else it says so rather than calling the key bad.
    const isEd25519Spki =
      algorithm === 'ed25519' &&
      spki.length === 44 &&
      equalBytes(spki.subarray(0, ED25519_SPKI_PREFIX.length), ED25519_SPKI_PREFIX);
    const fallback = isEd25519Spki ? fallbackEd25519Key(error, spki.slice(ED25519_SPKI_PREFIX.length)) : undefined;
    if (fallback) {
      const problem = ed25519KeyProblem(fallback.raw);
      return problem
        ? { problem: `not a key of ${algorithm}: ${problem}` }
        : { key: { algorithm, cryptoKey: fallback, raw: fallback.raw, spki } };
    }
    if (error?.name === 'NotSupportedError') return { problem: `this WebCrypto cannot verify ${algorithm}` };
    return { problem: `not a key of ${algorithm}: ${error?.message ?? error}` };
  }
  if (algorithm === 'rsa-sha256' && key.algorithm.modulusLength < RSA_MIN_MODULUS_BITS)
    return { problem: `RSA modulus is ${key.algorithm.modulusLength} bits, at least ${RSA_MIN_MODULUS_BITS} required` };
  const raw = algorithm === 'ed25519' ? new Uint8Array(await subtle.exportKey('raw', key)) : undefined;
  const problem = raw && ed25519KeyProblem(raw);
  if (problem) return { problem: `not a key of ${algorithm}: ${problem}` };
  return { key: { algorithm, cryptoKey: key, raw, spki } };
}

/** r and s of a DER ECDSA signature, SEQUENCE { INTEGER r, INTEGER s } with short lengths; undefined otherwise. */
function ecdsaDerIntegers(der) {
  if (der.length < 8 || der[0] !== 0x30 || der[1] !== der.length - 2 || der[1] > 0x7f) return undefined;
  const integers = [];
  let at = 2;
  while (at < der.length && integers.length < 2) {
    const length = der[at + 1];
    if (der[at] !== 0x02 || length === undefined || length === 0 || length > 0x7f) return undefined;
    const body = der.subarray(at + 2, at + 2 + length);
    if (body.length !== length) return undefined;
    // DER is minimal: no leading zero byte unless the next has its high bit set, and never negative.
    if (body[0] & 0x80 || (body.length > 1 && body[0] === 0 && !(body[1] & 0x80))) return undefined;
    integers.push(BigInt(`0x${hexOf(body)}`));
    at += 2 + length;
  }
  if (integers.length !== 2 || at !== der.length) return undefined;
  return { r: integers[0], s: integers[1] };
}

/** WebCrypto takes ECDSA signatures as r || s of 32 bytes each (IEEE P1363), ours are DER (section 3). */
function p1363OfDer(der) {
  const integers = ecdsaDerIntegers(der);
  if (!integers || integers.r === 0n || integers.s === 0n || integers.r >= P256_ORDER || integers.s >= P256_ORDER)
    return undefined;
  if (integers.s > P256_HALF_ORDER) return 'high-s';
  return concat(
    bytesOfHex(integers.r.toString(16).padStart(64, '0')),
    bytesOfHex(integers.s.toString(16).padStart(64, '0')),
  );
}

/**
 * Whether `signature` verifies. `message` is what is signed: for Ed25519 the
 * bytes themselves; for RSA and ECDSA the bytes whose SHA-256 is the digest
 * (a record's preimage, a document's bytes). 'high-s' for an ECDSA signature
 * whose twin is the low-S one (section 3).
 */
export async function verifySignature(key, message, signature) {
  let bytes = signature;
  if (key.algorithm === 'ecdsa-p256-sha256') {
    bytes = p1363OfDer(signature);
    if (bytes === undefined) return false;
    if (bytes === 'high-s') return 'high-s';
  }
  if (key.algorithm === 'ed25519') return ed25519Verifies(key.cryptoKey, message, bytes);
  try {
    return await subtle.verify(WEBCRYPTO[key.algorithm].verify, key.cryptoKey, bytes, message);
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- the signer registry (section 4)

const KID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const RFC3339_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const ENTRY_MEMBERS = ['signer_kid', 'algorithm', 'public_key_pem', 'deployedAt', 'retiredAt', 'description'];

function onTheCalendar(value) {
  const [year, month, day, hour] = value.slice(0, 13).split(/[-T]/).map(Number);
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  return date.getUTCMonth() === month - 1 && date.getUTCDate() === day && hour < 24;
}

function instantMs(value) {
  if (typeof value !== 'string' || !RFC3339_PATTERN.test(value) || !onTheCalendar(value)) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

async function registryEntry(entry, path, problems) {
  if (!isObject(entry)) return void problems.push(`${path}: must be an object`);
  const before = problems.length;
  for (const member of Object.keys(entry))
    if (!ENTRY_MEMBERS.includes(member)) problems.push(`${path}.${member}: unknown member`);
  const { signer_kid: kid, algorithm, public_key_pem: pem, description = null } = entry;
  if (typeof kid !== 'string' || !KID_PATTERN.test(kid)) problems.push(`${path}.signer_kid: not a signer id`);
  if (!SIGNATURE_ALGORITHMS.includes(algorithm))
    problems.push(`${path}.algorithm: must be one of ${SIGNATURE_ALGORITHMS.join(', ')}`);
  const imported = SIGNATURE_ALGORITHMS.includes(algorithm) ? await importPublicKey(algorithm, pem) : {};
  if (imported.problem) problems.push(`${path}.public_key_pem: ${imported.problem}`);
  const deployedAtMs = instantMs(entry.deployedAt);
  if (deployedAtMs === undefined) problems.push(`${path}.deployedAt: must be an RFC 3339 timestamp with a zone`);
  const retiredAt = entry.retiredAt ?? null;
  const retiredAtMs = retiredAt === null ? null : instantMs(retiredAt);
  if (retiredAtMs === undefined) problems.push(`${path}.retiredAt: must be an RFC 3339 timestamp with a zone`);
  if (deployedAtMs !== undefined && typeof retiredAtMs === 'number' && retiredAtMs <= deployedAtMs)
    problems.push(`${path}: retiredAt must be after deployedAt`);
  if (description !== null && typeof description !== 'string') problems.push(`${path}.description: must be a string`);
  if (problems.length > before) return undefined;
  // What the auditor compares with the keys it knows: SHA-256 of the key's SPKI (DER), as `openssl pkey -pubin -outform DER | sha256sum` gives it.
  const spkiSha256 = hexOf(await sha256(imported.key.spki));
  return {
    kid,
    algorithm,
    key: imported.key,
    spkiSha256,
    deployedAt: entry.deployedAt,
    deployedAtMs,
    retiredAt,
    retiredAtMs,
  };
}

/** signers.json (section 4): { registry } or { problems } listing every problem, each with its path. */
export async function loadRegistry(text) {
  let document;
  try {
    document = JSON.parse(text);
  } catch (error) {
    return { problems: [`not JSON: ${error.message}`] };
  }
  if (!isObject(document) || !Array.isArray(document.signers))
    return { problems: ['the document must be an object with a "signers" array'] };
  const problems = [];
  if (document.signers.length > MAX_REGISTRY_SIGNERS) problems.push(`signers: at most ${MAX_REGISTRY_SIGNERS} entries`);
  const signers = new Map();
  const entries = document.signers.slice(0, MAX_REGISTRY_SIGNERS);
  for (const [index, entry] of entries.entries()) {
    const signer = await registryEntry(entry, `signers[${index}]`, problems);
    if (!signer) continue;
    if (signers.has(signer.kid))
      problems.push(`signers[${index}].signer_kid: duplicate kid ${JSON.stringify(signer.kid)}`);
    else signers.set(signer.kid, signer);
  }
  return problems.length > 0 ? { problems } : { registry: { signers } };
}

/** Section 4: the signer exists, its algorithm is alg, deployedAt <= ts < retiredAt. */
function checkSigner(registry, kid, alg, tsMs) {
  const signer = registry.signers.get(kid);
  if (!signer) return { reason: 'unknown-signer', message: `signer ${JSON.stringify(kid)} is not in the registry` };
  if (signer.algorithm !== alg)
    return {
      reason: 'algorithm-mismatch',
      message: `sig.alg ${JSON.stringify(alg)} but signer ${kid} is ${signer.algorithm}`,
    };
  if (tsMs < signer.deployedAtMs || (signer.retiredAtMs !== null && tsMs >= signer.retiredAtMs))
    return {
      reason: 'outside-validity-window',
      message: `the time is outside signer ${kid}'s window [${signer.deployedAt}, ${signer.retiredAt ?? '∞'})`,
    };
  return { signer };
}

/** A document signature (sections 5b, 8, 9): registry signer valid at tsMs, Ed25519 over the bytes, RSA/ECDSA over their SHA-256. */
async function documentSignatureProblem(registry, signature, tsMs, message) {
  const checked = checkSigner(registry, signature.kid, signature.alg, tsMs);
  if (!checked.signer) return `${checked.reason}: ${checked.message}`;
  if (message === undefined) return undefined;
  const bytes = bytesOfBase64(signature.value);
  if (!bytes) return `the signature of signer ${signature.kid} is not base64`;
  const valid = await verifySignature(checked.signer.key, message, bytes);
  return valid === true ? undefined : `the signature does not verify under signer ${signature.kid}`;
}

// ---------------------------------------------------------------- one record (sections 1, 2, 3)

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
const CHAIN_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
const TYPE_PATTERN = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;
const STREAM_PATTERN = /^[a-z][a-z0-9_]*-[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const HASH_PATTERN = /^[0-9a-f]{64}$/;
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TIMESTAMP_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function isTimestamp(value) {
  if (typeof value !== 'string' || !TIMESTAMP_PATTERN.test(value)) return false;
  const ms = Date.parse(value);
  return !Number.isNaN(ms) && new Date(ms).toISOString() === value;
}

function hasExactly(value, members) {
  const keys = Object.keys(value);
  return keys.length === members.length && members.every((member) => Object.hasOwn(value, member));
}

const positiveInteger = (value) => Number.isSafeInteger(value) && value >= 1;

/** Section 1's rules for data: safe integers only, well-formed strings, at most 32 deep. */
function dataProblem(value, path, depth) {
  if (value === null || typeof value === 'boolean') return undefined;
  if (typeof value === 'number')
    return Number.isSafeInteger(value) ? undefined : `${path}: ${value} is not an integer within ±(2^53 − 1)`;
  if (typeof value === 'string') return value.isWellFormed() ? undefined : `${path}: string has a lone surrogate`;
  if (depth >= MAX_DATA_DEPTH) return `${path}: nested deeper than ${MAX_DATA_DEPTH}`;
  const entries = Array.isArray(value) ? value.map((item, index) => [`[${index}]`, item]) : Object.entries(value);
  for (const [name, item] of entries) {
    if (!name.isWellFormed()) return `${path}: a key has a lone surrogate`;
    const problem = dataProblem(item, Array.isArray(value) ? `${path}${name}` : `${path}.${name}`, depth + 1);
    if (problem) return problem;
  }
  return undefined;
}

/** Section 5, check 1: why a parsed value is not a record of section 1; undefined when it is. */
function shapeProblem(r) {
  if (!isObject(r)) return 'not a JSON object';
  if (!hasExactly(r, RECORD_MEMBERS)) return 'members differ from the format (section 1)';
  if (r.v !== 1) return 'v must be 1';
  if (typeof r.chain !== 'string' || !CHAIN_PATTERN.test(r.chain)) return 'chain is not a chain id';
  if (!positiveInteger(r.seq)) return 'seq is not a positive integer';
  if (typeof r.id !== 'string' || !UUID_PATTERN.test(r.id)) return 'id is not a lowercase UUID';
  if (typeof r.type !== 'string' || !TYPE_PATTERN.test(r.type)) return 'type is not a dot-namespaced event type';
  if (typeof r.stream !== 'string' || !STREAM_PATTERN.test(r.stream)) return 'stream is not <category>-<id>';
  if (!positiveInteger(r.version)) return 'version is not a positive integer';
  if (!isTimestamp(r.ts)) return 'ts is not RFC 3339 UTC with milliseconds';
  const { actor, meta, sig } = r;
  if (
    !isObject(actor) ||
    !hasExactly(actor, ['id', 'role']) ||
    typeof actor.id !== 'string' ||
    typeof actor.role !== 'string'
  )
    return 'actor is not {id: string, role: string}';
  if (!isObject(r.data)) return 'data is not an object';
  const problem = dataProblem(r.data, 'data', 0);
  if (problem) return problem;
  if (!isObject(meta) || !Object.values(meta).every((value) => typeof value === 'string'))
    return 'meta is not an object of strings';
  if (typeof r.prevHash !== 'string' || !HASH_PATTERN.test(r.prevHash))
    return 'prevHash is not 64 lowercase hex digits';
  if (typeof r.hash !== 'string' || !HASH_PATTERN.test(r.hash)) return 'hash is not 64 lowercase hex digits';
  if (
    !isObject(sig) ||
    !hasExactly(sig, ['alg', 'kid', 'value']) ||
    typeof sig.kid !== 'string' ||
    typeof sig.alg !== 'string'
  )
    return 'sig is not {kid, alg, value: base64}';
  if (!bytesOfBase64(sig.value)) return 'sig.value is not canonical standard base64';
  return undefined;
}

/** The payload's JCS (section 2): the record without hash, prevHash and sig. */
function payloadText(record) {
  const { hash: _hash, prevHash: _prevHash, sig: _sig, ...payload } = record;
  return canonicalize(payload);
}

/**
 * What one line says on its own (checks 1, 4 and 5 of section 5), before the
 * ordered pass: { malformed } or { record, hashOk, hash bytes, preimage }.
 */
async function prepareLine(text, withLeaf = false) {
  let record;
  try {
    record = JSON.parse(text);
  } catch (error) {
    return { malformed: `does not parse as JSON: ${error.message}` };
  }
  const problem = shapeProblem(record);
  if (problem) return { malformed: problem };
  let canonical;
  try {
    canonical = canonicalize(record);
  } catch (error) {
    return { malformed: error.message };
  }
  if (canonical !== text) return { malformed: 'record text is not in canonical (JCS, RFC 8785) form' };
  const preimage = concat(encoder.encode(payloadText(record)), bytesOfHex(record.prevHash));
  const hash = await sha256(preimage);
  const leaf = withLeaf ? await leafHash(hash) : undefined;
  return { record, hash, leaf, preimage, hashOk: hexOf(hash) === record.hash };
}

/** Section 5, check 5 with what is known before the ordered pass (the registry, this chain's delegations so far). */
async function signatureOf(prepared, registry, delegations) {
  const { record, hash, preimage } = prepared;
  const { kid, alg, value } = record.sig;
  const delegation = registry.signers.has(kid) ? undefined : delegations.get(kid);
  let key;
  if (delegation) {
    if (alg !== delegation.algorithm)
      return {
        reason: 'algorithm-mismatch',
        message: `sig.alg ${JSON.stringify(alg)} but session signer ${kid} is ${delegation.algorithm}`,
      };
    key = delegation.key;
  } else {
    const checked = checkSigner(registry, kid, alg, Date.parse(record.ts));
    if (!checked.signer) return checked;
    key = checked.signer.key;
  }
  const valid = await verifySignature(key, key.algorithm === 'ed25519' ? hash : preimage, bytesOfBase64(value));
  if (valid === true) return { ok: true, session: delegation !== undefined };
  const why = valid === 'high-s' ? ' (an ECDSA signature with a high S: only the low-S form counts, section 3)' : '';
  return { reason: 'bad-signature', message: `signature does not verify under signer ${kid}${why}` };
}

// ---------------------------------------------------------------- delegations (section 4b) and embedded signatures (5b)

const DELEGATION_MEMBERS = ['algorithm', 'kid', 'notAfter', 'notBefore', 'public_key_pem'];

async function parseDelegation(data) {
  if (!isObject(data)) return 'data is not an object';
  if (Object.keys(data).sort().join() !== DELEGATION_MEMBERS.join())
    return `data must have exactly ${DELEGATION_MEMBERS.join(', ')}`;
  const { kid, algorithm, public_key_pem: pem, notBefore, notAfter } = data;
  if (typeof kid !== 'string' || !KID_PATTERN.test(kid)) return 'data.kid is not a signer id';
  if (!SIGNATURE_ALGORITHMS.includes(algorithm))
    return `data.algorithm ${JSON.stringify(algorithm)} is not a signature algorithm`;
  // The date and hour must exist as written, as the registry's instants (Date.parse rolls 2026-11-31 over).
  const fromMs = instantMs(notBefore) ?? NaN;
  const toMs = instantMs(notAfter) ?? NaN;
  if (Number.isNaN(fromMs) || Number.isNaN(toMs)) return 'data.notBefore and data.notAfter must be RFC 3339 timestamps';
  if (toMs <= fromMs || toMs - fromMs > MAX_DELEGATION_WINDOW_MS)
    return 'the delegation window must be non-empty and at most 24 hours';
  const imported = await importPublicKey(algorithm, pem);
  if (imported.problem) return `data.public_key_pem: ${imported.problem}`;
  return { kid, algorithm, key: imported.key, notBefore, notAfter, notBeforeMs: fromMs, notAfterMs: toMs };
}

/** Record types that carry a document signature of their own (section 5, check 5b). */
const EMBEDDED = {
  manifestApproved: 'manifest.approved',
  proofIssued: 'ledger.proof_issued',
  deliveryProofIssued: 'delivery.proof_issued',
};
const LEDGER_POSTED = 'ledger.posted';
const DELIVERY_PREPARED = 'delivery.prepared';

const isText = (value) => typeof value === 'string' && value.length > 0;

async function manifestApprovedProblem(record, registry) {
  const { signature, manifestSha256 } = record.data;
  if (
    !isObject(signature) ||
    typeof signature.kid !== 'string' ||
    typeof signature.alg !== 'string' ||
    typeof signature.value !== 'string' ||
    typeof manifestSha256 !== 'string' ||
    !HASH_PATTERN.test(manifestSha256)
  )
    return 'manifest.approved does not carry manifestSha256 and a kernel signature {kid, alg, value}';
  const problem = await documentSignatureProblem(
    registry,
    signature,
    Date.parse(record.ts),
    bytesOfHex(manifestSha256),
  );
  return problem && `the kernel signature in manifest.approved: ${problem}`;
}

const ISSUED_MEMBERS = [
  'alg',
  'deliveryHash',
  'deliveryId',
  'deliverySeq',
  'kind',
  'orderId',
  'payloadSha256',
  'proofId',
  'proofTs',
  'signature',
  'signerKid',
];
const PREPARED_MEMBERS = [
  'algorithm',
  'artifactBytes',
  'artifactSha256',
  'buyerId',
  'ciphertextBytes',
  'ciphertextSha256',
  'deliveryId',
  'envelope',
  'keyProvenance',
  'ledgerProofId',
  'manifestId',
  'manifestSignatureId',
  'objectKey',
  'orderId',
];
const ENVELOPE_ALGORITHMS = ['RSA-OAEP-256', 'ECDH-ES+A256KW', 'A256KW'];
const sameMembers = (value, members) => isObject(value) && Object.keys(value).sort().join() === members.join();
const count = (value) => Number.isSafeInteger(value) && value >= 0;

/** Why a delivery.proof_issued record's data is not of the form of section 13. */
function issuedFormProblem(d) {
  if (!sameMembers(d, ISSUED_MEMBERS)) return `its data must have exactly ${ISSUED_MEMBERS.join(', ')}`;
  if (![d.orderId, d.deliveryId, d.proofId, d.signerKid, d.alg, d.signature].every(isText) || d.kind !== 'delivery')
    return 'orderId, deliveryId, proofId, signerKid, alg and signature must be text, kind "delivery"';
  if (
    !positiveInteger(d.deliverySeq) ||
    !HASH_PATTERN.test(String(d.deliveryHash)) ||
    !HASH_PATTERN.test(String(d.payloadSha256))
  )
    return 'deliverySeq must be a seq, deliveryHash and payloadSha256 64 lowercase hex digits';
  return isTimestamp(d.proofTs) ? undefined : 'proofTs is not RFC 3339 UTC with milliseconds';
}

/** The proof's key_provenance from a delivery.prepared's keyProvenance (section 13); undefined when it is of neither form. */
function proofKeyProvenance(p) {
  if (
    sameMembers(p, ['keyType', 'spkiSha256', 'type']) &&
    p.type === 'buyer-key' &&
    isText(p.keyType) &&
    HASH_PATTERN.test(String(p.spkiSha256))
  )
    return { type: 'buyer-key', key_type: p.keyType, spki_sha256: p.spkiSha256 };
  if (
    sameMembers(p, ['keyId', 'origin', 'type', 'wrappingKeyId']) &&
    p.type === 'managed-key' &&
    [p.keyId, p.origin, p.wrappingKeyId].every(isText)
  )
    return { type: 'managed-key', key_id: p.keyId, origin: p.origin, wrapping_key_id: p.wrappingKeyId };
  return undefined;
}

/** Why a delivery.prepared record's data is not one a proof is rebuilt from (section 13). */
function preparedFormProblem(d) {
  if (!sameMembers(d, PREPARED_MEMBERS)) return `its data must have exactly ${PREPARED_MEMBERS.join(', ')}`;
  if (
    ![d.orderId, d.deliveryId, d.buyerId, d.manifestId, d.objectKey, d.manifestSignatureId, d.ledgerProofId].every(
      isText,
    )
  )
    return 'its ids must be text';
  if (
    !HASH_PATTERN.test(String(d.artifactSha256)) ||
    !HASH_PATTERN.test(String(d.ciphertextSha256)) ||
    !count(d.artifactBytes) ||
    !count(d.ciphertextBytes)
  )
    return 'its hashes must be 64 lowercase hex digits and its sizes counts of bytes';
  if (d.envelope !== 'CHAINBOOK-DELIVERY-1' || !ENVELOPE_ALGORITHMS.includes(d.algorithm))
    return 'its envelope or algorithm is not of section 11';
  return proofKeyProvenance(d.keyProvenance) ? undefined : 'its keyProvenance is of neither form';
}

// ---------------------------------------------------------------- one chain, in order (section 5)

/**
 * The ordered checks of one chain. `add` takes pages of lines in chain
 * order; after the first finding the chain takes nothing more. With
 * `treeSizes` (and a check from seq 1) it grows the chain's Merkle tree
 * (section 14) and keeps its root at each of those sizes in `roots`;
 * `hashesOf` names seqs whose record hash it keeps in `hashes`.
 */
export class ChainCheck {
  constructor({ chain, registry, fromSeq = 1, prevHash = ZERO_HASH, ids = new Set(), treeSizes, hashesOf }) {
    this.chain = chain;
    this.registry = registry;
    this.fromSeq = fromSeq;
    this.expectedSeq = fromSeq;
    this.prevHash = prevHash;
    this.records = 0;
    this.finding = undefined;
    this.unchecked = [];
    this.edge = treeSizes?.size > 0 && fromSeq === 1 ? new TreeEdge() : undefined;
    this.treeSizes = treeSizes;
    this.roots = new Map();
    this.hashesOf = hashesOf;
    this.hashes = new Map();
    this.streams = new Map();
    this.ids = ids;
    this.delegations = new Map();
    // What check 5b reads of earlier records (sections 9 and 13): each record's ts and hash, the ledger rows, the delivery.prepared records.
    this.seenTs = [];
    this.seenHash = [];
    this.ledgerRows = [];
    this.prepared = new Map();
  }

  fail(reason, message, seq = this.expectedSeq) {
    this.finding = { chain: this.chain, seq, reason, message };
    return this.finding;
  }

  /** Checks one page of record lines; returns the chain's finding, if any. */
  async add(lines) {
    if (this.finding) return this.finding;
    const prepared = await Promise.all(lines.map((line) => prepareLine(line, this.edge !== undefined)));
    const signatures = await Promise.all(
      prepared.map((line) =>
        line.record && line.hashOk ? signatureOf(line, this.registry, this.delegations) : undefined,
      ),
    );
    for (const [index, line] of prepared.entries()) {
      if (await this.#ordered(line, signatures[index])) return this.finding;
    }
    return undefined;
  }

  async #ordered(line, signature) {
    if (line.malformed) return this.fail('malformed-record', line.malformed);
    const r = line.record;
    if (r.chain !== this.chain)
      return this.fail('wrong-chain', `record of chain ${r.chain} found in chain ${this.chain}`);
    if (r.seq !== this.expectedSeq) return this.fail('seq-gap', `expected seq ${this.expectedSeq}, found ${r.seq}`);
    if (r.prevHash !== this.prevHash)
      return this.fail('prev-hash-mismatch', `prevHash is not the previous record's hash ${this.prevHash}`);
    if (!line.hashOk) return this.fail('hash-mismatch', 'hash does not recompute from the payload and prevHash');
    // A page checked before this chain's delegation was learned knew nothing of its session signer.
    if (signature.reason === 'unknown-signer' && this.delegations.has(r.sig.kid))
      signature = await signatureOf(line, this.registry, this.delegations);
    if (!signature.ok) return this.fail(signature.reason, signature.message);
    if (signature.session) {
      const problem = this.#sessionProblem(r);
      if (problem) return this.fail(problem[0], problem[1]);
    }
    const embedded = await this.#embeddedProblem(r);
    if (embedded === 'unchecked') this.unchecked.push({ seq: r.seq, type: r.type });
    else if (embedded) return this.fail('embedded-signature-invalid', embedded);
    const versionProblem = this.#versionProblem(r);
    if (versionProblem) return this.fail('stream-version-gap', versionProblem);
    if (this.ids.has(r.id)) return this.fail('duplicate-id', `event id ${r.id} appears twice`);
    this.ids.add(r.id);
    if (r.type === 'signer.delegated') {
      const problem = await this.#learnDelegation(r.data);
      if (problem) return this.fail('invalid-delegation', problem);
    }
    this.expectedSeq += 1;
    this.prevHash = r.hash;
    this.records += 1;
    this.#remember(r);
    if (this.hashesOf?.has(r.seq)) this.hashes.set(r.seq, r.hash);
    if (this.edge) {
      await this.edge.push(line.leaf);
      if (this.treeSizes.has(this.edge.size)) this.roots.set(this.edge.size, await this.edge.root());
    }
    return false;
  }

  #remember(r) {
    this.seenTs.push(r.ts);
    this.seenHash.push(r.hash);
    if (r.type === LEDGER_POSTED) {
      const entry = { seq: r.seq, event_id: r.id, record_hash: r.hash, transaction: r.data };
      this.ledgerRows.push({ seq: r.seq, text: canonicalize(entry), rowId: String(r.data.transactionId) });
    }
    if (r.type === DELIVERY_PREPARED) this.prepared.set(r.seq, { hash: r.hash, data: r.data });
  }

  /**
   * Check 5b (section 5). A proof's range or delivery record before the
   * first record held here (a bundle that starts after it) cannot be rebuilt:
   * 'unchecked', listed as a note for chainbook verify-proof.
   */
  async #embeddedProblem(r) {
    if (r.type === EMBEDDED.manifestApproved) return manifestApprovedProblem(r, this.registry);
    if (r.type === EMBEDDED.proofIssued) return this.#ledgerProofProblem(r, r.data);
    if (r.type === EMBEDDED.deliveryProofIssued) return this.#deliveryProofProblem(r, r.data);
    return undefined;
  }

  /** ledger.proof_issued: the proof rebuilt from the record and its range (section 9), then its signature. */
  async #ledgerProofProblem(r, d) {
    if (![d.proofId, d.signerKid, d.alg, d.signature, d.payloadSha256].every((value) => typeof value === 'string'))
      return 'ledger.proof_issued does not carry proofId, signerKid, alg, signature and payloadSha256';
    const signed = { kid: d.signerKid, alg: d.alg, value: d.signature };
    if (d.proofTs === undefined) {
      // Recorded before proofTs was: the signer and its window at the record's time only.
      const problem = await documentSignatureProblem(this.registry, signed, Date.parse(r.ts), undefined);
      return problem && `the proof's signer in ledger.proof_issued: ${problem}`;
    }
    if (!isTimestamp(d.proofTs) || d.proofTs > r.ts)
      return 'ledger.proof_issued: proofTs is not a time before the record';
    if (
      d.chain !== r.chain ||
      !positiveInteger(d.fromSeq) ||
      !positiveInteger(d.toSeq) ||
      d.fromSeq > d.toSeq ||
      d.toSeq >= r.seq
    )
      return `ledger.proof_issued: its range is not an earlier range of chain ${r.chain}`;
    if (d.fromSeq < this.fromSeq) return 'unchecked';
    const rows = this.ledgerRows.filter((row) => row.seq >= d.fromSeq && row.seq <= d.toSeq);
    const rangeHash = hexOf(await sha256(encoder.encode(`[${rows.map((row) => row.text).join(',')}]`)));
    const [fromTs, toTs, headHash] = [
      this.seenTs[d.fromSeq - this.fromSeq],
      this.seenTs[d.toSeq - this.fromSeq],
      this.seenHash[d.toSeq - this.fromSeq],
    ];
    const claims = [
      ['rangeHash (range_hash)', d.rangeHash, rangeHash],
      ['headHash (head_hash)', d.headHash, headHash],
      ['fromTs', d.fromTs, fromTs],
      ['toTs', d.toTs, toTs],
      ['ledgerRowCount', d.ledgerRowCount, rows.length],
    ];
    for (const [member, claimed, actual] of claims)
      if (claimed !== actual)
        return `ledger.proof_issued: ${member} is not what the records ${d.fromSeq}..${d.toSeq} give`;
    const canonical = canonicalize({
      proof_id: d.proofId,
      kind: 'ledger-range',
      chain: r.chain,
      from_seq: d.fromSeq,
      to_seq: d.toSeq,
      from_ts: fromTs,
      to_ts: toTs,
      ledger_row_ids: rows.map((row) => row.rowId),
      range_hash: rangeHash,
      head_hash: headHash,
      ts: d.proofTs,
      signer_kid: d.signerKid,
      alg: d.alg,
    });
    if (hexOf(await sha256(encoder.encode(canonical))) !== d.payloadSha256)
      return 'ledger.proof_issued: payloadSha256 is not the SHA-256 of the proof rebuilt from the record and its range';
    const problem = await documentSignatureProblem(
      this.registry,
      signed,
      Date.parse(d.proofTs),
      encoder.encode(canonical),
    );
    return problem && `the proof's signature in ledger.proof_issued: ${problem}`;
  }

  /** delivery.proof_issued: the proof rebuilt from the record and the delivery.prepared it names (section 13), then its signature. */
  async #deliveryProofProblem(r, d) {
    const form = issuedFormProblem(d);
    if (form) return `delivery.proof_issued data is not of the form docs/FORMAT.md section 13 gives: ${form}`;
    if (d.proofTs > r.ts) return 'delivery.proof_issued: proofTs is after the record';
    if (d.deliverySeq >= r.seq)
      return `delivery.proof_issued: deliverySeq ${d.deliverySeq} is not an earlier record of chain ${r.chain}`;
    if (d.deliverySeq < this.fromSeq) return 'unchecked';
    const prepared = this.prepared.get(d.deliverySeq);
    if (!prepared) return `delivery.proof_issued: the record at seq ${d.deliverySeq} is not a delivery.prepared`;
    const preparedProblem = preparedFormProblem(prepared.data);
    if (preparedProblem)
      return `delivery.proof_issued: the delivery.prepared at seq ${d.deliverySeq}: ${preparedProblem}`;
    if (prepared.hash !== d.deliveryHash)
      return `delivery.proof_issued: deliveryHash is not the hash of the record at seq ${d.deliverySeq}`;
    const p = prepared.data;
    if (p.orderId !== d.orderId || p.deliveryId !== d.deliveryId)
      return `delivery.proof_issued: the delivery.prepared at seq ${d.deliverySeq} is of another orderId or deliveryId`;
    const canonical = canonicalize({
      proof_id: d.proofId,
      kind: 'delivery',
      chain: r.chain,
      order_id: p.orderId,
      delivery_id: p.deliveryId,
      buyer_id: p.buyerId,
      manifest_id: p.manifestId,
      artifact_sha256: p.artifactSha256,
      ciphertext_sha256: p.ciphertextSha256,
      ciphertext_bytes: p.ciphertextBytes,
      algorithm: p.algorithm,
      key_provenance: proofKeyProvenance(p.keyProvenance),
      manifest_signature_id: p.manifestSignatureId,
      ledger_proof_id: p.ledgerProofId,
      delivery_seq: d.deliverySeq,
      delivery_hash: d.deliveryHash,
      ts: d.proofTs,
      signer_kid: d.signerKid,
      alg: d.alg,
    });
    if (hexOf(await sha256(encoder.encode(canonical))) !== d.payloadSha256)
      return 'delivery.proof_issued: payloadSha256 is not the SHA-256 of the proof rebuilt from the record and its delivery.prepared';
    const signed = { kid: d.signerKid, alg: d.alg, value: d.signature };
    const problem = await documentSignatureProblem(
      this.registry,
      signed,
      Date.parse(d.proofTs),
      encoder.encode(canonical),
    );
    return problem && `the proof's signature in delivery.proof_issued: ${problem}`;
  }

  #sessionProblem(r) {
    const delegation = this.delegations.get(r.sig.kid);
    if (r.type === 'signer.delegated')
      return [
        'invalid-delegation',
        `session signer ${r.sig.kid} signed a signer.delegated record; only registry signers delegate`,
      ];
    const tsMs = Date.parse(r.ts);
    if (tsMs < delegation.notBeforeMs || tsMs >= delegation.notAfterMs)
      return [
        'outside-validity-window',
        `record time is outside session signer ${r.sig.kid}'s window [${delegation.notBefore}, ${delegation.notAfter})`,
      ];
    return undefined;
  }

  #versionProblem(r) {
    const previous = this.streams.get(r.stream);
    this.streams.set(r.stream, r.version);
    if (previous === undefined)
      return r.version === 1 || this.fromSeq > 1
        ? undefined
        : `stream ${r.stream} starts at version ${r.version}, not 1`;
    return r.version === previous + 1 ? undefined : `stream ${r.stream} goes from version ${previous} to ${r.version}`;
  }

  async #learnDelegation(data) {
    const delegation = await parseDelegation(data);
    if (typeof delegation === 'string') return `signer.delegated: ${delegation}`;
    if (this.delegations.has(delegation.kid))
      return `session signer ${delegation.kid} is delegated twice in chain ${this.chain}`;
    if (this.registry.signers.has(delegation.kid))
      return `${delegation.kid} is a registry signer; a session signer never is`;
    this.delegations.set(delegation.kid, delegation);
    return undefined;
  }

  summary() {
    return {
      chain: this.chain,
      fromSeq: this.records > 0 ? this.fromSeq : 0,
      toSeq: this.records > 0 ? this.expectedSeq - 1 : 0,
      records: this.records,
      lastHash: this.records > 0 ? this.prevHash : '',
    };
  }
}

// ---------------------------------------------------------------- JSON Lines (section 5, "Sources")

/** A file's bytes as lines; a line that is not UTF-8 is marked so that it does not parse (section 5). */
export function linesOfBytes(bytes) {
  const lines = [];
  for (let start = 0; start < bytes.length;) {
    const end = bytes.indexOf(0x0a, start);
    const line = bytes.subarray(start, end < 0 ? bytes.length : end);
    try {
      lines.push(strictDecoder.decode(line));
    } catch {
      lines.push('line is not valid UTF-8');
    }
    if (end < 0) break;
    start = end + 1;
  }
  return lines;
}

function lineFacts(text) {
  try {
    const parsed = JSON.parse(text);
    return {
      chain: typeof parsed?.chain === 'string' ? parsed.chain : undefined,
      seq: Number.isSafeInteger(parsed?.seq) ? parsed.seq : undefined,
      hash: typeof parsed?.hash === 'string' && HASH_PATTERN.test(parsed.hash) ? parsed.hash : undefined,
    };
  } catch {
    return {};
  }
}

/**
 * Each line's chain block (section 5, "Sources"): a line naming another
 * chain belongs to the block it sits in when its chain already had a block
 * or the block goes on right after it (it was spliced in); otherwise it
 * starts its chain's block.
 */
function chainBlocks(lines) {
  const facts = lines.map(lineFacts);
  const closed = new Set();
  let chain = '';
  let seq = 0;
  return lines.map((text, position) => {
    const named = facts[position].chain;
    const stray = named !== undefined && named !== chain && (closed.has(named) || facts[position + 1]?.chain === chain);
    if (named !== undefined && named !== chain && !stray) {
      closed.add(chain);
      chain = named;
      seq = 0;
    }
    seq = !stray && facts[position].seq !== undefined ? facts[position].seq : seq + 1;
    return { text, chain, seq, hash: stray ? undefined : facts[position].hash };
  });
}

async function pagesInto(check, lines, onProgress, total) {
  for (let offset = 0; offset < lines.length; offset += PAGE_RECORDS) {
    if (await check.add(lines.slice(offset, offset + PAGE_RECORDS))) return;
    onProgress?.({ chain: check.chain, checked: check.records, total });
  }
}

/**
 * Checks JSON Lines of records as `chainbook audit-verify --input` does
 * (section 5), with its options: chains, fromSeq, toSeq, limit, prevHash.
 * Chains in name order; it stops at the first finding.
 */
export async function checkLines(lines, registry, options = {}) {
  const indexed = chainBlocks(lines);
  const chains = options.chains ?? [...new Set(indexed.map((line) => line.chain))].sort();
  const ids = new Set();
  const summaries = [];
  const unchecked = [];
  const checks = [];
  for (const chain of chains) {
    const mine = indexed.filter((line) => line.chain === chain);
    const lastSeq = mine.at(-1)?.seq ?? 0;
    const toSeq = Math.min(options.toSeq ?? lastSeq, lastSeq);
    let fromSeq = options.fromSeq ?? 1;
    if (options.limit !== undefined) fromSeq = Math.max(fromSeq, toSeq - options.limit + 1, 1);
    let prevHash = ZERO_HASH;
    if (fromSeq > 1) prevHash = options.prevHash ?? mine.find((line) => line.seq === fromSeq - 1)?.hash;
    if (prevHash === undefined) {
      const finding = {
        chain,
        seq: fromSeq - 1,
        reason: 'missing-predecessor',
        message: `record ${fromSeq - 1}, whose hash anchors the check, is missing`,
      };
      return { ok: false, finding, chains: summaries, unchecked, checks };
    }
    // Every line of the block is checked unless a range was asked: a line before seq 1 is a finding, not skipped.
    const ranged = options.fromSeq !== undefined || options.limit !== undefined;
    const start = ranged ? mine.findIndex((line) => line.seq >= fromSeq) : 0;
    const end = options.toSeq !== undefined ? mine.findLastIndex((line) => line.seq <= toSeq) + 1 : mine.length;
    const treeSizes = options.treeSizes instanceof Map ? options.treeSizes.get(chain) : options.treeSizes;
    const check = new ChainCheck({ chain, registry, fromSeq, prevHash, ids, treeSizes, hashesOf: options.hashesOf });
    checks.push(check);
    const texts = start < 0 ? [] : mine.slice(start, end).map((line) => line.text);
    await pagesInto(check, texts, options.onProgress, texts.length);
    summaries.push(check.summary());
    unchecked.push(...check.unchecked.map((entry) => ({ chain, ...entry })));
    if (!check.finding && check.records === 0)
      check.fail('no-records', `no record of chain ${chain} is here to check (seq ${fromSeq} to ${toSeq})`, fromSeq);
    if (check.finding) return { ok: false, finding: check.finding, chains: summaries, unchecked, checks };
    options.onChain?.(check);
  }
  // Nothing checked is not a pass.
  if (checks.length === 0)
    return {
      ok: false,
      finding: { chain: '', seq: 0, reason: 'no-records', message: 'there are no records here to check' },
      chains: summaries,
      unchecked,
      checks,
    };
  return { ok: true, finding: undefined, chains: summaries, unchecked, checks };
}

// ---------------------------------------------------------------- the Merkle tree (section 14, RFC 6962 / RFC 9162)

async function leafHash(recordHash) {
  return sha256(concat(Uint8Array.of(0), recordHash));
}

async function nodeHash(left, right) {
  return sha256(concat(Uint8Array.of(1), left, right));
}

/** MTH over leaf hashes: level by level, an odd last hash moves up alone (RFC 6962 section 2.1). */
export async function rootOfLeafHashes(leafHashes) {
  if (leafHashes.length === 0) return sha256(new Uint8Array(0));
  let level = leafHashes;
  while (level.length > 1) {
    const pairs = [];
    for (let i = 0; i + 1 < level.length; i += 2) pairs.push(nodeHash(level[i], level[i + 1]));
    const next = await Promise.all(pairs);
    if (level.length % 2 === 1) next.push(level.at(-1));
    level = next;
  }
  return level[0];
}

/** RFC 9162 section 2.1.3.2: whether `proof` leads from leaf `index` of a tree of `size` to `root`. */
export async function verifyInclusion(index, size, leaf, proof, root) {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return false;
  if (proof.some((hash) => hash.length !== 32) || root.length !== 32) return false;
  // Halving with Math.floor, never >>: sizes go up to 2^53 - 1.
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && equalBytes(r, root);
}

/**
 * RFC 9162 section 2.1.4.2: whether `proof` shows that the tree of `first`
 * leaves with root `firstRoot` is a prefix of the tree of `second` leaves
 * with root `secondRoot`. A proof from the empty tree proves nothing and is
 * refused; between equal sizes it is empty and the roots are equal.
 */
export async function verifyConsistency(first, second, proof, firstRoot, secondRoot) {
  const size = (value) => Number.isSafeInteger(value) && value >= 1;
  if (!size(first) || !size(second) || first > second) return false;
  if ([firstRoot, secondRoot, ...proof].some((hash) => !(hash instanceof Uint8Array) || hash.length !== 32))
    return false;
  if (first === second) return proof.length === 0 && equalBytes(firstRoot, secondRoot);
  if (proof.length === 0) return false;
  // A first tree that is a complete subtree is not in the proof: its root starts the path.
  const path =
    Number.isInteger(Math.log2(first)) && 2 ** Math.log2(first) === first ? [firstRoot, ...proof] : [...proof];
  let fn = first - 1;
  let sn = second - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && equalBytes(fr, firstRoot) && equalBytes(sr, secondRoot);
}

/**
 * The right edge of a growing tree: the roots of its perfect subtrees, the
 * largest first (a binary counter of leaves). root() is MTH of the leaves
 * so far: each record costs one leaf hash and on average one node hash.
 */
export class TreeEdge {
  constructor() {
    this.size = 0;
    this.stack = [];
  }

  async push(leaf) {
    let hash = leaf;
    for (let size = this.size; size % 2 === 1; size = Math.floor(size / 2))
      hash = await nodeHash(this.stack.pop(), hash);
    this.stack.push(hash);
    this.size += 1;
  }

  async root() {
    if (this.size === 0) return sha256(new Uint8Array(0));
    let root = this.stack.at(-1);
    for (let i = this.stack.length - 2; i >= 0; i--) root = await nodeHash(this.stack[i], root);
    return root;
  }
}

// ---------------------------------------------------------------- checkpoints and cosignatures (section 14)

const SIGNATURE_PREFIX = '\u2014 ';
const NOTE_ED25519 = 0x01;
const NOTE_COSIGNATURE_V1 = 0x04;

function hasControl(text, allowNewline) {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if ((code < 0x20 && !(allowNewline && code === 0x0a)) || code === 0x7f) return true;
  }
  return false;
}

function isKeyName(name) {
  return name.length > 0 && name.length <= 256 && !/[\s+]/u.test(name) && !hasControl(name, false);
}

/** A signed note's text and signature lines; undefined when it is not one. */
export function parseNote(note) {
  if (typeof note !== 'string' || note.length > MAX_NOTE_BYTES || !note.endsWith('\n')) return undefined;
  const split = note.lastIndexOf('\n\n');
  if (split < 0) return undefined;
  const body = note.slice(0, split + 1);
  if (hasControl(body, true)) return undefined;
  const lines = note.slice(split + 2, -1).split('\n');
  if (lines.length > MAX_NOTE_SIGNATURES) return undefined;
  const signatures = [];
  for (const line of lines) {
    if (!line.startsWith(SIGNATURE_PREFIX)) return undefined;
    const parts = line.slice(SIGNATURE_PREFIX.length).split(' ');
    if (parts.length !== 2 || !isKeyName(parts[0])) return undefined;
    const blob = bytesOfBase64(parts[1]);
    if (!blob || blob.length < 5) return undefined;
    signatures.push({ name: parts[0], keyHash: blob.slice(0, 4), signature: blob.slice(4) });
  }
  return { body, signatures };
}

/** origin, size and root of a checkpoint's text; extension lines allowed. */
export function parseCheckpointBody(body) {
  const lines = body.split('\n');
  if (lines.length < 4 || lines.at(-1) !== '') return undefined;
  const [origin, sizeText, rootText] = lines;
  if (!origin || origin.length > 256 || origin.trim() !== origin || !/^(0|[1-9][0-9]{0,15})$/.test(sizeText))
    return undefined;
  const size = Number(sizeText);
  const root = bytesOfBase64(rootText);
  if (!Number.isSafeInteger(size) || !root || root.length !== 32) return undefined;
  return { origin, size, root };
}

async function noteKeyHash(name, type, raw) {
  return (await sha256(concat(encoder.encode(name), Uint8Array.of(0x0a, type), raw))).slice(0, 4);
}

/** A witness key as a signed-note verifier key, `<name>+<hex key hash>+<base64(0x04 || 32-byte Ed25519 key)>` (C2SP tlog-cosignature). */
export async function parseWitnessKey(vkey) {
  // The key's base64 may hold '+': only the first two '+' separate the parts.
  const text = typeof vkey === 'string' ? vkey.trim() : '';
  const first = text.indexOf('+');
  const second = text.indexOf('+', first + 1);
  if (first < 0 || second < 0) return undefined;
  const [name, keyHash, key] = [text.slice(0, first), text.slice(first + 1, second), text.slice(second + 1)];
  const blob = bytesOfBase64(key);
  if (!blob || blob.length !== 33 || blob[0] !== NOTE_COSIGNATURE_V1 || !isKeyName(name)) return undefined;
  const raw = blob.slice(1);
  if (ed25519KeyProblem(raw) || hexOf(await noteKeyHash(name, NOTE_COSIGNATURE_V1, raw)) !== keyHash) return undefined;
  try {
    const cryptoKey = await subtle.importKey('raw', raw, { name: 'Ed25519' }, false, ['verify']);
    return { name, raw, key: cryptoKey };
  } catch (error) {
    const fallback = fallbackEd25519Key(error, raw);
    return fallback ? { name, raw, key: fallback } : undefined;
  }
}

/** A cosignature/v1 line by `witness`: key hash (0x04), then u64 time and Ed25519 over "cosignature/v1\ntime T\n" || body. */
async function cosignatureProblem(parsed, witness) {
  const keyHash = await noteKeyHash(witness.name, NOTE_COSIGNATURE_V1, witness.raw);
  const lines = parsed.signatures.filter((s) => s.name === witness.name && equalBytes(s.keyHash, keyHash));
  if (lines.length === 0) return `no cosignature by witness ${witness.name}`;
  for (const line of lines) {
    if (line.signature.length !== 72) continue;
    const time = new DataView(line.signature.buffer, line.signature.byteOffset).getBigUint64(0);
    if (time > 2n ** 63n - 1n) continue;
    const message = encoder.encode(`cosignature/v1\ntime ${time}\n${parsed.body}`);
    if (await ed25519Verifies(witness.key, message, line.signature.slice(8))) return undefined;
  }
  return `the cosignature by witness ${witness.name} does not verify`;
}

/**
 * The key hash a registry signer's checkpoint signature line carries (section
 * 14): Ed25519 is note type 0x01 (name, 0x0A, 0x01, the 32-byte key);
 * ECDSA P-256 is type 0x02, SHA-256 of the key's SPKI alone. RSA signs no
 * checkpoint: undefined.
 */
async function checkpointKeyHash(signer) {
  if (signer.algorithm === 'ed25519') return noteKeyHash(signer.kid, NOTE_ED25519, signer.key.raw);
  if (signer.algorithm === 'ecdsa-p256-sha256') return (await sha256(signer.key.spki)).slice(0, 4);
  return undefined;
}

/** Ed25519 over the note's text, or (type 0x02) ECDSA DER over its SHA-256, low-S only as section 3. */
async function checkpointSignatureVerifies(signer, message, signature) {
  if (signer.algorithm === 'ed25519') return ed25519Verifies(signer.key.cryptoKey, message, signature);
  return (await verifySignature(signer.key, message, signature)) === true;
}

/**
 * A checkpoint note (section 14): signed by a registry signer of algorithm
 * ed25519 (note type 0x01) or ecdsa-p256-sha256 (type 0x02) whose kid is the
 * signature line's key name, and cosigned by each
 * of `witnesses` (parsed with parseWitnessKey). { checkpoint, signer } or
 * { problem }.
 */
export async function openCheckpoint(note, registry, witnesses = [], origin) {
  const parsed = parseNote(note);
  if (!parsed) return { problem: 'not a signed note' };
  const checkpoint = parseCheckpointBody(parsed.body);
  if (!checkpoint) return { problem: 'the note is not a checkpoint' };
  if (origin !== undefined && checkpoint.origin !== origin)
    return {
      problem: `a checkpoint of ${JSON.stringify(checkpoint.origin)}, not ${JSON.stringify(origin)}`,
      checkpoint,
    };
  const message = encoder.encode(parsed.body);
  let signer;
  for (const line of parsed.signatures) {
    const candidate = registry.signers.get(line.name);
    const keyHash = candidate && (await checkpointKeyHash(candidate));
    if (!keyHash || !equalBytes(line.keyHash, keyHash)) continue;
    if (await checkpointSignatureVerifies(candidate, message, line.signature)) signer = candidate.kid;
    else return { problem: `the signature by ${line.name} does not verify`, checkpoint };
  }
  if (!signer) return { problem: 'no signature by an Ed25519 or ECDSA signer of the registry', checkpoint };
  for (const witness of witnesses) {
    const problem = await cosignatureProblem(parsed, witness);
    if (problem) return { problem, checkpoint };
  }
  return { checkpoint, signer };
}

// ---------------------------------------------------------------- inclusion proof files (section 14)

/** The C2SP tlog-proof file: { record, index, hashes, checkpoint } or undefined. */
export function parseProofFile(text) {
  if (typeof text !== 'string' || text.length > MAX_PROOF_FILE_BYTES) return undefined;
  const split = text.indexOf('\n\n');
  if (split < 0) return undefined;
  const lines = text.slice(0, split).split('\n');
  if (lines[0] !== 'c2sp.org/tlog-proof@v1' || !lines[1]?.startsWith('extra ')) return undefined;
  const extra = bytesOfBase64(lines[1].slice('extra '.length));
  const index = /^index (0|[1-9][0-9]{0,15})$/.exec(lines[2] ?? '');
  if (!extra || !index || lines.length - 3 > MAX_PROOF_HASHES) return undefined;
  const hashes = lines.slice(3).map(bytesOfBase64);
  if (hashes.some((hash) => !hash || hash.length !== 32)) return undefined;
  let record;
  try {
    record = strictDecoder.decode(extra);
  } catch {
    return undefined;
  }
  const leafIndex = Number(index[1]);
  return Number.isSafeInteger(leafIndex)
    ? { record, index: leafIndex, hashes, checkpoint: text.slice(split + 2) }
    : undefined;
}

/**
 * An inclusion proof file: its checkpoint (as openCheckpoint), the record's
 * form, hash and signature (sections 1 to 4), index = seq - 1, and the path
 * to the checkpoint's root. A finding at the record's seq, or { ok, seq, size }.
 */
export async function checkProofFile(text, registry, { witnesses = [], origin, chain, recordHeld = false } = {}) {
  const proof = parseProofFile(text);
  const fail = (seq, message) => ({
    ok: false,
    finding: { chain: chain ?? '', seq, reason: 'inclusion-proof-invalid', message },
  });
  if (!proof) return fail(0, 'not an inclusion proof file (section 14)');
  const prepared = await prepareLine(proof.record);
  const seq = prepared.record?.seq ?? proof.index + 1;
  if (prepared.malformed) return fail(seq, `its record: ${prepared.malformed}`);
  if (!prepared.hashOk) return fail(seq, 'its record: hash does not recompute');
  // Alone, the record's signer must be in the registry: a session signer (section 4b) is known only from the chain.
  // With `recordHeld` (a bundle's proofs), that check is left to the comparison with the record held at that seq.
  const signature = await signatureOf(prepared, registry, new Map());
  const signatureProblem = signature.ok ? undefined : `its record: ${signature.reason}: ${signature.message}`;
  if (signatureProblem && !recordHeld) return fail(seq, signatureProblem);
  if (proof.index !== seq - 1) return fail(seq, `index ${proof.index} is not the leaf of seq ${seq}`);
  const opened = await openCheckpoint(proof.checkpoint, registry, witnesses, origin);
  if (opened.problem) return fail(seq, `its checkpoint: ${opened.problem}`);
  const leaf = await leafHash(prepared.hash);
  if (!(await verifyInclusion(proof.index, opened.checkpoint.size, leaf, proof.hashes, opened.checkpoint.root)))
    return fail(seq, `the proof does not lead to the root of the checkpoint of size ${opened.checkpoint.size}`);
  return {
    ok: true,
    seq,
    chain: prepared.record.chain,
    record: proof.record,
    size: opened.checkpoint.size,
    origin: opened.checkpoint.origin,
    signatureProblem,
  };
}

// ---------------------------------------------------------------- archive batches and the audit bundle (section 8)

const MANIFEST_MEMBERS = [
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
];
const LABEL_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:+-]{0,63}$/;
const BATCH_KEY =
  /(?:^|\/)([a-z0-9][a-z0-9._-]{0,62})\/(\d{4}-\d{2}-\d{2})\/([a-z0-9][a-z0-9-]{0,62})-(\d{12})-(\d{12})\.manifest\.json$/;

/** A manifest may carry its batch's Merkle tree (section 14): both of these or neither. */
const MANIFEST_TREE_MEMBERS = ['tree_size', 'tree_root'];

function manifestProblem(m) {
  if (!isObject(m)) return 'members differ from the format (section 8)';
  const withTree = Object.hasOwn(m, 'tree_size') || Object.hasOwn(m, 'tree_root');
  if (!hasExactly(m, withTree ? [...MANIFEST_MEMBERS, ...MANIFEST_TREE_MEMBERS] : MANIFEST_MEMBERS))
    return 'members differ from the format (section 8)';
  if (withTree && (m.tree_size !== m.to_seq || !HASH_PATTERN.test(String(m.tree_root))))
    return 'tree_size must be to_seq and tree_root 64 lowercase hex digits';
  if (!CHAIN_PATTERN.test(String(m.service)) || !CHAIN_PATTERN.test(String(m.chain)))
    return 'service or chain is not a name';
  for (const label of ['env', 'version', 'pii_policy_version'])
    if (!LABEL_PATTERN.test(String(m[label]))) return `${label} is not a label`;
  if (!positiveInteger(m.from_seq) || !positiveInteger(m.to_seq) || m.count !== m.to_seq - m.from_seq + 1)
    return 'from_seq, to_seq and count do not agree';
  for (const name of ['first_prev_hash', 'last_hash', 'object_sha256'])
    if (!HASH_PATTERN.test(String(m[name]))) return `${name} is not 64 lowercase hex digits`;
  if (
    typeof m.pii_included !== 'boolean' ||
    !isTimestamp(m.export_ts) ||
    !KID_PATTERN.test(String(m.signer_kid)) ||
    typeof m.alg !== 'string'
  )
    return 'pii_included, export_ts, signer_kid or alg is not of its form';
  if (typeof m.signature !== 'string' || m.signature === '' || !BASE64_PATTERN.test(m.signature))
    return 'signature is not base64';
  return undefined;
}

/** gunzip with the platform's DecompressionStream, stopping past `maxBytes`. */
export async function gunzip(bytes, maxBytes = MAX_ARCHIVE_BATCH_BYTES) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
  return bytesOfParts(stream, maxBytes, bytes.length * 4);
}

/**
 * The parts of a stream as one Uint8Array, stopping past `maxBytes`: one
 * growing buffer, never concat(...parts), whose spread throws RangeError
 * past some 100,000 parts (a browser's DecompressionStream can give many
 * small ones).
 */
export async function bytesOfParts(stream, maxBytes, expected = 1024) {
  let buffer = new Uint8Array(Math.min(maxBytes, Math.max(1024, expected)));
  let size = 0;
  for await (const part of stream) {
    if (size + part.length > maxBytes) throw new Error(`decompresses to more than ${maxBytes} bytes`);
    if (size + part.length > buffer.length) {
      const grown = new Uint8Array(Math.min(maxBytes, Math.max(buffer.length * 2, size + part.length)));
      grown.set(buffer.subarray(0, size));
      buffer = grown;
    }
    buffer.set(part, size);
    size += part.length;
  }
  return buffer.subarray(0, size);
}

/** The batches of a bundle's files, by chain, in seq order: { key, manifestKey, service, date, chain, fromSeq, toSeq }. */
function batchesOf(files) {
  const chains = new Map();
  for (const path of files.keys()) {
    const match = BATCH_KEY.exec(path);
    if (!match) continue;
    const [, service, date, chain, from, to] = match;
    const manifestKey = path;
    const batch = {
      service,
      date,
      chain,
      fromSeq: Number(from),
      toSeq: Number(to),
      manifestKey,
      key: path.replace(/\.manifest\.json$/, '.jsonl.gz'),
    };
    chains.set(chain, [...(chains.get(chain) ?? []), batch]);
  }
  for (const batches of chains.values()) batches.sort((a, b) => a.fromSeq - b.fromSeq);
  return chains;
}

/** One batch's checks in the order of section 8, "What archive verification checks": { lines, manifest } or { finding }. */
async function checkBatch(batch, expectedFrom, previous, files, registry) {
  const fail = (reason, message, seq = batch.fromSeq) => ({
    finding: { chain: batch.chain, seq, reason, message: `batch ${batch.key}: ${message}`, batch: batch.key },
  });
  if (expectedFrom !== undefined && batch.fromSeq > expectedFrom)
    return fail('batch-missing', `no batch holds seq ${expectedFrom}..${batch.fromSeq - 1}`, expectedFrom);
  if (expectedFrom !== undefined && batch.fromSeq < expectedFrom)
    return fail('batch-link-mismatch', `overlaps the batch before it`);
  let manifest;
  try {
    manifest = JSON.parse(strictDecoder.decode(await files.get(batch.manifestKey)()));
  } catch (error) {
    return fail('manifest-invalid', `its manifest does not parse: ${error.message}`);
  }
  const problem = manifestProblem(manifest);
  if (problem) return fail('manifest-invalid', problem);
  if (
    manifest.service !== batch.service ||
    manifest.chain !== batch.chain ||
    manifest.from_seq !== batch.fromSeq ||
    manifest.to_seq !== batch.toSeq
  )
    return fail('manifest-invalid', 'the manifest does not describe the batch its name gives');
  const { signature, ...payload } = manifest;
  const signed = { kid: manifest.signer_kid, alg: manifest.alg, value: signature };
  const signatureProblem = await documentSignatureProblem(
    registry,
    signed,
    Date.parse(manifest.export_ts),
    encoder.encode(canonicalize(payload)),
  );
  if (signatureProblem) return fail('manifest-signature-invalid', `manifest signature: ${signatureProblem}`);
  const expectedPrev = previous?.last_hash ?? (batch.fromSeq === 1 ? ZERO_HASH : undefined);
  if (expectedPrev !== undefined && manifest.first_prev_hash !== expectedPrev)
    return fail('batch-link-mismatch', `first_prev_hash is not the previous batch's last_hash ${expectedPrev}`);
  if (!files.has(batch.key)) return fail('batch-missing', 'its manifest is there but the batch object is missing');
  const object = await files.get(batch.key)();
  if (hexOf(await sha256(object)) !== manifest.object_sha256)
    return fail('batch-hash-mismatch', "the object's SHA-256 is not the manifest's object_sha256");
  let text;
  try {
    text = await gunzip(object);
  } catch (error) {
    return fail('batch-content-mismatch', `does not decompress: ${error.message}`);
  }
  const lines = linesOfBytes(text);
  const contentProblem = batchContentProblem(text, lines, manifest, batch.date);
  return contentProblem ? fail('batch-content-mismatch', contentProblem) : { lines, manifest };
}

function parsedOrUndefined(line) {
  try {
    return JSON.parse(line);
  } catch {
    return undefined; // a line that does not parse is the record checks' to report, at its seq
  }
}

/** Whether the decompressed batch is what its manifest says: line ends, count, ends, and the date in its key. */
function batchContentProblem(bytes, lines, manifest, keyDate) {
  if (bytes.at(-1) !== 0x0a) return 'the JSON Lines do not end with a line end';
  if (lines.length !== manifest.count) return `holds ${lines.length} lines, its manifest says count ${manifest.count}`;
  const first = parsedOrUndefined(lines[0]);
  const last = parsedOrUndefined(lines.at(-1));
  if (first && (first.seq !== manifest.from_seq || first.prevHash !== manifest.first_prev_hash))
    return `its first record is not from_seq ${manifest.from_seq} with first_prev_hash ${manifest.first_prev_hash}`;
  if (last && (last.seq !== manifest.to_seq || last.hash !== manifest.last_hash))
    return `its last record is not to_seq ${manifest.to_seq} with last_hash ${manifest.last_hash}`;
  if (first && typeof first.ts === 'string' && first.ts.slice(0, 10) !== keyDate)
    return `its first record's date is not the date ${keyDate} in its key`;
  return undefined;
}

function decodeOrUndefined(bytes) {
  try {
    return strictDecoder.decode(bytes);
  } catch {
    return undefined;
  }
}

/** The checkpoints (`checkpoints/…`) and inclusion proof files (`inclusion/….tlog-proof`) of a bundle, read before its records. */
async function treeFilesOf(files, registry, witnesses, held = []) {
  const paths = [...files.keys()].sort();
  const checkpoints = [];
  // Checkpoints the auditor holds from elsewhere (cosigned, say): checked like the bundle's, against the same records.
  for (const { name, text } of held)
    checkpoints.push({
      path: `held checkpoint ${name}`,
      held: true,
      opened: await openCheckpoint(text, registry, witnesses),
    });
  for (const path of paths.filter((name) => /(^|\/)checkpoints\/[^/]+$/.test(name))) {
    const note = decodeOrUndefined(await files.get(path)()) ?? '';
    checkpoints.push({ path, opened: await openCheckpoint(note, registry, witnesses) });
  }
  const consistency = [];
  for (const path of paths.filter((name) => /(^|\/)consistency\/[^/]+\.json$|\.consistency\.json$/.test(name)))
    consistency.push({ path, proof: await consistencyFileOf(decodeOrUndefined(await files.get(path)()) ?? '') });
  const proofs = [];
  for (const path of paths.filter((name) => /(^|\/)inclusion\/[^/]+\.tlog-proof$/.test(name))) {
    const text = decodeOrUndefined(await files.get(path)()) ?? '';
    proofs.push({ path, checked: await checkProofFile(text, registry, { witnesses, recordHeld: true }) });
  }
  return { checkpoints, proofs, consistency };
}

/** A consistency proof as GET /proof/consistency answers it (section 14): { oldSize, newSize, roots, hashes, origin } or { problem }. */
async function consistencyFileOf(text) {
  const parsed = parsedOrUndefined(text);
  if (!isObject(parsed)) return { problem: 'not a JSON object' };
  const { origin, oldSize, newSize, oldRoot, newRoot, proof } = parsed;
  const hashes = Array.isArray(proof) && proof.length <= MAX_PROOF_HASHES ? proof.map(bytesOfBase64) : undefined;
  const roots = [oldRoot, newRoot].map(bytesOfBase64);
  if (
    typeof origin !== 'string' ||
    !positiveInteger(oldSize) ||
    !positiveInteger(newSize) ||
    !hashes ||
    hashes.includes(undefined) ||
    roots.includes(undefined)
  )
    return {
      problem: 'not a consistency proof: origin, oldSize, newSize, oldRoot, newRoot and proof (base64 hashes)',
      newSize,
    };
  const holds = await verifyConsistency(oldSize, newSize, hashes, roots[0], roots[1]);
  if (!holds)
    return { problem: `the proof does not lead from the tree of ${oldSize} to the tree of ${newSize}`, newSize };
  return { origin, oldSize, newSize, oldRoot: roots[0], newRoot: roots[1] };
}

/** The chain a checkpoint's origin names (`<CHECKPOINT_ORIGIN>/<chain>`), or the bundle's only chain. */
function chainOfOrigin(origin, chains) {
  const named = typeof origin === 'string' ? origin.split('/').at(-1) : undefined;
  if (named !== undefined && chains.has(named)) return named;
  return chains.size === 1 ? [...chains.keys()][0] : (named ?? '');
}

/** A bundle archive (`GET /audit/bundle`): the .tar.gz's files, or undefined when `files` is not one. */
async function unpackedArchive(files) {
  const [path] = files.keys();
  if (files.size !== 1 || !/\.(tar\.gz|tgz)$/.test(path)) return undefined;
  return filesOfTar(await gunzip(await files.get(path)(), MAX_BUNDLE_ARCHIVE_BYTES));
}

/** The records of the JSON Lines files (`*.jsonl`, as `chainbook dump` writes them), in name order. */
async function jsonLinesOf(files) {
  const lines = [];
  for (const path of [...files.keys()].filter((name) => name.endsWith('.jsonl')).sort())
    for (const line of linesOfBytes(await files.get(path)())) lines.push(line);
  return lines;
}

function registryFailure(message, reason = 'registry-invalid') {
  return {
    ok: false,
    findings: [{ chain: '', seq: 0, reason, message }],
    notes: [],
    chains: [],
    records: 0,
  };
}

/**
 * Checks what an auditor holds (section 15): an audit bundle (section 8)
 * as a folder's files or as its .tar.gz, or JSON Lines of records with a
 * signers.json. `files` maps each path to a function giving its bytes.
 * Batches are checked as `audit-verify --archive` checks them and records
 * as in section 5; each checkpoint's signature (and the cosignatures of
 * `witnesses`, from parseWitnessKey) and, when records 1 to its size are
 * there, its root against theirs; each inclusion proof file, and that its
 * record is the one held at that seq. Options: witnesses, signersText (a
 * registry the auditor trusts, instead of the bundle's signers.json),
 * onProgress({ phase, checked, total }). Findings are listed by chain and seq.
 */
export async function checkBundle(files, options = {}) {
  if (ed25519Fallback) ed25519Fallback.used = false;
  const unpacked = await unpackedArchive(files).catch((error) =>
    registryFailure(`the bundle archive does not unpack: ${error.message}`, 'bundle-unreadable'),
  );
  if (unpacked?.findings) return unpacked;
  if (unpacked) return checkBundle(unpacked, options);
  const witnesses = options.witnesses ?? [];
  if (options.signersText === undefined && !files.has('signers.json'))
    return registryFailure('there is no signers.json');
  const loaded = await loadRegistry(options.signersText ?? decodeOrUndefined(await files.get('signers.json')()) ?? '');
  if (loaded.problems) return registryFailure(loaded.problems.join('; '));
  const registry = loaded.registry;
  const batches = batchesOf(files);
  const lines = batches.size > 0 ? [] : await jsonLinesOf(files);
  // Nothing to check is not a pass: an auditor who gave the wrong folder must not read "OK".
  if (batches.size === 0 && lines.length === 0)
    return registryFailure('there are no records here: no archive batches and no JSON Lines (*.jsonl)', 'no-records');
  const chains = batches.size > 0 ? new Set(batches.keys()) : new Set(chainBlocks(lines).map((line) => line.chain));
  const tree = await treeFilesOf(files, registry, witnesses, options.heldCheckpoints);
  const treeSizes = new Map([...chains].map((chain) => [chain, new Set()]));
  for (const { opened } of tree.checkpoints)
    if (opened.checkpoint) treeSizes.get(chainOfOrigin(opened.checkpoint.origin, chains))?.add(opened.checkpoint.size);
  for (const { proof } of tree.consistency)
    if (proof.origin)
      for (const size of [proof.oldSize, proof.newSize]) treeSizes.get(chainOfOrigin(proof.origin, chains))?.add(size);
  const hashesOf = new Set(tree.proofs.filter(({ checked }) => checked.ok).map(({ checked }) => checked.seq));
  const context = { registry, treeSizes, hashesOf, onProgress: options.onProgress };
  const checks = batches.size > 0 ? await checkBatches(batches, files, context) : await checkJsonLines(lines, context);
  const findings = [...checks.values()].flatMap((check) => (check.finding ? [check.finding] : []));
  const notes = [...checks.values()].flatMap((check) =>
    check.unchecked.map(
      (entry) =>
        `${check.chain} seq ${entry.seq}: the proof ${entry.type} carries stands on records before the first one here, so it is not rebuilt; check its document with chainbook verify-proof`,
    ),
  );
  // A batch missing in the middle is found twice, by the gap and by bundle.json: once is enough.
  const said = new Set(findings.map((finding) => `${finding.chain} ${finding.seq} ${finding.reason}`));
  const facts = await bundleFacts(files);
  findings.push(
    ...describedBatchesMissing(facts.described, batches).filter(
      (finding) => !said.has(`${finding.chain} ${finding.seq} ${finding.reason}`),
    ),
    ...(await bundleSignatureFindings(files, registry, batches, facts)),
    ...describedConsistencyMissing(facts.described, files),
  );
  const treeChecked = treeFindings(tree, checks, chains, options.checkpointOrigin);
  findings.push(...treeChecked.findings);
  notes.push(...treeChecked.notes);
  findings.sort((a, b) => (a.chain === b.chain ? a.seq - b.seq : a.chain < b.chain ? -1 : 1));
  const summaries = [...checks.values()].map((check) => check.summary());
  return {
    // The trust root: whose signers.json the signatures were checked against, and its keys.
    trust: {
      source: options.signersText === undefined ? 'bundle' : 'given',
      signers: [...registry.signers.values()].map(({ kid, algorithm, spkiSha256, deployedAt, retiredAt }) => ({
        kid,
        algorithm,
        spkiSha256,
        deployedAt,
        retiredAt,
      })),
      ...(ed25519FallbackUsed() ? { ed25519Fallback: ed25519FallbackUsed() } : {}),
    },
    ok: findings.length === 0,
    findings,
    notes,
    chains: summaries,
    records: summaries.reduce((sum, summary) => sum + summary.records, 0),
    checkpoints: tree.checkpoints.length,
    inclusionProofs: tree.proofs.length,
  };
}

async function checkBatches(batches, files, { registry, treeSizes, hashesOf, onProgress }) {
  const total = [...batches.values()].flat().reduce((sum, batch) => sum + batch.toSeq - batch.fromSeq + 1, 0);
  let checked = 0;
  const ids = new Set();
  const checks = new Map();
  for (const chain of [...batches.keys()].sort()) {
    const context = { registry, ids, treeSizes: treeSizes.get(chain), hashesOf };
    const check = await checkChainBatches(chain, batches.get(chain), files, context, (count) => {
      checked += count;
      onProgress?.({ phase: 'records', checked, total });
    });
    checks.set(chain, check);
  }
  return checks;
}

async function checkJsonLines(lines, { registry, treeSizes, hashesOf, onProgress }) {
  let before = 0;
  const report = await checkLines(lines, registry, {
    treeSizes,
    hashesOf,
    onProgress: (progress) =>
      onProgress?.({ phase: 'records', checked: before + progress.checked, total: lines.length }),
    onChain: (check) => (before += check.records),
  });
  return new Map(report.checks.map((check) => [check.chain, check]));
}

/**
 * bundle.json read once: its bytes (those bundle.sig must sign) and what
 * they say, parsed from the same bytes, so that what is verified is what the
 * batches and proofs are held to (a second read could give other bytes).
 */
async function bundleFacts(files) {
  if (!files.has('bundle.json')) return { bytes: undefined, described: undefined };
  const bytes = await files.get('bundle.json')();
  return { bytes, described: parsedOrUndefined(decodeOrUndefined(bytes) ?? '') };
}

/**
 * bundle.json signed (section 15, "A cut bundle"): an archive bundle (one
 * with batches, or a bundle.json) must hold bundle.json and bundle.sig, a
 * document signature over bundle.json's exact bytes by a registry signer
 * valid at its created_at; else `bundle-signature-invalid` at seq 0. Without
 * it, batches cut at the tail with bundle.json edited to match would pass.
 */
async function bundleSignatureFindings(files, registry, batches, { bytes, described }) {
  if (batches.size === 0 && bytes === undefined) return [];
  const chain = typeof described?.chain === 'string' ? described.chain : ([...batches.keys()][0] ?? '');
  const finding = (message) => [{ chain, seq: 0, reason: 'bundle-signature-invalid', message }];
  if (!bytes) return finding('the bundle holds batches but no bundle.json: what it was made with cannot be checked');
  if (!files.has('bundle.sig'))
    return finding('bundle.json is not signed (no bundle.sig): its range and batches could have been edited');
  const signed = parsedOrUndefined(decodeOrUndefined(await files.get('bundle.sig')()) ?? '');
  const { signer_kid: kid, alg, signature } = isObject(signed) ? signed : {};
  if (typeof kid !== 'string' || typeof alg !== 'string' || typeof signature !== 'string')
    return finding('bundle.sig is not { signer_kid, alg, signature }');
  const createdAtMs = instantMs(described?.created_at);
  if (createdAtMs === undefined) return finding('bundle.json has no created_at (RFC 3339) to check its signer at');
  const problem = await documentSignatureProblem(registry, { kid, alg, value: signature }, createdAtMs, bytes);
  return problem ? finding(`bundle.sig: ${problem}`) : [];
}

/**
 * bundle.json lists the consistency proofs the bundle was made with, one
 * between each two consecutive checkpoints (`<old>-<new>`): one missing is
 * `consistency-proof-invalid` at its new size (those present are verified
 * with the others, consistencyFindings).
 */
function describedConsistencyMissing(described, files) {
  if (!Array.isArray(described?.consistency)) return [];
  return described.consistency
    .filter((name) => typeof name === 'string' && !files.has(`consistency/${name}.json`))
    .map((name) => ({
      chain: String(described.chain ?? ''),
      seq: Number(/^\d+-(\d+)$/.exec(name)?.[1] ?? 0),
      reason: 'consistency-proof-invalid',
      message: `bundle.json names the consistency proof ${name}, which the bundle does not hold`,
    }));
}

/** bundle.json lists the batches the bundle was made with: one removed at either end shows here (archive/auditorCheck.sh does the same). */
function describedBatchesMissing(described, chains) {
  if (!Array.isArray(described?.batches)) return [];
  const present = new Set([...chains.values()].flat().map((batch) => batch.key.replace(/^(.*\/)?batches\//, '')));
  return described.batches
    .filter((key) => typeof key === 'string' && !present.has(key))
    .map((key) => {
      const match = /-(\d{12})-(\d{12})\.jsonl\.gz$/.exec(key);
      return {
        chain: String(described.chain ?? ''),
        seq: match ? Number(match[1]) : 0,
        reason: 'batch-missing',
        message: `bundle.json names ${key}, which the bundle does not hold`,
        batch: key,
      };
    });
}

/** One chain's batches in seq order, each checked (section 8) before its records are (section 5). */
async function checkChainBatches(chain, batches, files, { registry, ids, treeSizes, hashesOf }, progressed) {
  const fromSeq = batches[0].fromSeq;
  let previous;
  let check;
  for (const [index, batch] of batches.entries()) {
    const expectedFrom = index === 0 ? undefined : batches[index - 1].toSeq + 1;
    const checkedBatch = await checkBatch(batch, expectedFrom, previous, files, registry);
    // A manifest's tree_root is held to the root of the records up to its to_seq, read from seq 1.
    const treeRoot = checkedBatch.manifest?.tree_root;
    if (treeRoot !== undefined) treeSizes?.add(checkedBatch.manifest.tree_size);
    check ??= new ChainCheck({
      chain,
      registry,
      fromSeq,
      prevHash: checkedBatch.manifest?.first_prev_hash,
      ids,
      treeSizes,
      hashesOf,
    });
    if (checkedBatch.finding) {
      check.finding = checkedBatch.finding;
      return check;
    }
    previous = checkedBatch.manifest;
    for (let offset = 0; offset < checkedBatch.lines.length; offset += PAGE_RECORDS) {
      const page = checkedBatch.lines.slice(offset, offset + PAGE_RECORDS);
      if (await check.add(page)) return check;
      progressed(page.length);
    }
    const root = treeRoot === undefined ? undefined : check.roots.get(checkedBatch.manifest.tree_size);
    if (root !== undefined && hexOf(root) !== treeRoot) {
      check.fail(
        'batch-tree-mismatch',
        `batch ${batch.key}: the records up to seq ${checkedBatch.manifest.tree_size} have the Merkle root ${hexOf(root)}, the manifest's tree_root is ${treeRoot}`,
        checkedBatch.manifest.tree_size,
      );
      return check;
    }
  }
  return check;
}

/**
 * A checkpoint stands for one chain's tree: its origin must be
 * `<CHECKPOINT_ORIGIN>/<chain>` (section 14) for a chain in `chains`, and
 * `<prefix>/<chain>` exactly when the auditor gave the prefix.
 */
function originProblem(origin, chains, prefix) {
  const slash = origin.lastIndexOf('/');
  const chain = origin.slice(slash + 1);
  if (slash <= 0 || !chains.has(chain))
    return `its origin ${JSON.stringify(origin)} is not <CHECKPOINT_ORIGIN>/<chain> for ${[...chains].map((name) => JSON.stringify(name)).join(' or ')}`;
  if (prefix !== undefined && origin !== `${prefix}/${chain}`)
    return `its origin ${JSON.stringify(origin)} is not ${JSON.stringify(`${prefix}/${chain}`)}`;
  return undefined;
}

/** Findings of the checkpoints and proof files, once the records gave their roots and hashes. */
function treeFindings(tree, checks, chains, origin) {
  const findings = [];
  const notes = [];
  for (const { path, opened, held } of tree.checkpoints) {
    const chain = chainOfOrigin(opened.checkpoint?.origin, chains);
    const size = opened.checkpoint?.size ?? Number(/(\d+)[^/]*$/.exec(path)?.[1] ?? 0);
    const problem = opened.problem ?? originProblem(opened.checkpoint.origin, chains, origin);
    if (problem) {
      findings.push({ chain, seq: size, reason: 'checkpoint-invalid', message: `${path}: ${problem}` });
      continue;
    }
    const check = checks.get(chain);
    const root = check?.roots.get(size);
    const cut = root === undefined ? cutProblem(check, size, held) : undefined;
    if (cut)
      findings.push({ chain, seq: size, reason: cut.reason, message: `${path} (tree size ${size}): ${cut.message}` });
    else if (root === undefined) notes.push(rootNotChecked(path, size, check));
    else if (!equalBytes(root, opened.checkpoint.root))
      findings.push({
        chain,
        seq: size,
        reason: 'checkpoint-root-mismatch',
        message: `${path}: its root is not the root of the tree of records 1..${size}`,
      });
  }
  for (const { path, checked } of tree.proofs) {
    if (!checked.ok) {
      const seq = checked.finding.seq || Number(/(\d+)\.tlog-proof$/.exec(path)?.[1] ?? 0);
      findings.push({
        ...checked.finding,
        chain: chainOfOrigin(undefined, chains),
        seq,
        message: `${path}: ${checked.finding.message}`,
      });
      continue;
    }
    const wrongOrigin = originProblem(checked.origin, new Set([checked.chain]), origin);
    if (wrongOrigin) {
      findings.push({
        chain: checked.chain,
        seq: checked.seq,
        reason: 'inclusion-proof-invalid',
        message: `${path}: its checkpoint: ${wrongOrigin} (its record's chain)`,
      });
      continue;
    }
    const proofCut = cutProblem(checks.get(checked.chain), checked.seq, false, 'record');
    if (proofCut) {
      findings.push({
        chain: checked.chain,
        seq: checked.seq,
        reason: proofCut.reason,
        message: `${path} (seq ${checked.seq}): ${proofCut.message}`,
      });
      continue;
    }
    const held = checks.get(checked.chain)?.hashes.get(checked.seq);
    // A record whose signer the registry alone does not know passes only as the record held here, checked with the chain's delegations.
    if (held === undefined && checked.signatureProblem)
      findings.push({
        chain: checked.chain,
        seq: checked.seq,
        reason: 'inclusion-proof-invalid',
        message: `${path}: ${checked.signatureProblem}, and the record at seq ${checked.seq} is not here to compare`,
      });
    else if (held !== undefined && held !== JSON.parse(checked.record).hash)
      findings.push({
        chain: checked.chain,
        seq: checked.seq,
        reason: 'inclusion-proof-invalid',
        message: `${path}: its record is not the bundle's record at seq ${checked.seq}`,
      });
  }
  consistencyFindings(tree, checks, chains, findings, notes);
  return { findings, notes };
}

/**
 * A consistency proof's roots stand for trees only when something here
 * vouches for them: a signed checkpoint of that size (held or bundled) or
 * the records themselves. A root that disagrees with either is a finding; a
 * root nothing vouches for is a note.
 */
function consistencyFindings(tree, checks, chains, findings, notes) {
  for (const { path, proof } of tree.consistency) {
    const chain = chainOfOrigin(proof.origin, chains);
    if (proof.problem) {
      findings.push({
        chain,
        seq: proof.newSize ?? 0,
        reason: 'consistency-proof-invalid',
        message: `${path}: ${proof.problem}`,
      });
      continue;
    }
    for (const [size, root] of [
      [proof.oldSize, proof.oldRoot],
      [proof.newSize, proof.newRoot],
    ]) {
      const signed = tree.checkpoints.filter(
        ({ opened }) =>
          opened.checkpoint &&
          !opened.problem &&
          opened.checkpoint.size === size &&
          opened.checkpoint.origin === proof.origin,
      );
      const vouchers = [
        ...signed.map(({ opened }) => opened.checkpoint.root),
        checks.get(chain)?.roots.get(size),
      ].filter(Boolean);
      if (vouchers.some((known) => !equalBytes(known, root)))
        findings.push({
          chain,
          seq: proof.newSize,
          reason: 'consistency-proof-invalid',
          message: `${path}: its root of the tree of ${size} is not the one the checkpoints or records here give`,
        });
      else if (vouchers.length === 0)
        notes.push(
          `${path}: the proof holds, but nothing here vouches for its root of the tree of ${size} (no checkpoint of that size, nor the records 1..${size})`,
        );
    }
  }
}

/**
 * A checkpoint or proof that shows records missing from what is checked
 * (section 15, "A cut bundle"). A bundle writes checkpoints and proofs only
 * within its own batches, so one of them past the last record held, or
 * before the first, means batches were removed at an end (`bundle-cut`;
 * bundle.json, signed in bundle.sig, says so too as `batch-missing`). A
 * checkpoint the auditor holds past the last record means the chain given
 * is behind what was once signed (`behind-checkpoint`). Records that
 * stopped at a finding say nothing more: that finding is the verdict.
 */
function cutProblem(check, size, held, what = 'tree') {
  if (check?.finding) return undefined;
  const first = check?.records > 0 ? check.fromSeq : undefined;
  const last = check?.records > 0 ? check.expectedSeq - 1 : undefined;
  if (held) {
    if (last !== undefined && size <= last) return undefined;
    return {
      reason: 'behind-checkpoint',
      message: `a checkpoint you hold signs ${size} records, but the records here ${last === undefined ? 'are none of its chain' : `end at seq ${last}`}: the chain was cut or rolled back after you got it, or these are not all its records`,
    };
  }
  if (first !== undefined && size >= first && size <= last) return undefined;
  const where = what === 'tree' ? `a checkpoint of ${size} records` : `an inclusion proof of the record at seq ${size}`;
  return {
    reason: 'bundle-cut',
    message: `${where} is here, but the records here ${first === undefined ? 'are none of its chain' : `are seq ${first} to ${last}`}: the bundle writes these only within its own records, so records were removed at an end`,
  };
}

/** Why a checkpoint's root was not compared (its signatures were checked): the records 1 to its size are not all here. */
function rootNotChecked(path, size, check) {
  const why = check?.finding
    ? `the records stop being checked at seq ${check.finding.seq}`
    : 'the records here do not start at seq 1';
  return `${path} (tree size ${size}): its signatures hold; its root is not compared, as ${why}`;
}

// ---------------------------------------------------------------- reading a bundle archive (.tar.gz)

/** The files of a POSIX (ustar) tar: Map path → () => bytes; the first folder (the bundle's name) is dropped. */
export function filesOfTar(tar) {
  const files = new Map();
  const text = (from, length) => new TextDecoder().decode(tar.subarray(from, from + length)).replace(/\0.*$/s, '');
  for (let at = 0; at + 512 <= tar.length;) {
    const name = text(at, 100);
    if (name === '') break;
    const prefix = text(at + 345, 155);
    const size = Number.parseInt(text(at + 124, 12).trim() || '0', 8);
    const type = text(at + 156, 1);
    const path = (prefix ? `${prefix}/${name}` : name).split('/').slice(1).join('/');
    const start = at + 512;
    if ((type === '0' || type === '') && path !== '')
      files.set(path, () => Promise.resolve(tar.subarray(start, start + size)));
    at = start + Math.ceil(size / 512) * 512;
  }
  return files;
}
