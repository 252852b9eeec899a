/**
 * Check 5b in the independent checker (docs/FORMAT.md sections 5, 9, 13):
 * over the chain the demo workload writes (manifest approvals, ledger and
 * delivery proofs), it rebuilds each proof from the records and checks its
 * signature as audit-verify does; a validly signed record that carries a
 * forged proof is refused by both at its seq.
 */
import test from 'ava';
import { randomUUID } from 'node:crypto';
import * as checker from '../../auditor/checker.mjs';
import { validateAppend } from '../../chain/input.ts';
import type { ChainRecord } from '../../chain/record.ts';
import { registryJson } from '../../chain/registry.ts';
import { attachSignatures, commitTime, sealBatch } from '../../chain/seal.ts';
import { runDemoWorkload } from '../../commands/demo/demoWorkload.ts';
import { linesReader } from '../../infra/adapters/files/fileReader.ts';
import { inProcessChecker } from '../../verifier/inProcessChecker.ts';
import { verify } from '../../verifier/verify.ts';
import { testApp } from '../helpers/app.ts';

test('the proofs the demo records are rebuilt and checked by the checker as by audit-verify, and each forged one is refused by both at its seq', async (t) => {
  const app = await testApp(t, 'pglite');
  await runDemoWorkload(app.deps, 2, () => undefined);
  const texts = await app.runtime.store.readChainText('main', { limit: 1000 });
  const records = texts.map((text) => JSON.parse(text) as ChainRecord);
  const last = (type: string) => records.findLast((record) => record.type === type)!;
  for (const type of ['manifest.approved', 'ledger.proof_issued', 'delivery.proof_issued'])
    t.truthy(last(type), `the demo records a ${type}`);
  t.truthy(last('ledger.proof_issued').data['proofTs'], 'with the time of its document');
  const loaded = await checker.loadRegistry(JSON.stringify(registryJson(app.runtime.registry)));
  if (!loaded.registry) return t.fail(loaded.problems.join('; '));
  const registry = loaded.registry;

  const verdicts = async (lines: readonly string[]) => {
    const theirs = await verify(linesReader('chain', lines), inProcessChecker(app.runtime.registry));
    const ours = await checker.checkLines(lines, registry);
    const brief = (f: { chain: string; seq: number; reason: string } | undefined) =>
      f ? `${f.chain} ${f.seq} ${f.reason}` : 'ok';
    return { ours: brief(ours.finding), theirs: brief(theirs.finding), unchecked: ours.unchecked.length };
  };
  t.deepEqual(await verdicts(texts), { ours: 'ok', theirs: 'ok', unchecked: 0 });

  // A record after the head, signed by the chain's signer, whose data is a real one changed.
  const head = records.at(-1)!;
  const forged = async (from: ChainRecord, change: (data: Record<string, unknown>) => void) => {
    const data = structuredClone(from.data) as Record<string, unknown>;
    change(data);
    const event = validateAppend('main', [
      { stream: `forged-${randomUUID()}`, type: from.type, data, actor: { id: 'forger', role: 'Service' } },
    ]).events[0]!;
    const chainHead = { chain: 'main', seq: head.seq, hash: head.hash, ts: head.ts };
    const unsigned = sealBatch(chainHead, [{ event, version: 1 }], commitTime(Date.now(), chainHead), randomUUID);
    const [stored] = attachSignatures(unsigned, await app.runtime.signer.signBatch(unsigned));
    return [...texts, stored!.text];
  };
  const otherHash = records[0]!.hash;
  const forgeries: Record<string, Promise<string[]>> = {
    'a manifest approval over another manifest': forged(last('manifest.approved'), (data) => {
      data['manifestSha256'] = otherHash;
    }),
    'a ledger proof whose range_hash is not its range': forged(last('ledger.proof_issued'), (data) => {
      data['rangeHash'] = otherHash;
    }),
    'a ledger proof whose signature is another proof’s': forged(last('ledger.proof_issued'), (data) => {
      data['signature'] = last('delivery.proof_issued').data['signature'];
    }),
    'a ledger proof signed after its record': forged(last('ledger.proof_issued'), (data) => {
      data['proofTs'] = '2999-01-01T00:00:00.000Z';
    }),
    'a delivery proof over another record': forged(last('delivery.proof_issued'), (data) => {
      data['deliveryHash'] = otherHash;
    }),
    'a delivery proof with a member the format does not have': forged(last('delivery.proof_issued'), (data) => {
      data['note'] = 'extra';
    }),
    'a delivery proof of another order': forged(last('delivery.proof_issued'), (data) => {
      data['orderId'] = 'another-order';
    }),
  };
  for (const [name, lines] of Object.entries(forgeries)) {
    const expected = `main ${head.seq + 1} embedded-signature-invalid`;
    t.deepEqual(await verdicts(await lines), { ours: expected, theirs: expected, unchecked: 0 }, name);
  }
});
