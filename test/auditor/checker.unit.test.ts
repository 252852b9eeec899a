/**
 * The independent checker (auditor/checker.mjs) against the outside vectors
 * (RFC 8785, transparency-dev) and against Chainbook's own Node verifier:
 * both run over the golden vectors and over chains changed byte by byte, and
 * must give the same finding (chain, seq, reason); checkpoints, cosignatures
 * and proof files are checked against the worked example of docs/FORMAT.md
 * section 14 and chainbook's own verify-inclusion.
 */
import test from 'ava';
import fc from 'fast-check';
import { createHash, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { copyFileSync, cpSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as checker from '../../auditor/checker.mjs';
import { MAX_BUNDLE_CHECKPOINTS } from '../../archive/auditBundle.ts';
import { MAX_ARCHIVE_BATCH_BYTES } from '../../archive/limits.ts';
import { MAX_NOTE_BYTES, MAX_NOTE_SIGNATURES } from '../../chain/checkpoint.ts';
import { MAX_PROOF_FILE_BYTES, MAX_PROOF_HASHES } from '../../chain/proofFile.ts';
import { parseRegistryText } from '../../chain/registry.ts';
import { verifyMessageSignature } from '../../chain/signature.ts';
import { linesReader, readLinesBytes } from '../../infra/adapters/files/fileReader.ts';
import { inProcessChecker } from '../../verifier/inProcessChecker.ts';
import { verify, type VerifyOptions } from '../../verifier/verify.ts';
import { verifyInclusionFile } from '../../verifier/verifyInclusion.ts';
import { ed25519FromSeed } from '../helpers/keys.ts';
import { tempDir } from '../helpers/runtime.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const VECTORS = join(ROOT, 'test/vectors');
const FORMAT = readFileSync(join(ROOT, 'docs/FORMAT.md'), 'utf8');

interface VectorCase {
  name: string;
  records: string;
  signers: string;
  args: string[];
  expected: { finding: { chain: string; seq: number; reason: string } | null };
}

const cases = (JSON.parse(readFileSync(join(VECTORS, 'index.json'), 'utf8')) as { cases: VectorCase[] }).cases;

function optionsOf(args: readonly string[]): VerifyOptions {
  const options: VerifyOptions = {};
  for (let index = 0; index < args.length; index += 2) {
    const value = args[index + 1]!;
    if (args[index] === '--limit') options.limit = Number(value);
    else if (args[index] === '--from') options.fromSeq = Number(value);
    else if (args[index] === '--prev-hash') options.prevHash = value;
    else if (args[index] === '--chain') options.chains = [value];
    else throw new Error(`vector argument ${args[index]} has no option here`);
  }
  return options;
}

type Verdict = string;
const verdict = (finding: { chain: string; seq: number; reason: string } | undefined | null): Verdict =>
  finding ? `${finding.chain} ${finding.seq} ${finding.reason}` : 'ok';

async function nodeVerdict(bytes: Uint8Array, signersText: string, options: VerifyOptions): Promise<Verdict> {
  const registry = parseRegistryText(signersText);
  const report = await verify(linesReader('vector', readLinesBytes(bytes)), inProcessChecker(registry), options);
  return verdict(report.finding);
}

async function checkerVerdict(bytes: Uint8Array, signersText: string, options: VerifyOptions): Promise<Verdict> {
  const loaded = await checker.loadRegistry(signersText);
  if (!loaded.registry) throw new Error(loaded.problems.join('; '));
  const report = await checker.checkLines(checker.linesOfBytes(bytes), loaded.registry, options);
  return verdict(report.finding);
}

function block(name: string): string {
  const match = new RegExp('```(?:text|json|js) example=' + name + '\\n([\\s\\S]*?)```').exec(FORMAT);
  if (!match) throw new Error(`docs/FORMAT.md has no example ${name}`);
  return match[1]!;
}

const happySigners = readFileSync(join(VECTORS, 'cases/happy/signers.json'), 'utf8');
const happyRecords = readFileSync(join(VECTORS, 'cases/happy/records.jsonl'));

async function happyRegistry(): Promise<checker.CheckerRegistry> {
  const loaded = await checker.loadRegistry(happySigners);
  if (!loaded.registry) throw new Error(loaded.problems.join('; '));
  return loaded.registry;
}

test('RFC 8785: the canonical form of every json-canonicalization input is its output', (t) => {
  const folder = join(ROOT, 'test/outsideVectors/json-canonicalization');
  const names = readdirSync(join(folder, 'input'));
  t.true(names.length >= 6);
  for (const name of names) {
    const input = JSON.parse(readFileSync(join(folder, 'input', name), 'utf8')) as unknown;
    t.is(checker.canonicalize(input), readFileSync(join(folder, 'output', name), 'utf8').replace(/\n$/, ''), name);
  }
  t.throws(() => checker.canonicalize({ text: '\ud800' }), { instanceOf: TypeError });
});

test('every golden vector gets the same finding from the checker as from audit-verify, and the one index.json names', async (t) => {
  t.true(cases.length >= 39);
  for (const vector of cases) {
    const bytes = readFileSync(join(VECTORS, vector.records));
    const signers = readFileSync(join(VECTORS, vector.signers), 'utf8');
    const options = optionsOf(vector.args);
    const [ours, theirs] = [await checkerVerdict(bytes, signers, options), await nodeVerdict(bytes, signers, options)];
    t.is(ours, theirs, vector.name);
    t.is(ours, verdict(vector.expected.finding), vector.name);
  }
});

test('a happy chain changed at any byte gets the same finding from the checker as from audit-verify', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.nat({ max: happyRecords.length - 1 }), fc.integer({ min: 1, max: 255 }), async (at, xor) => {
      const bytes = Uint8Array.from(happyRecords);
      bytes[at] = bytes[at]! ^ xor;
      const ours = await checkerVerdict(bytes, happySigners, {});
      const theirs = await nodeVerdict(bytes, happySigners, {});
      t.is(ours, theirs, `byte ${at} xor ${xor}`);
      return ours === theirs && ours !== 'ok';
    }),
    { numRuns: 150 },
  );
});

test('lines that are not records are findings at their seq, never a thrown error, and audit-verify agrees', async (t) => {
  const registry = await happyRegistry();
  const seqZero = fc
    .record({ chain: fc.constant('main'), seq: fc.integer({ min: -5, max: 0 }) })
    .map((line) => JSON.stringify(line));
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.oneof(fc.string(), fc.json(), seqZero), { minLength: 1, maxLength: 5 }),
      async (lines) => {
        const report = await checker.checkLines(lines, registry);
        const bytes = new TextEncoder().encode(lines.map((line) => line.replaceAll('\n', ' ')).join('\n') + '\n');
        const [ours, theirs] = [
          await checkerVerdict(bytes, happySigners, {}),
          await nodeVerdict(bytes, happySigners, {}),
        ];
        t.is(ours, theirs, JSON.stringify(lines));
        return !report.ok && report.finding?.reason === 'malformed-record' && ours === theirs;
      },
    ),
    { numRuns: 100 },
  );
});

test('lines before seq 1 are checked, not skipped, unless a range was asked; nothing checked is no-records, in both verifiers', async (t) => {
  const main = happyRecords
    .toString('utf8')
    .split('\n')
    .filter((line) => line.includes('"chain":"main"'));
  const cases: [string, string, VerifyOptions, string][] = [
    ['a lone seq 0 line', '{"chain":"main","seq":0}\n', {}, 'main 1 malformed-record'],
    [
      'a seq 0 line before the records',
      `{"chain":"main","seq":0,"x":1}\n${main.join('\n')}\n`,
      {},
      'main 1 malformed-record',
    ],
    [
      'seq -5 and 0 before the records',
      `{"chain":"main","seq":-5}\n{"chain":"main","seq":0}\n${main.join('\n')}\n`,
      {},
      'main 1 malformed-record',
    ],
    ['nothing at all', '', {}, ' 0 no-records'],
    ['the records alone', `${main.join('\n')}\n`, {}, 'ok'],
    ['a junk line before an asked range', `{"chain":"main","seq":0}\n${main.join('\n')}\n`, { fromSeq: 2 }, 'ok'],
  ];
  for (const [name, text, options, expected] of cases) {
    const bytes = new TextEncoder().encode(text);
    t.is(await checkerVerdict(bytes, happySigners, options), expected, `checker: ${name}`);
    t.is(await nodeVerdict(bytes, happySigners, options), expected, `audit-verify: ${name}`);
  }
});

test('every transparency-dev inclusion vector gets its verdict from the checker', async (t) => {
  const folder = join(ROOT, 'test/outsideVectors/transparency-dev-merkle/inclusion');
  const files = readdirSync(folder, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.json'))
    .map((name) => join(folder, name));
  t.true(files.length > 90);
  const b64 = (text: string) => Uint8Array.from(Buffer.from(text, 'base64'));
  for (const file of files) {
    const v = JSON.parse(readFileSync(file, 'utf8')) as {
      leafIdx: number;
      treeSize: number;
      root: string;
      leafHash: string;
      proof: string[] | null;
      wantErr: boolean;
    };
    const ok = await checker.verifyInclusion(
      v.leafIdx,
      v.treeSize,
      b64(v.leafHash),
      (v.proof ?? []).map(b64),
      b64(v.root),
    );
    t.is(ok, !v.wantErr, file);
  }
});

test('the worked example of section 14: the checkpoint opens, its root is the tree of the happy records, the proof file verifies', async (t) => {
  const registry = await happyRegistry();
  const opened = await checker.openCheckpoint(block('checkpoint'), registry, [], 'chainbook/main');
  if (opened.problem !== undefined) return t.fail(opened.problem);
  t.is(opened.signer, 'vectors-ed25519-v1');
  const roots = new Map<number, Uint8Array>();
  const report = await checker.checkLines(checker.linesOfBytes(happyRecords), registry, {
    chains: ['main'],
    treeSizes: new Set([7, 20]),
    onChain: (check) => check.roots.forEach((root, size) => roots.set(size, root)),
  });
  t.true(report.ok);
  t.is(checker.base64Of(roots.get(20)!), checker.base64Of(opened.checkpoint.root));
  t.is(checker.base64Of(roots.get(7)!), 'q8BLHFdU2T8FqdBtz19GImHVVGUuzR/7/+z3wh3yqvQ=');
  const proof = await checker.checkProofFile(block('proof-file'), registry, { origin: 'chainbook/main' });
  t.like(proof, { ok: true, seq: 2, chain: 'main', size: 20 });
});

test('a tampered checkpoint or proof file is refused by the checker as by verify-inclusion, at the record it names', async (t) => {
  const registry = await happyRegistry();
  const key = {
    name: 'vectors-ed25519-v1',
    publicKey: createPublicKey(block('public-key')),
  };
  const good = block('proof-file');
  const [, secondHash] = good.split('\n').slice(3, 5);
  const tampered = {
    'a proof hash replaced': good.replace('Irk6D1yhhkHuUatL1x1jktqwFXW9olGPw/881r4s5BA=', secondHash!),
    'the checkpoint root changed': good.replace(
      'L8ChX0y2nDPORZE0HWfTq3dwL1hphIAvu96iHyvR/x0=\n\n',
      'L8ChX0y2nDPORZE0HWfTq3dwL1hphIAvu96iHyvR/x1=\n\n',
    ),
    'the checkpoint size changed': good.replace('\n20\nL8Ch', '\n21\nL8Ch'),
    'the index changed': good.replace('index 1\n', 'index 2\n'),
    'a hash left out': good.replace(`${secondHash}\n`, ''),
  };
  t.true(verifyInclusionFile(good, key).ok);
  for (const [name, text] of Object.entries(tampered)) {
    t.not(text, good, name);
    t.false(verifyInclusionFile(text, key).ok, name);
    const checked = await checker.checkProofFile(text, registry);
    t.false(checked.ok, name);
    if (!checked.ok) t.like(checked.finding, { seq: 2, reason: 'inclusion-proof-invalid' }, name);
  }
  const note = block('checkpoint');
  const resigned = await checker.openCheckpoint(note.replace('\n20\n', '\n19\n'), registry);
  t.regex(resigned.problem ?? '', /does not verify/);
  t.regex(
    (await checker.openCheckpoint(note, registry, [], 'chainbook/other')).problem ?? '',
    /not "chainbook\/other"/,
  );
});

/** A C2SP tlog-cosignature/v1 line by a new Ed25519 witness key over `note`, and the witness's verifier key. */
function cosign(note: string, name: string, timeSeconds: number): { line: string; vkey: string } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  // Key ID: SHA-256(name || 0x0A || 0x04 || key)[:4].
  const id = createHash('sha256')
    .update(Buffer.concat([Buffer.from(`${name}\n`), Buffer.from([0x04]), raw]))
    .digest()
    .subarray(0, 4);
  const body = note.slice(0, note.indexOf('\n\n') + 1);
  const time = Buffer.alloc(8);
  time.writeBigUInt64BE(BigInt(timeSeconds));
  const signature = sign(null, Buffer.from(`cosignature/v1\ntime ${timeSeconds}\n${body}`), privateKey);
  const line = `\u2014 ${name} ${Buffer.concat([id, time, signature]).toString('base64')}\n`;
  const vkey = `${name}+${id.toString('hex')}+${Buffer.concat([Buffer.from([0x04]), raw]).toString('base64')}`;
  return { line, vkey };
}

test('cosignature lines of witnesses given to the checker are verified; a missing or altered one is refused', async (t) => {
  const registry = await happyRegistry();
  const note = block('checkpoint');
  const first = cosign(note, 'witness.example/w1', 1_764_000_000);
  const second = cosign(note, 'witness.example/w2', 1_764_000_001);
  const cosigned = note + first.line + second.line;
  const witnesses = await Promise.all([first.vkey, second.vkey].map(checker.parseWitnessKey));
  if (witnesses.some((witness) => witness === undefined)) return t.fail('a verifier key does not parse');
  const keys = witnesses as checker.WitnessKey[];
  t.like(await checker.openCheckpoint(cosigned, registry, keys), { signer: 'vectors-ed25519-v1' });
  t.like(await checker.openCheckpoint(note, registry, []), { signer: 'vectors-ed25519-v1' });
  t.regex(
    (await checker.openCheckpoint(note + first.line, registry, keys)).problem ?? '',
    /no cosignature by witness witness\.example\/w2/,
  );
  const blob = Buffer.from(second.line.split(' ')[2]!.trim(), 'base64');
  blob[5] = blob[5]! ^ 1; // the time, which the signature covers
  const altered = `${note}${first.line}\u2014 witness.example/w2 ${blob.toString('base64')}\n`;
  t.regex(
    (await checker.openCheckpoint(altered, registry, keys)).problem ?? '',
    /cosignature by witness witness\.example\/w2 does not verify/,
  );
  t.is(await checker.parseWitnessKey(first.vkey.replace(/\+[0-9a-f]{8}\+/, '+00000000+')), undefined);
});

test('the Node example of section 15 checks a folder with the checker alone: OK for the happy records, the finding for a corrupted copy', (t) => {
  const folder = tempDir('checker-node');
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  copyFileSync(join(ROOT, 'auditor/checker.mjs'), join(folder, 'checker.mjs'));
  writeFileSync(join(folder, 'check.mjs'), block('checker-node'));
  cpSync(join(VECTORS, 'cases/happy'), join(folder, 'happy'), { recursive: true });
  cpSync(join(VECTORS, 'cases/wrong-prev-hash'), join(folder, 'wrong'), { recursive: true });
  const run = (input: string) => spawnSync(process.execPath, ['check.mjs', input], { cwd: folder, encoding: 'utf8' });
  const happy = run('happy');
  t.is(happy.stdout, 'OK 26\n', happy.stderr);
  t.regex(run('wrong').stdout, /seq: 11,\s+reason: 'prev-hash-mismatch'/);
});

test('on every Wycheproof vector (Ed25519, ECDSA P-256 DER, RSA PKCS#1 v1.5) the checker accepts exactly what the Node verifier accepts', async (t) => {
  const files = {
    ed25519: 'ed25519_test',
    'ecdsa-p256-sha256': 'ecdsa_secp256r1_sha256_test',
    'rsa-sha256': 'rsa_signature_2048_sha256_test',
  } as const;
  for (const [algorithm, file] of Object.entries(files) as [keyof typeof files, string][]) {
    const document = JSON.parse(readFileSync(join(ROOT, 'test/outsideVectors/wycheproof', `${file}.json`), 'utf8')) as {
      testGroups: { publicKeyDer: string; tests: { tcId: number; msg: string; sig: string }[] }[];
    };
    let count = 0;
    for (const group of document.testGroups) {
      const der = Buffer.from(group.publicKeyDer, 'hex');
      const pem = `-----BEGIN PUBLIC KEY-----\n${der.toString('base64')}\n-----END PUBLIC KEY-----\n`;
      const imported = await checker.importPublicKey(algorithm, pem);
      if (!imported.key) return t.fail(`${file}: ${imported.problem}`);
      const nodeKey = createPublicKey(pem);
      for (const vector of group.tests) {
        const [message, signature] = [Buffer.from(vector.msg, 'hex'), Buffer.from(vector.sig, 'hex')];
        const ours = (await checker.verifySignature(imported.key, message, signature)) === true;
        t.is(ours, verifyMessageSignature(algorithm, nodeKey, message, signature), `${file} tcId ${vector.tcId}`);
        count += 1;
      }
    }
    t.true(count > 100, file);
  }
});

test('whatever files it is given, checkBundle answers with findings and never throws', async (t) => {
  const names = [
    'signers.json',
    'bundle.json',
    'records.jsonl',
    'bundle.tar.gz',
    'batches/marketplace/2026-11-23/main-000000000001-000000000003.jsonl.gz',
    'batches/marketplace/2026-11-23/main-000000000001-000000000003.manifest.json',
    'checkpoints/3.checkpoint',
    'inclusion/1.tlog-proof',
  ];
  await fc.assert(
    fc.asyncProperty(
      fc.uniqueArray(fc.tuple(fc.constantFrom(...names), fc.uint8Array({ maxLength: 300 })), {
        selector: ([name]) => name,
        maxLength: names.length,
      }),
      fc.boolean(),
      async (entries, withSigners) => {
        const files = new Map(entries.map(([name, bytes]) => [name, async () => bytes]));
        if (withSigners) files.set('signers.json', async () => new TextEncoder().encode(happySigners));
        const report = await checker.checkBundle(files);
        // Random bytes are never a good bundle: some finding always says what is wrong.
        return !report.ok && report.findings.length > 0;
      },
    ),
    { numRuns: 200 },
  );
  t.pass();
});

test('a checkpoint the auditor holds is compared with the records given: equal roots pass, records behind it are behind-checkpoint, a wrong root is a finding at its size', async (t) => {
  const { privateKey, publicKey } = ed25519FromSeed('vectors-ed25519-v1');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const held = block('checkpoint');
  const records = (lines: readonly string[]) =>
    new Map([
      ['signers.json', async () => new TextEncoder().encode(happySigners)],
      ['records.jsonl', async () => new TextEncoder().encode(lines.map((line) => `${line}\n`).join(''))],
    ]);
  const main = happyRecords
    .toString('utf8')
    .split('\n')
    .filter((line) => line.includes('"chain":"main"'));
  t.is(main.length, 20);
  const whole = await checker.checkBundle(records(main), { heldCheckpoints: [{ name: 'held.txt', text: held }] });
  t.like(whole, { ok: true, records: 20, notes: [] });

  const cut = await checker.checkBundle(records(main.slice(0, 17)), {
    heldCheckpoints: [{ name: 'held.txt', text: held }],
  });
  t.false(cut.ok, 'records behind a checkpoint the auditor holds are not OK');
  t.deepEqual(
    cut.findings.map((finding) => `${finding.chain} ${finding.seq} ${finding.reason}`),
    ['main 20 behind-checkpoint'],
  );
  t.regex(cut.findings[0]!.message, /the records here end at seq 17/);

  // Signed by the chain's key, but over another root: the records say otherwise.
  const body = `chainbook/main\n20\n${Buffer.alloc(32, 9).toString('base64')}\n`;
  const keyHash = createHash('sha256')
    .update(Buffer.concat([Buffer.from('vectors-ed25519-v1\n'), Buffer.from([0x01]), raw]))
    .digest()
    .subarray(0, 4);
  const signature = sign(null, Buffer.from(body), privateKey);
  const forged = `${body}\n\u2014 vectors-ed25519-v1 ${Buffer.concat([keyHash, signature]).toString('base64')}\n`;
  const wrong = await checker.checkBundle(records(main), { heldCheckpoints: [{ name: 'forged.txt', text: forged }] });
  t.deepEqual(
    wrong.findings.map((finding) => `${finding.chain} ${finding.seq} ${finding.reason}`),
    ['main 20 checkpoint-root-mismatch'],
  );
});

test('every transparency-dev consistency vector gets its verdict from the checker, and the worked example of section 14 verifies', async (t) => {
  const folder = join(ROOT, 'test/outsideVectors/transparency-dev-merkle/consistency');
  const files = readdirSync(folder, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.json'))
    .map((name) => join(folder, name));
  t.true(files.length > 90);
  const b64 = (text: string) => Uint8Array.from(Buffer.from(text, 'base64'));
  for (const file of files) {
    const v = JSON.parse(readFileSync(file, 'utf8')) as {
      size1: number;
      size2: number;
      root1: string;
      root2: string;
      proof: string[] | null;
      desc: string;
      wantErr: boolean;
    };
    const ok = await checker.verifyConsistency(v.size1, v.size2, (v.proof ?? []).map(b64), b64(v.root1), b64(v.root2));
    // As chain/merkle.ts: one vector takes equal 12-byte "roots"; docs/FORMAT.md section 14 takes only 32-byte hashes.
    t.is(ok, v.desc === 'sizes are equal (one) and proof is empty' ? false : !v.wantErr, file);
  }
  const proof = block('consistency').trim().split('\n').map(b64);
  const root7 = b64('q8BLHFdU2T8FqdBtz19GImHVVGUuzR/7/+z3wh3yqvQ=');
  const root20 = b64('L8ChX0y2nDPORZE0HWfTq3dwL1hphIAvu96iHyvR/x0=');
  t.true(await checker.verifyConsistency(7, 20, proof, root7, root20));
  t.false(await checker.verifyConsistency(7, 20, proof.slice(1), root7, root20));
  t.false(await checker.verifyConsistency(6, 20, proof, root7, root20));
});

test('a consistency proof given with the records holds when its roots are the ones the records and checkpoints give; another tree, a broken proof, or roots nothing vouches for are said', async (t) => {
  const main = happyRecords
    .toString('utf8')
    .split('\n')
    .filter((line) => line.includes('"chain":"main"'));
  const consistency = (proof: object) => new TextEncoder().encode(JSON.stringify(proof));
  const example = {
    chain: 'main',
    origin: 'chainbook/main',
    oldSize: 7,
    newSize: 20,
    oldRoot: 'q8BLHFdU2T8FqdBtz19GImHVVGUuzR/7/+z3wh3yqvQ=',
    newRoot: 'L8ChX0y2nDPORZE0HWfTq3dwL1hphIAvu96iHyvR/x0=',
    proof: block('consistency').trim().split('\n'),
  };
  // The happy-path vector of transparency-dev: a true proof, of another log's tree of 8.
  const vector = JSON.parse(
    readFileSync(join(ROOT, 'test/outsideVectors/transparency-dev-merkle/consistency/1/happy-path.json'), 'utf8'),
  ) as { size1: number; size2: number; root1: string; root2: string; proof: string[] };
  const other = {
    ...example,
    oldSize: vector.size1,
    newSize: vector.size2,
    oldRoot: vector.root1,
    newRoot: vector.root2,
    proof: vector.proof,
  };
  const check = (lines: readonly string[], proof: object) =>
    checker.checkBundle(
      new Map([
        ['signers.json', async () => new TextEncoder().encode(happySigners)],
        ['records.jsonl', async () => new TextEncoder().encode(lines.map((line) => `${line}\n`).join(''))],
        ['consistency/7-20.json', async () => consistency(proof)],
        ['checkpoints/20.checkpoint', async () => new TextEncoder().encode(block('checkpoint'))],
      ]),
    );
  const brief = (report: checker.BundleReport) => report.findings.map((f) => `${f.chain} ${f.seq} ${f.reason}`);
  t.like(await check(main, example), { ok: true, notes: [] });
  t.deepEqual(brief(await check(main, other)), [
    'main 8 consistency-proof-invalid',
    'main 8 consistency-proof-invalid',
  ]);
  t.deepEqual(brief(await check(main, { ...example, proof: example.proof.slice(1) })), [
    'main 20 consistency-proof-invalid',
  ]);
  // Records 1..5 with a bundled checkpoint of 20: the records were cut (the checkpoint's own finding), the proof's root of 7 still unvouched.
  const fewer = await check(main.slice(0, 5), example);
  t.deepEqual(brief(fewer), ['main 20 bundle-cut']);
  t.is(fewer.notes.filter((note) => note.includes('nothing here vouches for its root of the tree of 7')).length, 1);
});

test('the bounds table of section 15 is the code', (t) => {
  const section = FORMAT.slice(FORMAT.indexOf('## 15. '));
  const table = Object.fromEntries(
    [...section.matchAll(/^\| `([A-Z_]+)` \| (\d+) \|/gm)].map((match) => [match[1]!, Number(match[2])]),
  );
  t.deepEqual(table, {
    PAGE_RECORDS: checker.PAGE_RECORDS,
    MAX_BUNDLE_ARCHIVE_BYTES: checker.MAX_BUNDLE_ARCHIVE_BYTES,
    MAX_ARCHIVE_BATCH_BYTES: MAX_ARCHIVE_BATCH_BYTES,
    MAX_BUNDLE_CHECKPOINTS,
  });
  t.is(checker.MAX_ARCHIVE_BATCH_BYTES, MAX_ARCHIVE_BATCH_BYTES, "the checker's bound is the archive's");
  t.is(checker.MAX_PROOF_HASHES, MAX_PROOF_HASHES);
  t.is(checker.MAX_PROOF_FILE_BYTES, MAX_PROOF_FILE_BYTES);
  t.is(checker.MAX_NOTE_BYTES, MAX_NOTE_BYTES);
  t.is(checker.MAX_NOTE_SIGNATURES, MAX_NOTE_SIGNATURES);
});

test("the report says whose signer registry it trusted and each key's SPKI SHA-256, as openssl computes it", async (t) => {
  const files = new Map([
    ['signers.json', async () => new TextEncoder().encode(happySigners)],
    ['records.jsonl', async () => Uint8Array.from(happyRecords)],
  ]);
  const expected = (
    JSON.parse(happySigners) as { signers: { signer_kid: string; public_key_pem: string }[] }
  ).signers.map((signer) => ({
    kid: signer.signer_kid,
    spkiSha256: createHash('sha256')
      .update(createPublicKey(signer.public_key_pem).export({ type: 'spki', format: 'der' }))
      .digest('hex'),
  }));
  t.true(expected.length > 0);
  const own = await checker.checkBundle(files);
  t.true(own.ok);
  t.is(own.trust?.source, 'bundle');
  t.deepEqual(
    own.trust?.signers.map(({ kid, spkiSha256 }) => ({ kid, spkiSha256 })),
    expected,
  );
  const given = await checker.checkBundle(files, { signersText: happySigners });
  t.is(given.trust?.source, 'given');
});

test("a checkpoint's origin must name a chain of the records, as <CHECKPOINT_ORIGIN>/<chain>", async (t) => {
  const { privateKey, publicKey } = ed25519FromSeed('vectors-ed25519-v1');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const main = happyRecords
    .toString('utf8')
    .split('\n')
    .filter((line) => line.includes('"chain":"main"'));
  const example = block('checkpoint');
  const root = example.split('\n')[2]!;
  const note = (origin: string) => {
    const body = `${origin}\n20\n${root}\n`;
    const keyHash = createHash('sha256')
      .update(Buffer.concat([Buffer.from('vectors-ed25519-v1\n'), Buffer.from([0x01]), raw]))
      .digest()
      .subarray(0, 4);
    const signature = sign(null, Buffer.from(body), privateKey);
    return `${body}\n\u2014 vectors-ed25519-v1 ${Buffer.concat([keyHash, signature]).toString('base64')}\n`;
  };
  const check = (origin: string, options: { checkpointOrigin?: string } = {}) =>
    checker.checkBundle(
      new Map([
        ['signers.json', async () => new TextEncoder().encode(happySigners)],
        ['records.jsonl', async () => new TextEncoder().encode(main.map((line) => `${line}\n`).join(''))],
        ['checkpoints/20.checkpoint', async () => new TextEncoder().encode(note(origin))],
      ]),
      options,
    );
  const brief = (report: checker.BundleReport) => report.findings.map((f) => `${f.chain} ${f.seq} ${f.reason}`);
  t.is(note('chainbook/main'), example, 'the worked example is this checkpoint');
  t.like(await check('chainbook/main'), { ok: true });
  t.like(await check('chainbook/main', { checkpointOrigin: 'chainbook' }), { ok: true });
  t.deepEqual(brief(await check('chainbook/other')), ['main 20 checkpoint-invalid']);
  t.deepEqual(brief(await check('main')), ['main 20 checkpoint-invalid']);
  t.deepEqual(brief(await check('elsewhere/main', { checkpointOrigin: 'chainbook' })), ['main 20 checkpoint-invalid']);
});

test('a stream of 200,000 small parts is joined into one buffer (no spread of the parts), and one past the bound throws', async (t) => {
  async function* parts(count: number) {
    for (let index = 0; index < count; index++) yield Uint8Array.of(index % 251, 7);
  }
  const joined = await checker.bytesOfParts(parts(200_000), MAX_ARCHIVE_BATCH_BYTES);
  t.is(joined.length, 400_000);
  t.is(joined[2 * 199_999], 199_999 % 251);
  t.is(joined[399_999], 7);
  await t.throwsAsync(checker.bytesOfParts(parts(1000), 1999), { message: /more than 1999 bytes/ });
  t.deepEqual([...(await checker.bytesOfParts(parts(1000), 2000)).subarray(0, 4)], [0, 7, 1, 7]);
});

test('a delegation whose notBefore or notAfter is a day not on the calendar is invalid-delegation in both verifiers, not rolled over', async (t) => {
  const { privateKey } = ed25519FromSeed('vectors-ed25519-v1');
  const session = generateKeyPairSync('ed25519');
  const delegation = (notBefore: string, notAfter: string) => {
    const payload = {
      actor: { id: 'kernel', role: 'Service' },
      chain: 'main',
      data: {
        algorithm: 'ed25519',
        kid: 'session-1',
        notAfter,
        notBefore,
        public_key_pem: session.publicKey.export({ type: 'spki', format: 'pem' }),
      },
      id: '01a207d9-3870-7947-8d06-87af203dcb99',
      meta: {},
      seq: 1,
      stream: 'signer-session-1',
      ts: '2026-11-23T10:00:00.000Z',
      type: 'signer.delegated',
      v: 1,
      version: 1,
    };
    const hash = createHash('sha256')
      .update(Buffer.concat([Buffer.from(checker.canonicalize(payload)), Buffer.from(checker.ZERO_HASH, 'hex')]))
      .digest();
    const sig = { alg: 'ed25519', kid: 'vectors-ed25519-v1', value: sign(null, hash, privateKey).toString('base64') };
    const line = checker.canonicalize({ ...payload, prevHash: checker.ZERO_HASH, hash: hash.toString('hex'), sig });
    return new TextEncoder().encode(`${line}\n`);
  };
  const cases: [string, string, string][] = [
    ['2026-11-23T09:00:00.000Z', '2026-11-24T08:00:00.000Z', 'ok'],
    ['2026-11-31T00:00:00.000Z', '2026-12-01T12:00:00.000Z', 'main 1 invalid-delegation'],
    ['2026-11-30T00:00:00.000Z', '2026-11-30T24:00:00.000Z', 'main 1 invalid-delegation'],
  ];
  for (const [notBefore, notAfter, expected] of cases) {
    const bytes = delegation(notBefore, notAfter);
    t.is(await checkerVerdict(bytes, happySigners, {}), expected, `checker: ${notBefore} ${notAfter}`);
    t.is(await nodeVerdict(bytes, happySigners, {}), expected, `audit-verify: ${notBefore} ${notAfter}`);
  }
});
