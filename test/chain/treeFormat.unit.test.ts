/**
 * docs/FORMAT.md section 14's worked example is a test: every block is
 * recomputed from the golden vector `happy` (chain `main`) and the fixed test
 * key, byte for byte, and the proof file it shows verifies offline. The
 * bounds table is checked against the code.
 */
import test from 'ava';
import { createHash, sign, verify } from 'node:crypto';
import {
  loadRegistry as loadCheckerRegistry,
  openCheckpoint as openCheckerCheckpoint,
} from '../../auditor/checker.mjs';
import { formatVerifierKey, parseVerifierKey } from '../../chain/cosignature.ts';
import { ecdsaTwins, p256FromSeed, signDigestDeterministic } from '../helpers/ecdsa.ts';
import { readFileSync } from 'node:fs';
import {
  checkpointBody,
  ed25519KeyHash,
  MAX_NOTE_BYTES,
  MAX_NOTE_SIGNATURES,
  NOTE_ECDSA,
  NOTE_ED25519,
  noteKeyId,
  openCheckpoint,
  signedNote,
  toBase64,
} from '../../chain/checkpoint.ts';
import { sha256 } from '../../chain/hash.ts';
import {
  consistencyProof,
  inclusionProof,
  rootOfHashes,
  treeRoot,
  verifyConsistency,
  type SubtreeReader,
} from '../../chain/merkle.ts';
import { formatTlogProof, MAX_PROOF_FILE_BYTES, MAX_PROOF_HASHES } from '../../chain/proofFile.ts';
import { appendLeaves, edgeRoot, emptyEdge, MAX_TILE_LEVEL, tilePath, TILE_WIDTH } from '../../chain/tiles.ts';
import { leafOf, treeHasher } from '../../chain/treeCommit.ts';
import { noteKeyOf, rawEd25519, verifyInclusionFile, verifyNoteSignature } from '../../verifier/verifyInclusion.ts';
import { readLinesText } from '../../infra/adapters/files/fileReader.ts';
import { ed25519FromSeed } from '../helpers/keys.ts';
import { MAX_ADD_CHECKPOINT_BYTES, MAX_WITNESS_PROOF_HASHES } from '../../chain/witness.ts';
import { MAX_CHECKPOINT_WITNESSES } from '../../infra/wiring/witnessConfig.ts';

const DOC = readFileSync(new URL('../../docs/FORMAT.md', import.meta.url), 'utf8');
// Section 14 ends where section 15 (the independent checker) begins.
const SECTION = DOC.slice(DOC.indexOf('## 14. Merkle tree'), DOC.indexOf('## 15. '));

function block(name: string): string {
  const match = new RegExp(`^\`\`\`\\w+ example=${name}\\n([\\s\\S]*?)\\n\`\`\`$`, 'm').exec(SECTION);
  if (!match) throw new Error(`docs/FORMAT.md section 14 has no block example=${name}`);
  return match[1]!;
}

const KID = 'vectors-ed25519-v1';
const { privateKey, publicKey } = ed25519FromSeed(KID);
const lines = readLinesText(
  readFileSync(new URL('../vectors/cases/happy/records.jsonl', import.meta.url), 'utf8'),
).filter((line) => (JSON.parse(line) as { chain: string }).chain === 'main');
const hashes = lines.map((line) => (JSON.parse(line) as { hash: string }).hash);
const leaves = hashes.map(leafOf);
const read: SubtreeReader = (height, index) =>
  Promise.resolve(rootOfHashes(treeHasher, leaves.slice(index * 2 ** height, (index + 1) * 2 ** height)));
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

async function checkpointNote(): Promise<string> {
  const body = checkpointBody({ origin: 'chainbook/main', size: 20, root: await treeRoot(treeHasher, read, 20) });
  const keyHash = ed25519KeyHash(sha256, KID, rawEd25519(publicKey)!);
  return signedNote(body, [{ name: KID, keyHash, signature: sign(null, Buffer.from(body), privateKey) }]);
}

test('the example tree lines recompute from the 20 records of main and the fixed key', async (t) => {
  t.is(lines.length, 20);
  const stated = Object.fromEntries(
    block('tree')
      .split('\n')
      .map((line) => line.split(/:\s+/) as [string, string]),
  );
  t.is(stated['record 2 hash'], hashes[1]);
  t.is(stated['leaf 1 hash'], hex(treeHasher.leaf(Buffer.from(hashes[1]!, 'hex'))));
  t.is(stated['tree size'], String(leaves.length));
  const root = await treeRoot(treeHasher, read, 20);
  t.is(stated['root'], hex(root));
  // The tiles the writer would store hold the same tree: one partial tile of the 20 leaf hashes.
  const { edge, writes } = appendLeaves(treeHasher, emptyEdge(), leaves);
  t.is(hex(edgeRoot(treeHasher, edge)), hex(root));
  t.deepEqual(
    writes.map((w) => tilePath(w.level, w.index, w.hashes.length)),
    ['tile/0/000.p/20'],
  );
  t.is(
    stated['tile'],
    `tile/0/000.p/20, ${Buffer.concat(writes[0]!.hashes).length} bytes, the 20 leaf hashes in seq order`,
  );
  t.is(stated['key hash'], hex(ed25519KeyHash(sha256, KID, rawEd25519(publicKey)!)));
  t.is(stated['root at size 7'], toBase64(await treeRoot(treeHasher, read, 7)));
});

test('the example checkpoint is the note signed over that root, and opens with the key', async (t) => {
  const note = await checkpointNote();
  t.is(`${block('checkpoint')}\n`, note);
  const opened = openCheckpoint(note, { name: KID, publicKey: rawEd25519(publicKey)! }, sha256, (_k, m, s) =>
    verify(null, m, publicKey, s),
  );
  t.like(opened, { ok: true, checkpoint: { origin: 'chainbook/main', size: 20 } });
});

test('the example ECDSA checkpoint (note type 0x02) is that root signed by the P-256 vector key with the RFC 6979 nonce, low-S, and opens with the key in every verifier; its vkey parses', async (t) => {
  const KID_ECDSA = 'vectors-ecdsa-p256-v1';
  const ecdsa = p256FromSeed(KID_ECDSA);
  const spki = ecdsa.publicKey.export({ format: 'der', type: 'spki' });
  const body = checkpointBody({ origin: 'chainbook/main', size: 20, root: await treeRoot(treeHasher, read, 20) });
  const digest = createHash('sha256').update(body).digest();
  const { low, high } = ecdsaTwins(signDigestDeterministic(ecdsa.d, digest));
  const key = { name: KID_ECDSA, type: NOTE_ECDSA, publicKey: spki };
  t.is(hex(noteKeyId(sha256, key)), createHash('sha256').update(spki).digest('hex').slice(0, 8), 'SHA-256(SPKI)[:4]');
  const note = signedNote(body, [{ name: KID_ECDSA, keyHash: noteKeyId(sha256, key), signature: low }]);
  t.is(`${block('checkpoint-ecdsa')}\n`, note);
  const vkey = formatVerifierKey(sha256, KID_ECDSA, NOTE_ECDSA, spki);
  t.is(block('vkey-ecdsa'), vkey);
  t.like(parseVerifierKey(sha256, vkey), { name: KID_ECDSA, type: NOTE_ECDSA });
  t.is(parseVerifierKey(sha256, vkey.replace('+98873ae3+', '+98873ae4+')), undefined, 'a wrong key hash');

  // Node: with the registry's key, and with the raw verifier key as a witness holds it.
  const noteKey = noteKeyOf(KID_ECDSA, ecdsa.publicKey)!;
  t.deepEqual(noteKey.key, { name: KID_ECDSA, type: NOTE_ECDSA, publicKey: spki });
  t.like(openCheckpoint(note, noteKey.key, sha256, noteKey.verify), { ok: true, checkpoint: { size: 20 } });
  t.like(openCheckpoint(note, key, sha256, verifyNoteSignature), { ok: true });
  // The high-S twin of the same signature is refused (section 3); so is a note whose size changed.
  const twin = signedNote(body, [{ name: KID_ECDSA, keyHash: noteKeyId(sha256, key), signature: high }]);
  t.false(openCheckpoint(twin, noteKey.key, sha256, noteKey.verify).ok);
  t.false(openCheckpoint(note.replace('\n20\n', '\n21\n'), noteKey.key, sha256, noteKey.verify).ok);
  // An Ed25519 verifier given the ECDSA line, or the ECDSA key taken for an Ed25519 one, opens nothing.
  t.false(openCheckpoint(note, { ...key, type: NOTE_ED25519 }, sha256, verifyNoteSignature).ok);

  // The independent checker, with the registry of the golden vectors (which holds this key).
  const signers = readFileSync(new URL('../vectors/cases/ecdsa-low-s/signers.json', import.meta.url), 'utf8');
  const { registry } = await loadCheckerRegistry(signers);
  t.like(await openCheckerCheckpoint(note, registry!), { signer: KID_ECDSA, checkpoint: { size: 20 } });
  t.regex((await openCheckerCheckpoint(twin, registry!)).problem ?? '', /does not verify/);
});

test('the example proof file is record 2 proven against that checkpoint, and verifies offline', async (t) => {
  const file = formatTlogProof({
    record: lines[1]!,
    index: 1,
    hashes: await inclusionProof(treeHasher, read, 1, 20),
    checkpoint: await checkpointNote(),
  });
  t.is(`${block('proof-file')}\n`, file);
  // The hashes the text names: leaf 0, MTH(D[2:4]), MTH(D[4:8]), MTH(D[8:16]), MTH(D[16:20]).
  const named = [
    leaves[0]!,
    ...[2, 4, 8, 16].map((start, i) => rootOfHashes(treeHasher, leaves.slice(start, [4, 8, 16, 20][i]))),
  ];
  t.deepEqual((await inclusionProof(treeHasher, read, 1, 20)).map(hex), named.map(hex));
  t.like(verifyInclusionFile(file, { name: KID, publicKey }, 'chainbook/main'), { ok: true, seq: 2, treeSize: 20 });
});

test('the example consistency proof is PROOF(7, D[0:20]) and verifies between the two roots', async (t) => {
  const proof = await consistencyProof(treeHasher, read, 7, 20);
  t.is(block('consistency'), proof.map(toBase64).join('\n'));
  t.true(
    verifyConsistency(
      treeHasher,
      7,
      20,
      proof,
      await treeRoot(treeHasher, read, 7),
      await treeRoot(treeHasher, read, 20),
    ),
  );
});

test('the bounds table of section 14 is the code', (t) => {
  const table = Object.fromEntries(
    [...SECTION.matchAll(/^\| `([A-Z_]+)` \| (\d+) \|/gm)].map((match) => [match[1]!, Number(match[2])]),
  );
  t.deepEqual(table, {
    TILE_WIDTH,
    MAX_TILE_LEVEL,
    MAX_PROOF_HASHES,
    MAX_PROOF_FILE_BYTES,
    MAX_NOTE_BYTES,
    MAX_NOTE_SIGNATURES,
    MAX_WITNESS_PROOF_HASHES,
    MAX_ADD_CHECKPOINT_BYTES,
    MAX_CHECKPOINT_WITNESSES,
  });
});
