/**
 * docs/FORMAT.md section 14, "Witnesses and cosignatures", is a test: the
 * verifier keys, the add-checkpoint request, the witness's cosignature and
 * the cosigned checkpoint of its worked example are recomputed byte for
 * byte from the golden vector `happy` and fixed test keys; the witness's
 * decisions (chain/witness.ts) and the cosignature's checks refuse what
 * they must; the configuration lists are parsed strictly.
 */
import test from 'ava';
import { sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  checkpointBody,
  ed25519KeyHash,
  NOTE_ECDSA,
  openCheckpoint,
  parseNote,
  signedNote,
  toBase64,
} from '../../chain/checkpoint.ts';
import {
  COSIGNATURE_ED25519,
  cosign,
  formatVerifierKey,
  NOTE_ED25519_TYPE,
  parseVerifierKey,
  verifiedCosignatures,
} from '../../chain/cosignature.ts';
import { sha256 } from '../../chain/hash.ts';
import { consistencyProof, rootOfHashes, treeRoot, type SubtreeReader } from '../../chain/merkle.ts';
import { leafOf, treeHasher } from '../../chain/treeCommit.ts';
import {
  addCheckpoint,
  decideAddCheckpoint,
  formatAddCheckpoint,
  parseAddCheckpoint,
  verifyRequestCheckpoint,
  type ForkEvidence,
  type WitnessedCheckpoint,
  type WitnessPolicy,
  type WitnessState,
} from '../../chain/witness.ts';
import { lowSEcdsaDer } from '../../chain/signature.ts';
import { rawEd25519, verifyNoteSignature, verifyRawEd25519 } from '../../verifier/verifyInclusion.ts';
import { readLinesText } from '../../infra/adapters/files/fileReader.ts';
import { parseQuorum, parseWitnessEndpoints, parseWitnessLogs } from '../../infra/wiring/witnessConfig.ts';
import { p256FromSeed } from '../helpers/ecdsa.ts';
import { ed25519FromSeed } from '../helpers/keys.ts';

const DOC = readFileSync(new URL('../../docs/FORMAT.md', import.meta.url), 'utf8');
const SECTION = DOC.slice(DOC.indexOf('### Witnesses and cosignatures'));

function block(name: string): string {
  const match = new RegExp(`^\`\`\`\\w+ example=${name}\\n([\\s\\S]*?)\\n\`\`\`$`, 'm').exec(SECTION);
  if (!match) throw new Error(`docs/FORMAT.md section 14 has no block example=${name}`);
  return match[1]!;
}

const KID = 'vectors-ed25519-v1';
const WITNESS = 'witness.example/w1';
/** 2026-11-23T10:00:00Z, the golden vectors' day. */
const COSIGNED_AT_SECONDS = 1795428000;
const log = ed25519FromSeed(KID);
const witnessKeys = ed25519FromSeed(WITNESS);
const logPublic = rawEd25519(log.publicKey)!;
const witnessPublic = rawEd25519(witnessKeys.publicKey)!;
const lines = readLinesText(
  readFileSync(new URL('../vectors/cases/happy/records.jsonl', import.meta.url), 'utf8'),
).filter((line) => (JSON.parse(line) as { chain: string }).chain === 'main');
const leaves = lines.map((line) => leafOf((JSON.parse(line) as { hash: string }).hash));
const read: SubtreeReader = (height, index) =>
  Promise.resolve(rootOfHashes(treeHasher, leaves.slice(index * 2 ** height, (index + 1) * 2 ** height)));

async function logNote(size: number): Promise<string> {
  const body = checkpointBody({ origin: 'chainbook/main', size, root: await treeRoot(treeHasher, read, size) });
  const keyHash = ed25519KeyHash(sha256, KID, logPublic);
  return signedNote(body, [{ name: KID, keyHash, signature: sign(null, Buffer.from(body), log.privateKey) }]);
}

const policy: WitnessPolicy = {
  identity: { name: WITNESS, publicKey: witnessPublic, sign: (message) => sign(null, message, witnessKeys.privateKey) },
  logs: new Map([['chainbook/main', [parseVerifierKey(sha256, formatVerifierKey(sha256, KID, 1, logPublic))!]]]),
  sha256,
  verifyEd25519: verifyRawEd25519,
};
const witnessKey = parseVerifierKey(sha256, formatVerifierKey(sha256, WITNESS, COSIGNATURE_ED25519, witnessPublic))!;

async function held(size: number): Promise<WitnessedCheckpoint> {
  return { size, root: toBase64(await treeRoot(treeHasher, read, size)), note: await logNote(size) };
}

async function request(): Promise<string> {
  return formatAddCheckpoint({
    oldSize: 7,
    proof: await consistencyProof(treeHasher, read, 7, 20),
    note: await logNote(20),
  });
}

test('the worked example of witnesses is recomputed byte for byte', async (t) => {
  t.is(
    block('vkeys'),
    [
      `log:     ${formatVerifierKey(sha256, KID, NOTE_ED25519_TYPE, logPublic)}`,
      `witness: ${formatVerifierKey(sha256, WITNESS, COSIGNATURE_ED25519, witnessPublic)}`,
    ].join('\n'),
  );
  t.is(`${block('add-checkpoint')}\n`, await request());
  const parsed = parseAddCheckpoint(await request())!;
  const checkpoint = verifyRequestCheckpoint(policy, parsed);
  if (!checkpoint.ok) return t.fail(JSON.stringify(checkpoint.answer));
  const answer = decideAddCheckpoint(policy, parsed, checkpoint.checkpoint, await held(7), COSIGNED_AT_SECONDS);
  if (answer.status !== 200) return t.fail(answer.reason);
  t.is(`${block('cosignature')}\n`, answer.body);
  t.is(`${block('cosigned-checkpoint')}\n`, `${await logNote(20)}${answer.body}`);
  t.is(`${block('conflict')}\n`, '7\n');
  const body = parseNote(await logNote(20))!.body;
  t.is(`${block('cosigned-message')}\n`, `cosignature/v1\ntime ${COSIGNED_AT_SECONDS}\n${body}`);
  t.deepEqual(
    verifiedCosignatures(`${block('cosigned-checkpoint')}\n`, [witnessKey], verifyRawEd25519).map(
      (c) => c.timestampSeconds,
    ),
    [COSIGNED_AT_SECONDS],
  );
});

test('a cosignature verifies only on the checkpoint, time and key it was made for', async (t) => {
  const note = await logNote(20);
  const line = cosign(sha256, policy.identity, policy.identity.sign, parseNote(note)!.body, COSIGNED_AT_SECONDS);
  const verified = (text: string): number => verifiedCosignatures(text, [witnessKey], verifyRawEd25519).length;
  t.is(verified(`${note}${line}`), 1);
  t.is(verified(`${note.replace('\n20\n', '\n21\n')}${line}`), 0, 'another size');
  const blob = Buffer.from(line.trim().split(' ')[2]!, 'base64');
  blob[11] = blob[11]! ^ 1; // the timestamp's last byte
  t.is(verified(`${note}— ${WITNESS} ${blob.toString('base64')}\n`), 0, 'another time');
  const otherKey = parseVerifierKey(
    sha256,
    formatVerifierKey(sha256, WITNESS, COSIGNATURE_ED25519, rawEd25519(ed25519FromSeed('someone').publicKey)!),
  )!;
  t.is(verifiedCosignatures(`${note}${line}`, [otherKey], verifyRawEd25519).length, 0, 'another key of that name');
  const asLogKey = { ...witnessKey, type: NOTE_ED25519_TYPE };
  t.is(verifiedCosignatures(`${note}${line}`, [asLogKey], verifyRawEd25519).length, 0, 'not a witness key');
});

test('verifier keys are parsed strictly', (t) => {
  const good = formatVerifierKey(sha256, WITNESS, COSIGNATURE_ED25519, witnessPublic);
  t.deepEqual([...parseVerifierKey(sha256, good)!.publicKey], [...witnessPublic]);
  const [name, hash, key] = good.split('+') as [string, string, string];
  for (const bad of [
    `${name}+${hash}`,
    `${name}+00000000+${key}`,
    `other+${hash}+${key}`,
    `${name}+${hash.toUpperCase()}+${key}`,
    `${name}+${hash}+${key.slice(4)}`,
    ` ${good}`,
    `${name}+${hash}+${toBase64(new Uint8Array([2, ...witnessPublic]))}`,
  ])
    t.is(parseVerifierKey(sha256, bad), undefined, bad);
});

/** A witness's state in memory, for the decisions alone. */
function memoryState(): WitnessState & { held: Map<string, WitnessedCheckpoint>; evidence: ForkEvidence[] } {
  const heldMap = new Map<string, WitnessedCheckpoint>();
  const evidence: ForkEvidence[] = [];
  return {
    held: heldMap,
    evidence,
    update: (origin, step) => {
      const { next, result } = step(heldMap.get(origin));
      if (next) heldMap.set(origin, next);
      return Promise.resolve(result);
    },
    saveEvidence: (e) => {
      evidence.push(e);
      return Promise.resolve();
    },
  };
}

test('the witness answers each case of the protocol, and only a cosigned checkpoint moves its state', async (t) => {
  const state = memoryState();
  const note7 = await logNote(7);
  const note20 = await logNote(20);
  t.like(await addCheckpoint(policy, state, formatAddCheckpoint({ oldSize: 0, proof: [], note: note7 }), 1), {
    status: 200,
  });
  t.like(await addCheckpoint(policy, state, formatAddCheckpoint({ oldSize: 0, proof: [], note: note20 }), 2), {
    status: 409,
    size: 7,
  });
  const wrongProof = (await consistencyProof(treeHasher, read, 7, 20)).reverse();
  const refused = await addCheckpoint(
    policy,
    state,
    formatAddCheckpoint({ oldSize: 7, proof: wrongProof, note: note20 }),
    3,
  );
  t.like(refused, { status: 422 });
  t.is(state.evidence.length, 0, 'a wrong proof with a genuine checkpoint proves nothing: no evidence');
  t.like(state.held.get('chainbook/main'), { size: 7 });
  t.like(await addCheckpoint(policy, state, await request(), 4), { status: 200 });
  t.like(state.held.get('chainbook/main'), { size: 20 });
  const smaller = await addCheckpoint(policy, state, formatAddCheckpoint({ oldSize: 20, proof: [], note: note7 }), 5);
  t.like(smaller, { status: 400 }, 'a smaller tree than the one held');
  t.like(state.held.get('chainbook/main'), { size: 20 });
});

test('the configuration of witnesses and logs is parsed strictly', (t) => {
  const vkey = formatVerifierKey(sha256, WITNESS, COSIGNATURE_ED25519, witnessPublic);
  const logVkey = formatVerifierKey(sha256, KID, NOTE_ED25519_TYPE, logPublic);
  t.deepEqual(
    parseWitnessEndpoints(`http://w1:7380/ ${vkey}`).witnesses.map((w) => w.url),
    ['http://w1:7380'],
  );
  t.deepEqual(parseWitnessEndpoints(undefined), { witnesses: [], problems: [] });
  for (const bad of [vkey, `ftp://w1 ${vkey}`, `http://w1 ${logVkey}`, `http://w1 ${vkey},http://w2 ${vkey}`])
    t.not(parseWitnessEndpoints(bad).problems.length, 0, bad);
  t.deepEqual(parseQuorum('1', 1), { quorum: 1, problems: [] });
  t.not(parseQuorum('2', 1).problems.length, 0);
  t.not(parseQuorum('-1', 1).problems.length, 0);
  t.is(parseWitnessLogs(`chainbook/main=${logVkey}`).logs.get('chainbook/main')?.length, 1);
  t.not(parseWitnessLogs(`chainbook/main=${vkey}`).problems.length, 0, 'a witness key is not a log key');
  t.not(parseWitnessLogs(logVkey).problems.length, 0);
});

test('a witness holding the empty tree cosigns any size next, and only the empty tree has size 0', async (t) => {
  const state = memoryState();
  const note0 = await logNote(0);
  t.like(await addCheckpoint(policy, state, formatAddCheckpoint({ oldSize: 0, proof: [], note: note0 }), 1), {
    status: 200,
  });
  t.like(state.held.get('chainbook/main'), { size: 0 });
  const note5 = await logNote(5);
  t.like(await addCheckpoint(policy, state, formatAddCheckpoint({ oldSize: 0, proof: [], note: note5 }), 2), {
    status: 200,
  });
  t.like(state.held.get('chainbook/main'), { size: 5 });

  // Size 0 with the root of another tree: refused, whatever is held.
  const fresh = memoryState();
  const body = checkpointBody({ origin: 'chainbook/main', size: 0, root: await treeRoot(treeHasher, read, 5) });
  const keyHash = ed25519KeyHash(sha256, KID, logPublic);
  const lying = signedNote(body, [{ name: KID, keyHash, signature: sign(null, Buffer.from(body), log.privateKey) }]);
  const answer = await addCheckpoint(policy, fresh, formatAddCheckpoint({ oldSize: 0, proof: [], note: lying }), 3);
  t.like(answer, { status: 400 });
  t.is(fresh.held.size, 0);
});

test("a note repeating a key's line costs one verification per key", async (t) => {
  const note = await logNote(7);
  const parsed = parseNote(note)!;
  const logLine = note.slice(parsed.body.length + 1);
  const cosigned = `${note}${cosign(sha256, witnessKey, policy.identity.sign, parsed.body, 1)}`;
  const cosignLine = cosigned.slice(note.length);
  // 50 copies of each line, the first of each made invalid: a verifier trying every line would accept it.
  const corrupt = (line: string): string => {
    const at = line.lastIndexOf(' ') + 24; // inside the signature, after the key hash (and the time)
    return `${line.slice(0, at)}${line[at] === 'A' ? 'B' : 'A'}${line.slice(at + 1)}`;
  };
  const badLog = corrupt(logLine);
  const badCosign = corrupt(cosignLine);
  const repeated = `${parsed.body}\n${badLog}${logLine.repeat(49)}${badCosign}${cosignLine.repeat(49)}`;
  let calls = 0;
  const counting: typeof verifyRawEd25519 = (...args) => {
    calls++;
    return verifyRawEd25519(...args);
  };
  const logKey = { name: KID, publicKey: logPublic };
  t.false(openCheckpoint(repeated, logKey, sha256, counting).ok, 'only the first line of the key counts');
  t.is(calls, 1);
  calls = 0;
  t.deepEqual(verifiedCosignatures(repeated, [witnessKey], counting), []);
  t.is(calls, 1);
  t.true(openCheckpoint(cosigned, logKey, sha256, counting).ok, 'a note with one line per key still opens');
  t.is(verifiedCosignatures(cosigned, [witnessKey], counting).length, 1);
});

test("a witness configured with an ECDSA log's verifier key (note type 0x02) cosigns that log's checkpoint; without ECDSA verification it refuses it", async (t) => {
  const ecdsa = p256FromSeed('vectors-ecdsa-p256-v1');
  const spki = ecdsa.publicKey.export({ format: 'der', type: 'spki' });
  const logKey = parseVerifierKey(sha256, formatVerifierKey(sha256, 'vectors-ecdsa-p256-v1', NOTE_ECDSA, spki))!;
  t.is(logKey.type, NOTE_ECDSA);
  const body = checkpointBody({ origin: 'chainbook/main', size: 20, root: await treeRoot(treeHasher, read, 20) });
  const signature = lowSEcdsaDer(sign('sha256', Buffer.from(body), ecdsa.privateKey));
  const note = signedNote(body, [{ name: logKey.name, keyHash: logKey.keyHash, signature }]);
  const text = formatAddCheckpoint({ oldSize: 7, proof: await consistencyProof(treeHasher, read, 7, 20), note });
  const ecdsaPolicy: WitnessPolicy = {
    ...policy,
    logs: new Map([['chainbook/main', [logKey]]]),
    verifyNote: verifyNoteSignature,
  };
  const parsed = parseAddCheckpoint(text)!;
  const checkpoint = verifyRequestCheckpoint(ecdsaPolicy, parsed);
  if (!checkpoint.ok) return t.fail(JSON.stringify(checkpoint.answer));
  const previous = { ...(await held(7)), note: note.replace('\n20\n', '\n7\n') };
  const answer = decideAddCheckpoint(ecdsaPolicy, parsed, checkpoint.checkpoint, previous, COSIGNED_AT_SECONDS);
  t.is(answer.status, 200);
  if (answer.status === 200)
    t.is(verifiedCosignatures(`${note}${answer.body}`, [witnessKey], verifyRawEd25519).length, 1);
  // The same request to a witness that verifies Ed25519 only: no signature by a key of this log verifies.
  const edOnly = verifyRequestCheckpoint(
    policy.logs === ecdsaPolicy.logs ? policy : { ...policy, logs: ecdsaPolicy.logs },
    parsed,
  );
  t.like(edOnly, { ok: false, answer: { status: 403 } });
  // And a changed root under the same signature is refused.
  const forged = parseAddCheckpoint(text.replace(body.split('\n')[2]!, toBase64(new Uint8Array(32))))!;
  t.like(verifyRequestCheckpoint(ecdsaPolicy, forged), { ok: false });
});
