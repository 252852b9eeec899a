/**
 * docs/FORMAT.md section 13 says what chain/deliveryProof.ts, the delivery
 * events and verify-proof do: its member table lists the signed members in
 * order, its description of `delivery.proof_issued` names every member of the
 * record's data, and every verify-proof finding is documented.
 */
import { readFileSync } from 'node:fs';
import test from 'ava';
import { DELIVERY_PROOF_MEMBERS } from '../../chain/deliveryProof.ts';
import { deliveryPreparedSchema, deliveryProofIssuedSchema } from '../../domain/delivery/deliveryEvents.ts';
import type { ProofFindingReason } from '../../verifier/verifyProof.ts';

const FORMAT = readFileSync(new URL('../../docs/FORMAT.md', import.meta.url), 'utf8');
const SECTION_13 = FORMAT.slice(FORMAT.indexOf('## 13. Signed delivery proofs'));

/** Every reason, by the type: adding one to ProofFindingReason without listing it here does not compile. */
const PROOF_REASONS: Record<ProofFindingReason, true> = {
  'malformed-proof': true,
  'payload-mismatch': true,
  'unknown-signer': true,
  'algorithm-mismatch': true,
  'outside-validity-window': true,
  'bad-signature': true,
  'chain-integrity': true,
  'range-missing': true,
  'range-hash-mismatch': true,
  'row-ids-mismatch': true,
  'range-times-mismatch': true,
  'head-hash-mismatch': true,
  'delivery-record-missing': true,
  'delivery-hash-mismatch': true,
  'delivery-record-mismatch': true,
  'inclusion-invalid': true,
};

test('the member table of section 13 lists the signed members in order, then canonical_payload and signature', (t) => {
  const table = SECTION_13.slice(SECTION_13.indexOf('| member | rule |'), SECTION_13.indexOf('### How the chain'));
  const members = [...table.matchAll(/^\| ([^|]+) \|/gm)]
    .slice(1)
    .flatMap((row) => [...row[1]!.matchAll(/`([a-z_0-9]+)`/g)].map((name) => name[1]));
  t.deepEqual(members, [...DELIVERY_PROOF_MEMBERS, 'canonical_payload', 'signature']);
  t.is(DELIVERY_PROOF_MEMBERS.length, 19, 'the table says "the nineteen members above"');
  t.true(table.includes('the nineteen members above'));
});

test("section 13 names every member of the two records' data", (t) => {
  const carried = SECTION_13.slice(
    SECTION_13.indexOf('### How the chain'),
    SECTION_13.indexOf('### What audit-verify'),
  );
  for (const member of [...Object.keys(deliveryPreparedSchema.shape), ...Object.keys(deliveryProofIssuedSchema.shape)])
    t.true(carried.includes(`\`${member}\``), member);
});

test('every verify-proof finding is documented', (t) => {
  for (const reason of Object.keys(PROOF_REASONS)) t.true(FORMAT.includes(`\`${reason}\``), reason);
});
