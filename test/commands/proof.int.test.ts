import { execFileSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { jcs } from '../../chain/canonical.ts';
import { parseRegistry } from '../../chain/registry.ts';
import type { SignedProof } from '../../chain/proof.ts';
import { issueLedgerProof } from '../../commands/ledger/issueLedgerProof.ts';
import type { CodedError } from '../../domain/errors.ts';
import { contextFor } from '../../commands/context.ts';
import { runDemoWorkload } from '../../commands/demo/demoWorkload.ts';
import { FINANCE_LEAD } from '../../commands/demo/marketplaceFlow.ts';
import { databaseReader } from '../../infra/adapters/sql/databaseReader.ts';
import { inProcessChecker } from '../../verifier/inProcessChecker.ts';
import { verifyProof } from '../../verifier/verifyProof.ts';
import { testApp, type TestApp } from '../helpers/app.ts';
import { publicPem, registryEntry } from '../helpers/keys.ts';
import { tempDir } from '../helpers/runtime.ts';

const quiet = (): void => undefined;

async function issued(app: TestApp, input: Record<string, unknown> = {}): Promise<SignedProof> {
  const result = await issueLedgerProof(app.deps, input, contextFor(FINANCE_LEAD));
  return result.proof!;
}

function openssl(args: string[]): boolean {
  try {
    execFileSync('openssl', args, { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

test('a proof verifies with OpenSSL alone, and fails after one byte of the payload is changed', async (t) => {
  const app = await testApp(t, 'postgres');
  await runDemoWorkload(app.deps, 4, quiet);
  const proof = await issued(app);
  const directory = tempDir('proof');
  const signer = app.runtime.registry.signers.get(proof.signer_kid)!;
  writeFileSync(join(directory, 'pub.pem'), signer.publicKeyPem);
  writeFileSync(join(directory, 'payload.json'), proof.canonical_payload);
  writeFileSync(join(directory, 'sig.bin'), Buffer.from(proof.signature, 'base64'));
  const verifyArgs = [
    'pkeyutl',
    '-verify',
    '-pubin',
    '-inkey',
    join(directory, 'pub.pem'),
    '-rawin',
    '-in',
    join(directory, 'payload.json'),
    '-sigfile',
    join(directory, 'sig.bin'),
  ];
  t.true(openssl(verifyArgs), 'openssl rejected a proof the project made');
  const tampered = Buffer.from(proof.canonical_payload, 'utf8');
  const at = proof.canonical_payload.indexOf('"to_seq":') + '"to_seq":'.length;
  tampered[at] = tampered[at] === 0x31 ? 0x32 : 0x31;
  writeFileSync(join(directory, 'payload.json'), tampered);
  t.false(openssl(verifyArgs), 'openssl accepted a changed payload');
});

test('verify-proof checks the signature, the registry window and, against the chain, range_hash and head_hash', async (t) => {
  const app = await testApp(t, 'postgres');
  await runDemoWorkload(app.deps, 3, quiet);
  const proof = await issued(app, { fromSeq: 2, toSeq: 30 });
  t.is(proof.from_seq, 2);
  t.true(proof.ledger_row_ids.length > 0);
  const registry = { registry: app.runtime.registry };
  const source = () => ({ reader: databaseReader(app.test.db), checker: inProcessChecker(app.runtime.registry) });
  t.like(await verifyProof(JSON.stringify(proof), registry, source()), {
    ok: true,
    chainChecked: true,
    recordSignaturesChecked: true,
  });
  const signer = app.runtime.registry.signers.get(proof.signer_kid)!;
  t.like(
    await verifyProof(JSON.stringify(proof), { publicKey: signer.publicKey }, { reader: databaseReader(app.test.db) }),
    { ok: true, recordSignaturesChecked: false },
  );

  const edited = { ...proof, ledger_row_ids: proof.ledger_row_ids.slice(1) };
  t.is((await verifyProof(JSON.stringify(edited), registry)).finding?.reason, 'payload-mismatch');
  const other = generateKeyPairSync('ed25519');
  t.is((await verifyProof(JSON.stringify(proof), { publicKey: other.publicKey })).finding?.reason, 'bad-signature');
  const retired = parseRegistry({
    signers: [
      registryEntry(proof.signer_kid, 'ed25519', signer.publicKey, '2020-01-01T00:00:00Z', '2021-01-01T00:00:00Z'),
    ],
  });
  t.is((await verifyProof(JSON.stringify(proof), { registry: retired })).finding?.reason, 'outside-validity-window');

  // A proof re-signed over a range_hash the chain does not have: the signature holds, the chain says no.
  const forged = { ...proof, range_hash: 'f'.repeat(64) };
  const { canonical_payload: _c, signature: _s, ...payload } = forged;
  const canonical = jcs(payload);
  const forger = generateKeyPairSync('ed25519');
  const forgedProof = {
    ...forged,
    canonical_payload: canonical,
    signature: sign(null, Buffer.from(canonical), forger.privateKey).toString('base64'),
  };
  const forgedReport = await verifyProof(
    JSON.stringify(forgedProof),
    { publicKey: createPublicKey(publicPem(forger.publicKey)) },
    { reader: databaseReader(app.test.db) },
  );
  t.is(forgedReport.finding?.reason, 'range-hash-mismatch');

  await app.test.superuser(
    `UPDATE events SET record = replace(record, '"reason":"finalization', '"reason":"FINALIZATION') WHERE chain = 'main' AND type = 'ledger.posted'`,
  );
  t.is((await verifyProof(JSON.stringify(proof), registry, source())).finding?.reason, 'chain-integrity');
});

test('a proof over a time range covers exactly the records committed in it; an empty or inverted range is refused', async (t) => {
  let nowMs = Date.parse('2026-03-01T10:00:00.000Z');
  const app = await testApp(t, 'postgres', { nowMs: () => nowMs });
  // Records dated before the signer's deployment: delivery's recheck of the kernel signature would rightly refuse them.
  app.deps.delivery = undefined;
  await runDemoWorkload(app.deps, 2, quiet);
  const morning = (await app.runtime.store.head('main')).seq;
  nowMs = Date.parse('2026-03-01T14:00:00.000Z');
  await runDemoWorkload(app.deps, 2, quiet);
  const proof = await issued(app, { fromTs: '2026-03-01T12:00:00.000Z', toTs: '2026-03-01T23:00:00.000Z' });
  t.is(proof.from_seq, morning + 1);
  t.is(proof.from_ts, '2026-03-01T14:00:00.000Z');
  const empty = await t.throwsAsync(
    issueLedgerProof(app.deps, { fromTs: '2027-01-01T00:00:00.000Z' }, contextFor(FINANCE_LEAD)),
  );
  t.is((empty as CodedError).code, 'PROOF_RANGE_EMPTY');
  const inverted = await t.throwsAsync(issueLedgerProof(app.deps, { fromSeq: 9, toSeq: 3 }, contextFor(FINANCE_LEAD)));
  t.is((inverted as CodedError).code, 'PROOF_RANGE_INVALID');
  // One bound only: the other end is the chain's (the missing lower bound was once year 0000, refused by PostgreSQL).
  const untilNoon = await issued(app, { toTs: '2026-03-01T12:00:00.000Z' });
  t.deepEqual([untilNoon.from_seq, untilNoon.to_seq], [1, morning]);
  const year0 = await t.throwsAsync(
    issueLedgerProof(app.deps, { fromTs: '0000-01-01T00:00:00.000Z' }, contextFor(FINANCE_LEAD)),
  );
  t.is((year0 as CodedError).code, 'INVALID_INPUT');
});
