/**
 * The named vectors: the happy chains, ways of reading them (--limit, --from,
 * --prev-hash) and corruptions, each with the verdict audit-verify must give.
 * A corruption that "re-seals" recomputes hashes, links and signatures with
 * the real keys, so that the one defect it names is the only one: it shows
 * that check on its own, not a hash mismatch that happens to come first.
 */
import {
  canonical,
  payloadOf,
  preimage,
  sealChain,
  sha256Hex,
  signHash,
  type RegistryEntry,
  type VectorObject,
} from './build.ts';
import {
  happyChains,
  happyRegistry,
  KEY_ROGUE,
  KEY_V1,
  KEY_V2,
  MAIN,
  mainPayloads,
  ROTATION_TS,
  signerAt,
  V1_DEPLOYED_AT,
} from './chains.ts';
import { ecdsaTwins, p256FromSeed, signDigestDeterministic } from '../helpers/ecdsa.ts';
import { publicPem } from '../helpers/keys.ts';

export interface ExpectedFinding {
  chain: string;
  seq: number;
  reason: string;
}

export interface VectorCase {
  name: string;
  description: string;
  /** The records file, one line each, without line ends. */
  lines: string[];
  registry: { signers: RegistryEntry[] };
  /** audit-verify arguments besides --input, -s and --json. */
  args: string[];
  expected: { exitCode: 0 | 1; finding: ExpectedFinding | null };
}

const happy = happyChains();
const financeLines = happy.finance.map(canonical);
const mainLines = happy.main.map(canonical);

/** The file as `chainbook dump` writes it: chains in name order, then seq order. */
function fileWith(main: readonly string[]): string[] {
  return [...financeLines, ...main];
}

/** Main's payloads changed by `change` (1-based seq → payload), then sealed and signed as the writer would. */
function resealMain(change: (payload: VectorObject, seq: number) => VectorObject, signerFor = signerAt): string[] {
  return sealChain(
    mainPayloads().map((payload, index) => change(payload, index + 1)),
    signerFor,
  ).map(canonical);
}

/** The record of main at `seq` replaced by `replace(record)`, the others as they are. */
function replaceMainRecord(seq: number, replace: (record: VectorObject) => VectorObject | string): string[] {
  return happy.main.map((record, index) => {
    if (index + 1 !== seq) return canonical(record);
    const replaced = replace(record);
    return typeof replaced === 'string' ? replaced : canonical(replaced);
  });
}

const BASE64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** The signature with an unused low bit of its last base64 digit set: same bytes, another text. */
function withPaddingBitSet(record: VectorObject): VectorObject {
  const sig = record['sig'] as { value: string };
  const last = sig.value.length - 3; // 64 bytes: 86 digits then "=="; the last digit's low 4 bits are unused
  const digit = BASE64_ALPHABET[BASE64_ALPHABET.indexOf(sig.value[last]!) ^ 1]!;
  return { ...sig, value: sig.value.slice(0, last) + digit + sig.value.slice(last + 1) };
}

function flipByte(line: string, marker: string, offset: number): string {
  const bytes = Buffer.from(line, 'utf8');
  const at = bytes.indexOf(marker) + offset;
  if (at < offset) throw new Error(`assertion failed: ${marker} not in line`);
  bytes[at] = bytes[at]! ^ 0x01;
  return bytes.toString('utf8');
}

function hashOfMain(seq: number): string {
  return happy.main[seq - 1]!['hash'] as string;
}

const ok = { exitCode: 0, finding: null } as const;
function fails(chain: string, seq: number, reason: string): VectorCase['expected'] {
  return { exitCode: 1, finding: { chain, seq, reason } };
}

type CaseInput = Omit<VectorCase, 'registry' | 'args'> & Partial<Pick<VectorCase, 'registry' | 'args'>>;

function vectorCase(input: CaseInput): VectorCase {
  return { registry: happyRegistry(), args: [], ...input };
}

function readingCases(): CaseInput[] {
  const excerpt = mainLines.slice(7);
  return [
    {
      name: 'happy',
      description: 'Two chains (finance, main), 26 records, signer rotated at 10:00:30.000Z; every record verifies.',
      lines: fileWith(mainLines),
      expected: ok,
    },
    {
      name: 'happy-limit',
      description:
        'The happy file checked with --limit 3: the last 3 records of each chain, anchored on the hash of the record before them.',
      lines: fileWith(mainLines),
      args: ['--limit', '3'],
      expected: ok,
    },
    {
      name: 'excerpt-anchored',
      description:
        'Only records 8 to 20 of main, checked from seq 8 with the hash of record 7 given as the trusted anchor (--prev-hash).',
      lines: excerpt,
      args: ['--chain', MAIN, '--from', '8', '--prev-hash', hashOfMain(7)],
      expected: ok,
    },
    {
      name: 'excerpt-wrong-anchor',
      description:
        'The same excerpt anchored on the hash of record 6 instead of 7: the first record does not link to the anchor.',
      lines: excerpt,
      args: ['--chain', MAIN, '--from', '8', '--prev-hash', hashOfMain(6)],
      expected: fails(MAIN, 8, 'prev-hash-mismatch'),
    },
    {
      name: 'excerpt-unanchored',
      description:
        'The same excerpt checked from seq 8 with no --prev-hash: record 7, whose hash would anchor the check, is not in the file.',
      lines: excerpt,
      args: ['--chain', MAIN, '--from', '8'],
      expected: fails(MAIN, 7, 'missing-predecessor'),
    },
    {
      name: 'excerpt-from-start',
      description: 'The same excerpt checked as a whole chain: a chain starts at seq 1, so records 1 to 7 are missing.',
      lines: excerpt,
      expected: fails(MAIN, 1, 'seq-gap'),
    },
    {
      name: 'tail-records-removed',
      description:
        'Records 19 and 20 of main removed, checked with --limit 3. A file alone cannot show records lost at its end: this passes. The database head row (head-mismatch) or a signed checkpoint is what catches it.',
      lines: fileWith(mainLines.slice(0, 18)),
      args: ['--limit', '3'],
      expected: ok,
    },
    {
      name: 'corruption-before-limit',
      description:
        'A byte of record 3 of main flipped, checked with --limit 3: only the last 3 records are checked, so this passes.',
      lines: fileWith(replaceMainRecord(3, (record) => flipByte(canonical(record), '"amountMinor":1999', 17))),
      args: ['--limit', '3'],
      expected: ok,
    },
  ];
}

function linkCases(): CaseInput[] {
  const swapped = [...mainLines];
  [swapped[5], swapped[6]] = [swapped[6]!, swapped[5]!];
  return [
    {
      name: 'payload-byte-flipped',
      description:
        'One byte of record 3 of main flipped in place ("amountMinor":1999 becomes 1998): the hash no longer recomputes.',
      lines: fileWith(replaceMainRecord(3, (record) => flipByte(canonical(record), '"amountMinor":1999', 17))),
      expected: fails(MAIN, 3, 'hash-mismatch'),
    },
    {
      name: 'payload-edited-and-rehashed',
      description:
        'Record 5 of main edited, its hash and every later link recomputed, the signatures kept: what someone without the signing key can do. The signature no longer matches the hash.',
      lines: fileWith(
        relinkedWithOldSignatures(5, (payload) => ({ ...payload, actor: { id: 'operator-eve', role: 'Operator' } })),
      ),
      expected: fails(MAIN, 5, 'bad-signature'),
    },
    {
      name: 'records-swapped',
      description: 'Records 6 and 7 of main swapped.',
      lines: fileWith(swapped),
      expected: fails(MAIN, 6, 'seq-gap'),
    },
    {
      name: 'record-deleted',
      description: 'Record 9 of main deleted.',
      lines: fileWith(mainLines.filter((_, index) => index !== 8)),
      expected: fails(MAIN, 9, 'seq-gap'),
    },
    {
      name: 'seq-gap',
      description: 'A writer skipped seq 10: records after 9 are numbered 11 to 21, linked and signed correctly.',
      lines: fileWith(resealMain((payload, seq) => (seq >= 10 ? { ...payload, seq: seq + 1 } : payload))),
      expected: fails(MAIN, 10, 'seq-gap'),
    },
    {
      name: 'wrong-prev-hash',
      description:
        "Record 11 of main links to a hash that is not record 10's; it is hashed and signed over that wrong link, so only the link is wrong.",
      lines: fileWith(relinkedFrom(11, sha256Hex(Buffer.from('not the previous record')))),
      expected: fails(MAIN, 11, 'prev-hash-mismatch'),
    },
    {
      name: 'spliced-from-other-chain',
      description: 'Record 7 of main replaced by record 3 of finance, verbatim.',
      lines: fileWith(replaceMainRecord(7, () => financeLines[2]!)),
      expected: fails(MAIN, 7, 'wrong-chain'),
    },
    {
      name: 'truncated-tail',
      description:
        'The last line of the file (record 20 of main) cut in half, as by an interrupted copy; checked with --limit 3.',
      lines: fileWith([...mainLines.slice(0, 19), mainLines[19]!.slice(0, Math.floor(mainLines[19]!.length / 2))]),
      args: ['--limit', '3'],
      expected: fails(MAIN, 20, 'malformed-record'),
    },
  ];
}

/** Main with record `fromSeq` linked to `prevHash`, and every later record relinked, all re-signed. */
function relinkedFrom(fromSeq: number, prevHash: string): string[] {
  const payloads = mainPayloads();
  const before = happy.main.slice(0, fromSeq - 1);
  return [...before, ...sealChain(payloads.slice(fromSeq - 1), signerAt, prevHash)].map(canonical);
}

/** Main with record `seq` changed and hashes relinked from there, the original signatures kept. */
function relinkedWithOldSignatures(seq: number, change: (payload: VectorObject) => VectorObject): string[] {
  let prevHash = happy.main[seq - 2]!['hash'] as string;
  return happy.main.map((record, index) => {
    if (index + 1 < seq) return canonical(record);
    const payload = index + 1 === seq ? change(payloadOf(record)) : payloadOf(record);
    const hash = sha256Hex(preimage(payload, prevHash));
    const relinked = { ...payload, prevHash, hash, sig: record['sig'] };
    prevHash = hash;
    return canonical(relinked);
  });
}

/** A fixed P-256 key, signing deterministically (RFC 6979) so the vectors stay byte for byte the same. */
const KEY_ECDSA = { kid: 'vectors-ecdsa-p256-v1', ...p256FromSeed('vectors-ecdsa-p256-v1') };

/** The happy registry and the ECDSA signer, deployed with v1 and never retired. */
function registryWithEcdsa(): { signers: RegistryEntry[] } {
  const registry = happyRegistry();
  registry.signers.push({
    signer_kid: KEY_ECDSA.kid,
    algorithm: 'ecdsa-p256-sha256',
    public_key_pem: publicPem(KEY_ECDSA.publicKey),
    deployedAt: V1_DEPLOYED_AT,
    retiredAt: null,
    description: 'golden vectors: an ECDSA P-256 signer',
  });
  return registry;
}

/** docs/FORMAT.md section 3: ECDSA over the digest `hash`, DER, in the low-S or the high-S form of one signature. */
function ecdsaSignature(hash: string, form: 'low' | 'high'): { kid: string; alg: string; value: string } {
  const twins = ecdsaTwins(signDigestDeterministic(KEY_ECDSA.d, Buffer.from(hash, 'hex')));
  return { kid: KEY_ECDSA.kid, alg: 'ecdsa-p256-sha256', value: twins[form].toString('base64') };
}

function ecdsaCases(): CaseInput[] {
  return [
    {
      name: 'ecdsa-low-s',
      description:
        'Record 12 of main signed by an ecdsa-p256-sha256 signer of the registry, in the low-S form (s <= n/2); every record verifies.',
      lines: fileWith(replaceMainRecord(12, (record) => ({ ...record, sig: ecdsaSignature(hashOfMain(12), 'low') }))),
      registry: registryWithEcdsa(),
      expected: ok,
    },
    {
      name: 'ecdsa-high-s',
      description:
        'The same signature as ecdsa-low-s with s replaced by n − s: it verifies mathematically, but it is a second text for the same record, so only the low-S form is accepted.',
      lines: fileWith(replaceMainRecord(12, (record) => ({ ...record, sig: ecdsaSignature(hashOfMain(12), 'high') }))),
      registry: registryWithEcdsa(),
      expected: fails(MAIN, 12, 'bad-signature'),
    },
  ];
}

function signatureCases(): CaseInput[] {
  const earlyRetirement = happyRegistry();
  earlyRetirement.signers[0]!.retiredAt = '2026-11-23T10:00:10Z';
  return [
    {
      name: 'bad-signature',
      description: 'One bit of the signature of record 12 of main flipped.',
      lines: fileWith(replaceMainRecord(12, (record) => ({ ...record, sig: flippedSignature(record) }))),
      expected: fails(MAIN, 12, 'bad-signature'),
    },
    {
      name: 'signature-padding-bits',
      description:
        "The last base64 character of record 12's signature changed in bits the 64 signature bytes do not use: it decodes to the same valid signature, but it is a second text for the same record, so it is refused.",
      lines: fileWith(replaceMainRecord(12, (record) => ({ ...record, sig: withPaddingBitSet(record) }))),
      expected: fails(MAIN, 12, 'malformed-record'),
    },
    {
      name: 'wrong-key-for-kid',
      description: "Record 8 of main signed by the v2 key but labelled with kid v1 (inside v1's window).",
      lines: fileWith(
        replaceMainRecord(8, (record) => ({
          ...record,
          sig: { ...signHash(KEY_V2, record['hash'] as string), kid: KEY_V1.kid },
        })),
      ),
      expected: fails(MAIN, 8, 'bad-signature'),
    },
    {
      name: 'unknown-signer',
      description: 'Record 13 of main signed, correctly, by a key whose kid is not in the registry.',
      lines: fileWith(
        replaceMainRecord(13, (record) => ({ ...record, sig: signHash(KEY_ROGUE, record['hash'] as string) })),
      ),
      expected: fails(MAIN, 13, 'unknown-signer'),
    },
    {
      name: 'algorithm-mismatch',
      description: 'Record 14 of main claims sig.alg ecdsa-p256-sha256; its signer is registered as ed25519.',
      lines: fileWith(
        replaceMainRecord(14, (record) => ({
          ...record,
          sig: { ...(record['sig'] as VectorObject), alg: 'ecdsa-p256-sha256' },
        })),
      ),
      expected: fails(MAIN, 14, 'algorithm-mismatch'),
    },
    {
      name: 'signer-not-yet-deployed',
      description: `Record 3 of main (10:00:05.250Z) signed by v2, which is deployed only at ${ROTATION_TS}.`,
      lines: fileWith(
        replaceMainRecord(3, (record) => ({ ...record, sig: signHash(KEY_V2, record['hash'] as string) })),
      ),
      expected: fails(MAIN, 3, 'outside-validity-window'),
    },
    {
      name: 'signer-retired',
      description: `Record 15 of main (10:01:00.000Z) signed by v1, which retired at ${ROTATION_TS}.`,
      lines: fileWith(
        replaceMainRecord(15, (record) => ({ ...record, sig: signHash(KEY_V1, record['hash'] as string) })),
      ),
      expected: fails(MAIN, 15, 'outside-validity-window'),
    },
    {
      name: 'registry-retires-signer-early',
      description:
        'The happy records with a registry that retires v1 at 10:00:10Z: record 4 of main (10:00:12.500Z, signed by v1) is outside its window.',
      lines: fileWith(mainLines),
      registry: earlyRetirement,
      expected: fails(MAIN, 4, 'outside-validity-window'),
    },
  ];
}

function flippedSignature(record: VectorObject): VectorObject {
  const sig = record['sig'] as VectorObject;
  const bytes = Buffer.from(sig['value'] as string, 'base64');
  bytes[10] = bytes[10]! ^ 0x01;
  return { ...sig, value: bytes.toString('base64') };
}

function streamAndIdCases(): CaseInput[] {
  const idOf = (records: readonly VectorObject[], seq: number): string => records[seq - 1]!['id'] as string;
  return [
    {
      name: 'duplicate-id',
      description: 'Record 16 of main carries the event id of record 3 (sealed and signed).',
      lines: fileWith(resealMain((payload, seq) => (seq === 16 ? { ...payload, id: idOf(happy.main, 3) } : payload))),
      expected: fails(MAIN, 16, 'duplicate-id'),
    },
    {
      name: 'duplicate-id-across-chains',
      description: 'Record 18 of main carries the event id of record 2 of finance: ids are unique across all chains.',
      lines: fileWith(
        resealMain((payload, seq) => (seq === 18 ? { ...payload, id: idOf(happy.finance, 2) } : payload)),
      ),
      expected: fails(MAIN, 18, 'duplicate-id'),
    },
    {
      name: 'stream-version-gap',
      description: 'Record 17 of main (stream preview-s1) has version 3 after version 1 (sealed and signed).',
      lines: fileWith(resealMain((payload, seq) => (seq === 17 ? { ...payload, version: 3 } : payload))),
      expected: fails(MAIN, 17, 'stream-version-gap'),
    },
    {
      name: 'stream-version-repeated',
      description: 'Record 13 of main (stream order-0190c3) repeats version 2 (sealed and signed).',
      lines: fileWith(resealMain((payload, seq) => (seq === 13 ? { ...payload, version: 2 } : payload))),
      expected: fails(MAIN, 13, 'stream-version-gap'),
    },
    {
      name: 'stream-starts-at-version-2',
      description: 'Record 16 of main, the first of stream preview-s1, has version 2 (sealed and signed).',
      lines: fileWith(
        resealMain((payload, seq) =>
          seq === 16 ? { ...payload, version: 2 } : seq === 17 ? { ...payload, version: 3 } : payload,
        ),
      ),
      expected: fails(MAIN, 16, 'stream-version-gap'),
    },
  ];
}

/** Record 4's line written with its members in the order of the format's table, not JCS order. */
function inTableOrder(record: VectorObject): string {
  const order = [
    'v',
    'chain',
    'seq',
    'id',
    'type',
    'stream',
    'version',
    'ts',
    'actor',
    'data',
    'meta',
    'prevHash',
    'hash',
    'sig',
  ];
  return JSON.stringify(Object.fromEntries(order.map((member) => [member, record[member]])));
}

function formatCases(): CaseInput[] {
  return [
    {
      name: 'not-canonical-member-order',
      description:
        'Record 4 of main with its members in table order instead of JCS order; same content, hash and signature.',
      lines: fileWith(replaceMainRecord(4, inTableOrder)),
      expected: fails(MAIN, 4, 'malformed-record'),
    },
    {
      name: 'not-canonical-escape',
      description:
        'Record 4 of main with "é" written as the escape \\u00e9; it parses to the same value, but JCS writes the character itself.',
      lines: fileWith(replaceMainRecord(4, (record) => canonical(record).replace('é', '\\u00e9'))),
      expected: fails(MAIN, 4, 'malformed-record'),
    },
    {
      name: 'missing-member',
      description: 'Record 5 of main without its meta member.',
      lines: fileWith(replaceMainRecord(5, ({ meta: _meta, ...rest }) => rest)),
      expected: fails(MAIN, 5, 'malformed-record'),
    },
    {
      name: 'extra-member',
      description: 'Record 6 of main with a member the format does not have ("note").',
      lines: fileWith(replaceMainRecord(6, (record) => ({ ...record, note: 'added' }))),
      expected: fails(MAIN, 6, 'malformed-record'),
    },
    {
      name: 'float-in-data',
      description: 'Record 7 of main with amountMinor 45.5 (sealed and signed): numbers in data are integers.',
      lines: fileWith(
        resealMain((payload, seq) =>
          seq === 7 ? { ...payload, data: { ...(payload['data'] as VectorObject), amountMinor: 45.5 } } : payload,
        ),
      ),
      expected: fails(MAIN, 7, 'malformed-record'),
    },
    {
      name: 'unsafe-integer-in-data',
      description: 'Record 8 of main with toMinor 2^53 (sealed and signed): integers are within ±(2^53 − 1).',
      lines: fileWith(
        resealMain((payload, seq) =>
          seq === 8 ? { ...payload, data: { ...(payload['data'] as VectorObject), toMinor: 2 ** 53 } } : payload,
        ),
      ),
      expected: fails(MAIN, 8, 'malformed-record'),
    },
    {
      name: 'invalid-calendar-date',
      description: 'Record 19 of main stamped 2026-11-31 (sealed and signed): November has 30 days.',
      lines: fileWith(
        resealMain((payload, seq) => (seq === 19 ? { ...payload, ts: '2026-11-31T10:02:30.500Z' } : payload)),
      ),
      expected: fails(MAIN, 19, 'malformed-record'),
    },
    {
      name: 'uppercase-hash',
      description:
        'Record 2 of main with its hash in upper-case hex (signature over the same bytes): hashes are lower-case hex.',
      lines: fileWith(
        replaceMainRecord(2, (record) => ({ ...record, hash: (record['hash'] as string).toUpperCase() })),
      ),
      expected: fails(MAIN, 2, 'malformed-record'),
    },
  ];
}

export function vectorCases(): VectorCase[] {
  return [
    ...readingCases(),
    ...linkCases(),
    ...signatureCases(),
    ...streamAndIdCases(),
    ...formatCases(),
    ...ecdsaCases(),
  ].map(vectorCase);
}
