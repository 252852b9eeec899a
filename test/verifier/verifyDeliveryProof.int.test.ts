/**
 * verify-proof on signed delivery proofs (docs/FORMAT.md section 13): the
 * document's example and a proof recorded in a chain verify under the
 * registry and a bare public key, against the database and a dump; the
 * OpenSSL-alone recipe, run as written with the `openssl` binary, passes and
 * fails after one changed byte; and what is wrong with a proof is a named
 * finding, never an exception.
 */
import { createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { jcs } from '../../chain/canonical.ts';
import { deliveryProofMembersOf, type SignedDeliveryProof } from '../../chain/deliveryProof.ts';
import { sha256Hex } from '../../chain/hash.ts';
import { parseRegistry, parseRegistryText } from '../../chain/registry.ts';
import { lowSEcdsaDer } from '../../chain/signature.ts';
import { fileReader } from '../../infra/adapters/files/fileReader.ts';
import { databaseReader } from '../../infra/adapters/sql/databaseReader.ts';
import { inProcessChecker } from '../../verifier/inProcessChecker.ts';
import { verifyProof, type ProofKey } from '../../verifier/verifyProof.ts';
import {
  appendEvent,
  appendPrepared,
  appendProofIssued,
  preparedData,
  runShell,
  signedProof,
  writeDump,
  writeSigners,
} from '../helpers/deliveryProofs.ts';
import { registryEntry } from '../helpers/keys.ts';
import { tempDir, testRuntime, type TestRuntime } from '../helpers/runtime.ts';

const FORMAT = readFileSync(new URL('../../docs/FORMAT.md', import.meta.url), 'utf8');
const VECTOR_SIGNERS = new URL('../vectors/cases/happy/signers.json', import.meta.url);

/** The fenced block of docs/FORMAT.md tagged `example=<name>`, without its final line end. */
function block(name: string): string {
  const match = new RegExp(`^\`\`\`\\w+ example=${name}\\n([\\s\\S]*?)\\n\`\`\`$`, 'm').exec(FORMAT);
  if (!match) throw new Error(`docs/FORMAT.md has no block example=${name}`);
  return match[1]!;
}

/** The rsa-sha256 and ecdsa-p256-sha256 form of the last step, as docs/FORMAT.md section 13 writes it. */
function digestStep(): string {
  const section = FORMAT.slice(FORMAT.indexOf('## 13. Signed delivery proofs'));
  const step = /For `rsa-sha256` and `ecdsa-p256-sha256`:\n`(openssl dgst [^`]+)`/.exec(section)?.[1];
  if (!step) throw new Error('docs/FORMAT.md section 13 has no openssl dgst step');
  return step;
}

/**
 * The recipe of docs/FORMAT.md section 13 over `proofText`, in a folder with
 * `signers`: as written (Ed25519), or with its last step in the digest form.
 */
function openssl(proofText: string, signers: string | URL, form: 'ed25519' | 'digest' = 'ed25519') {
  const directory = tempDir('delivery-openssl');
  writeFileSync(join(directory, 'proof.json'), proofText);
  copyFileSync(signers, join(directory, 'signers.json'));
  const recipe = block('delivery-openssl');
  const script = form === 'ed25519' ? recipe : [...recipe.split('\n').slice(0, -1), digestStep()].join('\n');
  return runShell(script, directory);
}

/** One byte of canonical_payload changed, the document's own members left as they were. */
function oneByteChanged(proofText: string): string {
  const proof = JSON.parse(proofText) as SignedDeliveryProof;
  const at = proof.canonical_payload.indexOf('"ciphertext_bytes":') + '"ciphertext_bytes":'.length;
  const digit = proof.canonical_payload[at] === '1' ? '2' : '1';
  const payload = `${proof.canonical_payload.slice(0, at)}${digit}${proof.canonical_payload.slice(at + 1)}`;
  return JSON.stringify({ ...proof, canonical_payload: payload });
}

test('the example of docs/FORMAT.md section 13 verifies under its key and registry, and with OpenSSL alone; one changed byte fails', async (t) => {
  const text = block('delivery-proof');
  const publicKey = createPublicKey(block('public-key'));
  t.like(await verifyProof(text, { publicKey }), { ok: true, kind: 'delivery', chainChecked: false });
  const registry = parseRegistryText(readFileSync(VECTOR_SIGNERS, 'utf8'));
  t.like(await verifyProof(text, { registry }), { ok: true, proofId: '01a2071c-4b1f-7a3c-b0d2-6e4f1a9c8b77' });
  const passed = openssl(text, VECTOR_SIGNERS);
  t.true(passed.ok, passed.output);
  t.regex(passed.output, /Signature Verified Successfully/);
  const tampered = oneByteChanged(text);
  t.false(openssl(tampered, VECTOR_SIGNERS).ok, 'openssl accepted a changed payload');
  t.is((await verifyProof(tampered, { publicKey })).finding?.reason, 'payload-mismatch');
});

async function recordedProof(t: Parameters<typeof testRuntime>[0]): Promise<{
  rt: TestRuntime;
  proof: SignedDeliveryProof;
  text: string;
  issuedSeq: number;
}> {
  const rt = await testRuntime(t, 'pglite');
  await appendEvent(rt.store, 'order-a', 'order.created', { orderId: 'order-a' });
  const prepared = await appendPrepared(rt.store, preparedData('order-a', 'dlv-a1'));
  const { proof, issued } = await signedProof(prepared, rt.signer);
  const recorded = await appendProofIssued(rt.store, 'order-a', issued);
  return { rt, proof, text: JSON.stringify(proof, null, 2), issuedSeq: recorded.seq };
}

test('a delivery proof recorded in a chain verifies under the registry and a public key, against the database and a dump, and with OpenSSL alone', async (t) => {
  const { rt, proof, text } = await recordedProof(t);
  const registry = { registry: rt.registry };
  const checked = () => ({ reader: databaseReader(rt.db), checker: inProcessChecker(rt.registry) });
  t.like(await verifyProof(text, registry, checked()), {
    ok: true,
    kind: 'delivery',
    proofId: proof.proof_id,
    chainChecked: true,
    recordSignaturesChecked: true,
  });
  const publicKey = { publicKey: rt.registry.signers.get(proof.signer_kid)!.publicKey };
  t.like(await verifyProof(text, publicKey, { reader: databaseReader(rt.db) }), {
    ok: true,
    chainChecked: true,
    recordSignaturesChecked: false,
  });
  t.like(await verifyProof(text, registry), { ok: true, chainChecked: false });
  const directory = tempDir('delivery-proof');
  const dump = join(directory, 'chain.jsonl');
  await writeDump(databaseReader(rt.db), dump);
  t.like(await verifyProof(text, registry, { reader: fileReader(dump), checker: inProcessChecker(rt.registry) }), {
    ok: true,
    recordSignaturesChecked: true,
  });
  t.like(await verifyProof(text, publicKey, { reader: fileReader(dump) }), { ok: true });

  const signers = join(directory, 'signers.json');
  writeSigners(rt.registry, signers);
  const passed = openssl(text, signers);
  t.true(passed.ok, passed.output);
  t.false(openssl(oneByteChanged(text), signers).ok, 'openssl accepted a changed payload');
});

test('verify-proof names what is wrong with a delivery proof: the document, its signer, its signature', async (t) => {
  const { rt, proof, text } = await recordedProof(t);
  const registry: ProofKey = { registry: rt.registry };
  const reason = async (document: string, key: ProofKey = registry) =>
    (await verifyProof(document, key, { reader: databaseReader(rt.db) })).finding?.reason;
  t.is(await reason(JSON.stringify({ ...proof, ciphertext_bytes: 1 })), 'payload-mismatch');
  t.is(await reason(JSON.stringify({ ...proof, buyer_id: 'buyer-0043' })), 'payload-mismatch');
  const flipped = Buffer.from(proof.signature, 'base64');
  flipped[7] = flipped[7]! ^ 0x01;
  t.is(await reason(JSON.stringify({ ...proof, signature: flipped.toString('base64') })), 'bad-signature');
  t.is(await reason(text, { publicKey: generateKeyPairSync('ed25519').publicKey }), 'bad-signature');
  const signer = rt.registry.signers.get(proof.signer_kid)!;
  const retired = parseRegistry({
    signers: [
      registryEntry(
        proof.signer_kid,
        signer.algorithm,
        signer.publicKey,
        '2020-01-01T00:00:00Z',
        '2021-01-01T00:00:00Z',
      ),
    ],
  });
  t.is(await reason(text, { registry: retired }), 'outside-validity-window');
  t.is(await reason(text, { registry: parseRegistry({ signers: [] }) }), 'unknown-signer');
  t.is(
    await reason(text, { publicKey: generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey }),
    'algorithm-mismatch',
  );

  const { delivery_seq: _seq, ...withoutSeq } = proof;
  const malformed = [
    'not json',
    '[]',
    JSON.stringify(withoutSeq),
    JSON.stringify({ ...proof, delivery_seq: 'two' }),
    JSON.stringify({ ...proof, key_provenance: 'buyer-key' }),
    JSON.stringify({ ...proof, delivery_hash: 'F'.repeat(64) }),
    JSON.stringify({ ...proof, signature: 7 }),
    text.replace('"buyer-0042"', '"\\ud800"'),
  ];
  for (const document of malformed) t.is(await reason(document), 'malformed-proof', document.slice(0, 60));
});

/** A proof over the chain's records, re-signed by a key the test holds: its signature holds, the chain decides. */
function forged(proof: SignedDeliveryProof, changes: Partial<SignedDeliveryProof>) {
  const forger = generateKeyPairSync('ed25519');
  const members = deliveryProofMembersOf({ ...proof, ...changes });
  const canonical = jcs(members);
  const document = {
    ...members,
    canonical_payload: canonical,
    signature: sign(null, Buffer.from(canonical), forger.privateKey).toString('base64'),
  };
  return { text: JSON.stringify(document), key: { publicKey: forger.publicKey } };
}

test('verify-proof against the chain: the record at delivery_seq must be there, verify, have delivery_hash and rebuild the proof', async (t) => {
  const { rt, proof, issuedSeq } = await recordedProof(t);
  const broken = await appendEvent(rt.store, 'delivery-order-c', 'delivery.prepared', { orderId: 'order-c' });
  const finding = async (changes: Partial<SignedDeliveryProof>) => {
    const { text, key } = forged(proof, changes);
    return (await verifyProof(text, key, { reader: databaseReader(rt.db) })).finding;
  };
  t.is((await finding({}))?.reason, undefined, 'the same members re-signed: only the signature is new');
  t.like(await finding({ delivery_hash: 'f'.repeat(64) }), { reason: 'delivery-hash-mismatch' });
  t.like(await finding({ delivery_seq: 1000 }), { reason: 'delivery-record-missing' });
  t.like(await finding({ chain: 'elsewhere' }), { reason: 'delivery-record-missing' });
  const recordAt = async (seq: number) => (await rt.store.readChain('main', { fromSeq: seq, limit: 1 }))[0]!.record;
  const notPrepared = await finding({ delivery_seq: issuedSeq, delivery_hash: (await recordAt(issuedSeq)).hash });
  t.like(notPrepared, { reason: 'delivery-record-mismatch' });
  t.regex(notPrepared!.message, /is a delivery\.proof_issued, not a delivery\.prepared/);
  const otherForm = await finding({ delivery_seq: broken.seq, delivery_hash: broken.hash });
  t.like(otherForm, { reason: 'delivery-record-mismatch' });
  t.regex(otherForm!.message, /data of another form/);
  const otherCiphertext = await finding({ ciphertext_sha256: sha256Hex('another ciphertext'), ciphertext_bytes: 9 });
  t.like(otherCiphertext, { reason: 'delivery-record-mismatch' });
  t.regex(otherCiphertext!.message, /ciphertext_sha256, ciphertext_bytes/);

  // A forger's key in a registry beside the chain's signer: the record at delivery_seq is verified fully.
  const forger = generateKeyPairSync('ed25519');
  const signer = rt.registry.signers.get(proof.signer_kid)!;
  const both = parseRegistry({
    signers: [
      registryEntry(proof.signer_kid, signer.algorithm, signer.publicKey),
      registryEntry('forger', 'ed25519', forger.publicKey),
    ],
  });
  const members = deliveryProofMembersOf({ ...proof, signer_kid: 'forger', alg: 'ed25519', buyer_id: 'buyer-0043' });
  const canonical = jcs(members);
  const reSigned = JSON.stringify({
    ...members,
    canonical_payload: canonical,
    signature: sign(null, Buffer.from(canonical), forger.privateKey).toString('base64'),
  });
  const full = await verifyProof(
    reSigned,
    { registry: both },
    { reader: databaseReader(rt.db), checker: inProcessChecker(both) },
  );
  t.like(full, {
    ok: false,
    chainChecked: true,
    recordSignaturesChecked: true,
    finding: { reason: 'delivery-record-mismatch' },
  });
  t.regex(full.finding!.message, /buyer_id/);

  // The prepared record changed in the database: it no longer verifies, with the registry or with hashes alone.
  await rt.test.superuser(
    `UPDATE events SET record = replace(record, '"ciphertextBytes":4200', '"ciphertextBytes":4201') WHERE seq = $1`,
    [proof.delivery_seq],
  );
  const text = JSON.stringify(proof);
  const checked = { reader: databaseReader(rt.db), checker: inProcessChecker(rt.registry) };
  t.like(await verifyProof(text, { registry: rt.registry }, checked), { finding: { reason: 'chain-integrity' } });
  t.like(await verifyProof(text, { publicKey: signer.publicKey }, { reader: databaseReader(rt.db) }), {
    finding: { reason: 'chain-integrity' },
  });
});

test('a delivery proof signed by an ECDSA P-256 signer verifies with verify-proof and with openssl dgst; one changed byte fails', async (t) => {
  const { rt, proof } = await recordedProof(t);
  const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const signer = rt.registry.signers.get(proof.signer_kid)!;
  const registry = parseRegistry({
    signers: [
      registryEntry(proof.signer_kid, signer.algorithm, signer.publicKey),
      registryEntry('delivery-p256', 'ecdsa-p256-sha256', ec.publicKey),
    ],
  });
  const members = deliveryProofMembersOf({ ...proof, signer_kid: 'delivery-p256', alg: 'ecdsa-p256-sha256' });
  const canonical = jcs(members);
  // ecdsa-p256-sha256 signs the SHA-256 of the payload, in low-S form (docs/FORMAT.md section 3).
  const signature = lowSEcdsaDer(sign('sha256', Buffer.from(canonical), ec.privateKey)).toString('base64');
  const text = JSON.stringify({ ...members, canonical_payload: canonical, signature }, null, 2);
  const source = { reader: databaseReader(rt.db), checker: inProcessChecker(registry) };
  t.like(await verifyProof(text, { registry }, source), { ok: true, recordSignaturesChecked: true });
  const directory = tempDir('delivery-p256');
  const signers = join(directory, 'signers.json');
  writeSigners(registry, signers);
  const passed = openssl(text, signers, 'digest');
  t.true(passed.ok, passed.output);
  t.regex(passed.output, /Verified OK/);
  t.false(openssl(oneByteChanged(text), signers, 'digest').ok, 'openssl accepted a changed payload');
});
