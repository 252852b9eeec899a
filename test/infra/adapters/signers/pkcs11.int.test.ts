/**
 * The PKCS#11 signer against a real SoftHSM2 token (a throw-away token in a
 * temp folder per test file): keys made on the token, chains signed by each
 * algorithm verified by audit-verify and by OpenSSL alone.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import pkcs11js from 'pkcs11js';
import { readFileSync } from 'node:fs';
import {
  loadRegistry as loadCheckerRegistry,
  openCheckpoint as openCheckerCheckpoint,
} from '../../../../auditor/checker.mjs';
import { NOTE_ECDSA, NOTE_ED25519, openCheckpoint } from '../../../../chain/checkpoint.ts';
import { formatTlogProof } from '../../../../chain/proofFile.ts';
import { proveInclusion } from '../../../../chain/treeLog.ts';
import { CodedError } from '../../../../domain/errors.ts';
import { checkpointing } from '../../../../infra/wiring/checkpoints.ts';
import { noteKeyOf, verifyInclusionFile } from '../../../../verifier/verifyInclusion.ts';
import { sha256 } from '../../../../chain/hash.ts';
import { parseRegistry } from '../../../../chain/registry.ts';
import { CLI } from '../../../helpers/cli.ts';
import { isHighSEcdsa, verifyMessageSignature } from '../../../../chain/signature.ts';
import { breakGlass } from '../../../../infra/adapters/signers/breakglass.ts';
import { spkiPem } from '../../../../infra/adapters/signers/der.ts';
import { generateHsmKeyPair, openPkcs11Signer, Pkcs11Token } from '../../../../infra/adapters/signers/pkcs11.ts';
import { loadRegistryFile } from '../../../../infra/adapters/signers/registryFile.ts';
import { SqlEventStore } from '../../../../infra/adapters/sql/sqlEventStore.ts';
import { openTestDatabase } from '../../../helpers/databases.ts';
import { generateKeys, registryEntry } from '../../../helpers/keys.ts';
import { tempDir, testRuntime } from '../../../helpers/runtime.ts';
import { appendMany, auditVerifyCli, opensslVerifiesRecord, verdict, writeRegistry } from '../../../helpers/signing.ts';
import { softHsmToken, type SoftHsmToken } from '../../../helpers/softhsm.ts';

let token: SoftHsmToken;
test.before(() => {
  token = softHsmToken();
});
test.after.always(() => token?.remove());

function hsmEnv(keyLabel: string, kid: string, signersPath: string): Record<string, string> {
  return {
    SIGNING_BACKEND: 'pkcs11',
    SIGNING_KID: kid,
    PKCS11_MODULE: token.modulePath,
    PKCS11_TOKEN_LABEL: token.tokenLabel,
    PKCS11_PIN: token.pin,
    PKCS11_KEY_LABEL: keyLabel,
    CHAINBOOK_SIGNERS: signersPath,
  };
}

for (const algorithm of ['ed25519', 'rsa-sha256', 'ecdsa-p256-sha256'] as const) {
  test.serial(
    `${algorithm}: a chain signed on the HSM verifies with audit-verify (in process and CLI) and with OpenSSL; its checkpoints (none for RSA) open in every verifier and prove inclusion`,
    async (t) => {
      const folder = tempDir('hsm');
      t.teardown(() => rmSync(folder, { recursive: true, force: true }));
      const label = `chain-${algorithm}`;
      const publicKey = generateHsmKeyPair(token, label, algorithm);
      const signersPath = join(folder, 'signers.json');
      const registry = writeRegistry(signersPath, [registryEntry(`hsm-${algorithm}`, algorithm, publicKey)]);
      const rt = await testRuntime(t, 'postgres', { env: hsmEnv(label, `hsm-${algorithm}`, signersPath) });
      t.is(rt.signer.kid, `hsm-${algorithm}`);
      const results = await appendMany((chain, events) => rt.store.append(chain, events), 40, 16);
      t.true(results.every((result) => result.status === 'fulfilled'));
      const report = await verdict(rt.db, registry);
      t.true(report.ok, JSON.stringify(report.finding));
      t.is(report.records, 40);
      const cli = auditVerifyCli(['-d', rt.test.location, '-s', signersPath]);
      t.is(cli.status, 0, cli.stderr + cli.stdout);
      t.regex(cli.stdout, /audit-verify: OK/);
      const records = await rt.store.readChain('main', { limit: 3 });
      for (const { record } of records) {
        t.is(record.sig.alg, algorithm);
        t.true(opensslVerifiesRecord(record, spkiPem(publicKey), folder), `OpenSSL verifies seq ${record.seq}`);
      }
      const document = Buffer.from('{"proof_id":"hsm"}');
      const documentSignature = await rt.signer.signMessage(document);
      t.true(verifyMessageSignature(algorithm, publicKey, document, Buffer.from(documentSignature.value, 'base64')));

      // Checkpoints signed on the HSM: Ed25519 as note type 0x01, ECDSA as type 0x02; RSA has no note type.
      const tree = checkpointing(rt);
      const note = await tree.makeIfDue('main', Date.now());
      if (algorithm === 'rsa-sha256') {
        t.is(tree.key, undefined);
        t.is(note, undefined, 'no checkpoint by an RSA signer');
        return;
      }
      t.is(tree.key?.type, algorithm === 'ed25519' ? NOTE_ED25519 : NOTE_ECDSA);
      const noteKey = noteKeyOf(`hsm-${algorithm}`, publicKey)!;
      const opened = openCheckpoint(note!, noteKey.key, sha256, noteKey.verify);
      t.true(opened.ok, JSON.stringify(opened));
      const size = opened.ok ? opened.checkpoint.size : 0;
      const seq = 1;
      const [line] = await rt.store.readChain('main', { fromSeq: seq, limit: 1 });
      const file = formatTlogProof({
        record: line!.text,
        index: seq - 1,
        hashes: await proveInclusion(tree.storage, 'main', seq - 1, size),
        checkpoint: note!,
      });
      t.like(verifyInclusionFile(file, { name: `hsm-${algorithm}`, publicKey }, 'chainbook/main'), { ok: true, seq });
      // The independent checker opens it with the registry alone.
      const loaded = await loadCheckerRegistry(readFileSync(signersPath, 'utf8'));
      t.like(await openCheckerCheckpoint(note!, loaded.registry!), { signer: `hsm-${algorithm}` });
      const flipped = note!.replace(/\n(\d+)\n/, (_match, digits: string) => `\n${Number(digits) + 1}\n`);
      t.false(openCheckpoint(flipped, noteKey.key, sha256, noteKey.verify).ok, 'a changed size');
      t.regex((await openCheckerCheckpoint(flipped, loaded.registry!)).problem ?? '', /does not verify/);
    },
  );
}

test.serial('the private key made on the token is sensitive and not extractable', (t) => {
  generateHsmKeyPair(token, 'sealed', 'ed25519');
  const opened = Pkcs11Token.open(token, 1);
  t.teardown(() => opened.close());
  const session = opened.withSessionSync();
  const privateKey = opened.findObject(session, pkcs11js.CKO_PRIVATE_KEY, 'sealed')!;
  const [extractable, sensitive] = opened.module.C_GetAttributeValue(session, privateKey, [
    { type: pkcs11js.CKA_EXTRACTABLE },
    { type: pkcs11js.CKA_SENSITIVE },
  ]);
  t.deepEqual(extractable?.value, Buffer.from([0]));
  t.deepEqual(sensitive?.value, Buffer.from([1]));
  t.throws(() => opened.module.C_GetAttributeValue(session, privateKey, [{ type: pkcs11js.CKA_VALUE }]));
});

test.serial(
  'start-up refuses an HSM key whose public key is not the registered one, or before its deployedAt',
  async (t) => {
    const folder = tempDir('hsm');
    t.teardown(() => rmSync(folder, { recursive: true, force: true }));
    generateHsmKeyPair(token, 'guarded', 'ed25519');
    const signersPath = join(folder, 'signers.json');
    writeRegistry(signersPath, [registryEntry('hsm-guarded', 'ed25519', generateKeys('ed25519').publicKey)]);
    const mismatch = await t.throwsAsync(
      testRuntime(t, 'pglite', { env: hsmEnv('guarded', 'hsm-guarded', signersPath) }),
      { instanceOf: CodedError },
    );
    t.is(mismatch.code, 'SIGNER_KEY_MISMATCH');

    const signer = openPkcs11Signer({ ...token, keyLabel: 'guarded', kid: 'hsm-guarded' });
    const future = new Date(Date.now() + 3_600_000).toISOString();
    writeRegistry(signersPath, [registryEntry('hsm-guarded', 'ed25519', signer.publicKey!, future)]);
    await signer.close();
    const early = await t.throwsAsync(
      testRuntime(t, 'pglite', { env: hsmEnv('guarded', 'hsm-guarded', signersPath) }),
      { instanceOf: CodedError },
    );
    t.is(early.code, 'SIGNER_NOT_YET_DEPLOYED');
    const missing = await t.throwsAsync(
      testRuntime(t, 'pglite', { env: hsmEnv('no-such-key', 'hsm-guarded', signersPath) }),
      { instanceOf: CodedError },
    );
    t.is(missing.code, 'HSM_KEY_NOT_FOUND');
  },
);

test.serial('signs concurrently on pooled sessions with one login, every ECDSA signature in low-S form', async (t) => {
  generateHsmKeyPair(token, 'pooled', 'ecdsa-p256-sha256');
  const signer = openPkcs11Signer({ ...token, keyLabel: 'pooled', kid: 'pooled', sessions: 4 });
  t.teardown(() => signer.close());
  const requests = Array.from({ length: 200 }, (_, index) => {
    const preimage = Buffer.from(`record ${index}`);
    return { hash: sha256(preimage), preimage };
  });
  const signatures = await signer.signBatch(requests);
  const registry = parseRegistry({ signers: [registryEntry('pooled', 'ecdsa-p256-sha256', signer.publicKey!)] });
  const key = registry.signers.get('pooled')!.publicKey;
  t.true(
    signatures.every((signature, index) =>
      verifyMessageSignature(
        'ecdsa-p256-sha256',
        key,
        requests[index]!.preimage,
        Buffer.from(signature.value, 'base64'),
      ),
    ),
  );
  // The token returns either S; about half of 200 would be high-S if the signer did not normalise them.
  t.deepEqual(
    signatures.filter((signature) => isHighSEcdsa(Buffer.from(signature.value, 'base64'))),
    [],
  );
});

test.serial(
  'chainbook signers hsm-keygen makes a key on the token, prints its registry entry, and refuses a label in use',
  (t) => {
    const env = {
      PATH: process.env['PATH'] ?? '',
      SOFTHSM2_CONF: token.conf,
      PKCS11_MODULE: token.modulePath,
      PKCS11_TOKEN_LABEL: token.tokenLabel,
      PKCS11_PIN: token.pin,
    };
    const run = () =>
      spawnSync(
        process.execPath,
        [...CLI, 'signers', 'hsm-keygen', '--label', 'cli-key', '--alg', 'rsa-sha256', '--kid', 'finance-rsa-v2'],
        { env, encoding: 'utf8' },
      );
    const first = run();
    t.is(first.status, 0, first.stderr);
    const entry = JSON.parse(first.stdout) as Record<string, unknown>;
    t.like(entry, { signer_kid: 'finance-rsa-v2', algorithm: 'rsa-sha256', retiredAt: null });
    t.notThrows(() => parseRegistry({ signers: [entry] }));
    t.true(Date.parse(entry['deployedAt'] as string) > Date.now(), 'deployedAt is proposed in the future');
    t.notRegex(first.stdout + first.stderr, /PRIVATE|1234/);
    const second = run();
    t.is(second.status, 2);
    t.regex(second.stderr, /HSM_KEY_EXISTS/);
  },
);

test.serial(
  'break-glass with the emergency key made on the HSM: recorded, signed on the token, reported',
  async (t) => {
    const folder = tempDir('hsm-breakglass');
    t.teardown(() => rmSync(folder, { recursive: true, force: true }));
    const signersPath = join(folder, 'signers.json');
    const primary = generateKeys('ed25519');
    writeRegistry(signersPath, [registryEntry('primary', 'ed25519', primary.publicKey)]);
    const db = await openTestDatabase('pglite');
    t.teardown(() => db.drop());
    const result = await breakGlass({
      registryPath: signersPath,
      justification: 'KMS outage INC-4712, HSM emergency key',
      approvedBy: ['security-bob', 'finance-carol'],
      windowMs: 30 * 60_000,
      nowMs: Date.now(),
      key: { kind: 'hsm', settings: token, label: 'breakglass-4712' },
      async appendWith(signer, events) {
        const store = new SqlEventStore(db.db, { signer });
        try {
          return await store.append('main', events);
        } finally {
          await store.close();
        }
      },
    });
    const report = await verdict(db.db, loadRegistryFile(signersPath), { reportBreakglass: true });
    t.true(report.ok, JSON.stringify(report.finding));
    t.deepEqual(
      report.breakglass?.map((use) => [use.type, use.kid]),
      [['signing.breakglass_used', result.kid]],
    );
    const stored = (await db.db.query<{ record: string }>('SELECT record FROM events')).rows[0]!.record;
    t.like(JSON.parse(stored), { data: { keyLocation: 'hsm', approvedBy: ['security-bob', 'finance-carol'] } });
  },
);
