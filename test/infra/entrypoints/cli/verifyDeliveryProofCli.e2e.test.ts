/**
 * `chainbook verify-proof` and `chainbook audit-verify` on a chain that
 * carries a signed delivery proof (docs/FORMAT.md section 13), through the
 * real CLI with a dump as the chain source: the exit codes of section 9
 * (0 ok, 1 a named finding, 2 could not run).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { sha256Hex } from '../../../../chain/hash.ts';
import { databaseReader } from '../../../../infra/adapters/sql/databaseReader.ts';
import { runCli } from '../../../helpers/cli.ts';
import {
  appendPrepared,
  appendProofIssued,
  preparedData,
  signedProof,
  writeDump,
  writeSigners,
} from '../../../helpers/deliveryProofs.ts';
import { tempDir, testRuntime } from '../../../helpers/runtime.ts';

test('verify-proof and audit-verify pass a recorded delivery proof from a dump, and exit 1 naming what is wrong', async (t) => {
  const rt = await testRuntime(t, 'pglite');
  const prepared = await appendPrepared(rt.store, preparedData('order-a', 'dlv-a1'));
  const { proof, issued } = await signedProof(prepared, rt.signer);
  await appendProofIssued(rt.store, 'order-a', issued);
  const directory = tempDir('delivery-cli');
  const file = (name: string) => join(directory, name);
  writeSigners(rt.registry, file('signers.json'));
  writeFileSync(file('pub.pem'), rt.registry.signers.get(proof.signer_kid)!.publicKeyPem);
  writeFileSync(file('proof.json'), JSON.stringify(proof, null, 2));
  await writeDump(databaseReader(rt.db), file('chain.jsonl'));

  const withSigners = await runCli([
    'verify-proof',
    '--proof',
    file('proof.json'),
    '--signers',
    file('signers.json'),
    '-i',
    file('chain.jsonl'),
  ]);
  t.is(withSigners.code, 0, withSigners.stdout + withSigners.stderr);
  t.regex(withSigners.stdout, /verify-proof: OK \(delivery proof dproof-dlv-a1\): signature valid; .*, and verifies/);
  const withKey = await runCli([
    'verify-proof',
    '--proof',
    file('proof.json'),
    '--public-key',
    file('pub.pem'),
    '-i',
    file('chain.jsonl'),
    '--json',
  ]);
  t.is(withKey.code, 0, withKey.stdout + withKey.stderr);
  t.like(JSON.parse(withKey.stdout), {
    ok: true,
    kind: 'delivery',
    chainChecked: true,
    recordSignaturesChecked: false,
  });
  const audit = await runCli(['audit-verify', '-s', file('signers.json'), '-i', file('chain.jsonl')]);
  t.is(audit.code, 0, audit.stdout + audit.stderr);

  writeFileSync(file('wrong-hash.json'), JSON.stringify({ ...proof, delivery_hash: sha256Hex('not the record') }));
  const wrongHash = await runCli([
    'verify-proof',
    '--proof',
    file('wrong-hash.json'),
    '--signers',
    file('signers.json'),
    '-i',
    file('chain.jsonl'),
  ]);
  t.is(wrongHash.code, 1, wrongHash.stdout + wrongHash.stderr);
  t.regex(wrongHash.stdout, /verify-proof: FAILED \(dproof-dlv-a1\): payload-mismatch/);
  const noKey = await runCli(['verify-proof', '--proof', file('proof.json')]);
  t.is(noKey.code, 2);

  // The same proof recorded again over a delivery.prepared of other data: audit-verify finds it at its seq.
  const other = await appendPrepared(rt.store, preparedData('order-a', 'dlv-a1', { ciphertextBytes: 9 }));
  const copied = await appendProofIssued(rt.store, 'order-a', {
    ...issued,
    deliverySeq: other.seq,
    deliveryHash: other.hash,
  });
  await writeDump(databaseReader(rt.db), file('chain.jsonl'));
  const failed = await runCli(['audit-verify', '-s', file('signers.json'), '-i', file('chain.jsonl'), '--json']);
  t.is(failed.code, 1, failed.stdout + failed.stderr);
  t.like(JSON.parse(failed.stdout), {
    ok: false,
    finding: { chain: 'main', seq: copied.seq, reason: 'embedded-signature-invalid' },
  });
});
