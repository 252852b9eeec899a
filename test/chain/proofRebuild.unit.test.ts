/**
 * chain/proofRebuild.ts: a ledger proof document rebuilt from its
 * `ledger.proof_issued` data and the records of its range is the signed one
 * (docs/FORMAT.md section 9), and what does not fit is a reason, never a throw.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import test from 'ava';
import { issuedEvent } from '../../commands/ledger/issueLedgerProof.ts';
import { LEDGER_PROOF_KIND, LedgerRangeHasher, signProof, type SignedProof } from '../../chain/proof.ts';
import { ledgerProofFromChain, type RangePages } from '../../chain/proofRebuild.ts';
import type { ChainRecord } from '../../chain/record.ts';

const { privateKey } = generateKeyPairSync('ed25519');
const signer = {
  signMessage: async (message: Uint8Array) => ({
    kid: 'test-ed25519',
    alg: 'ed25519',
    value: sign(null, message, privateKey).toString('base64'),
  }),
};

function recordAt(seq: number): ChainRecord {
  const posted = seq % 2 === 0;
  return {
    v: 1,
    chain: 'main',
    seq,
    id: `00000000-0000-4000-8000-${String(seq).padStart(12, '0')}`,
    type: posted ? 'ledger.posted' : 'note.added',
    stream: posted ? `ledger-t${seq}` : 'note-1',
    version: 1,
    ts: `2026-11-23T10:00:${String(seq).padStart(2, '0')}.000Z`,
    actor: { id: 'operator-1', role: 'Operator' },
    data: posted
      ? {
          transactionId: `t${seq}`,
          reason: 'test',
          entries: [
            { account: 'asset:bank', direction: 'debit', amountMinor: seq, currency: 'EUR' },
            { account: 'revenue:sales', direction: 'credit', amountMinor: seq, currency: 'EUR' },
          ],
        }
      : { text: `note ${seq}` },
    meta: {},
    prevHash: '0'.repeat(64),
    hash: String(seq % 10).repeat(64),
    sig: { kid: 'test-ed25519', alg: 'ed25519', value: 'AA==' },
  };
}

const RECORDS = Array.from({ length: 7 }, (_, index) => recordAt(index + 1));

/** Pages of two records each, as a source serves them, through `change`. */
function pagesOf(change: (records: ChainRecord[]) => ChainRecord[] = (records) => records): RangePages {
  return async function* (fromSeq, toSeq) {
    const range = change(RECORDS.filter((record) => record.seq >= fromSeq && record.seq <= toSeq));
    for (let index = 0; index < range.length; index += 2) yield range.slice(index, index + 2);
  };
}

async function issuedProof(fromSeq: number, toSeq: number): Promise<SignedProof> {
  const hasher = new LedgerRangeHasher();
  for (const record of RECORDS.slice(fromSeq - 1, toSeq)) hasher.add(record);
  return signProof(
    {
      proof_id: 'proof-1',
      kind: LEDGER_PROOF_KIND,
      chain: 'main',
      from_seq: fromSeq,
      to_seq: toSeq,
      from_ts: RECORDS[fromSeq - 1]!.ts,
      to_ts: RECORDS[toSeq - 1]!.ts,
      ledger_row_ids: hasher.rowIds,
      range_hash: hasher.digest(),
      head_hash: RECORDS[toSeq - 1]!.hash,
      ts: '2026-11-23T10:01:00.000Z',
      signer_kid: 'test-ed25519',
      alg: 'ed25519',
    },
    signer,
  );
}

const ISSUED_AT = { chain: 'main', seq: 9, ts: '2026-11-23T10:01:00.010Z' };

test('the document rebuilt from the record and its range is the issued one, byte for byte', async (t) => {
  const proof = await issuedProof(2, 7);
  const rebuilt = await ledgerProofFromChain(ISSUED_AT, { ...issuedEvent(proof) }, pagesOf());
  t.is(rebuilt.status, 'rebuilt');
  if (rebuilt.status === 'rebuilt') t.is(JSON.stringify(rebuilt.proof), JSON.stringify(proof));
});

test('a record without proofTs is not rebuildable, and its signer is returned', async (t) => {
  const { proofTs: _proofTs, ...older } = issuedEvent(await issuedProof(2, 7));
  const rebuilt = await ledgerProofFromChain(ISSUED_AT, older, pagesOf());
  t.like(rebuilt, { status: 'without-proof-ts', signature: { kid: 'test-ed25519', alg: 'ed25519' } });
});

test('a range with a record missing, out of order or unreadable, or not what the record claims, is a reason, not a throw', async (t) => {
  const data = { ...issuedEvent(await issuedProof(2, 7)) };
  const cases: [RangePages, RegExp][] = [
    [
      pagesOf((records) => records.filter((record) => record.seq !== 4)),
      /records 2\.\.7 of its range cannot all be read/,
    ],
    [pagesOf((records) => records.slice(0, -1)), /cannot all be read/],
    [pagesOf((records) => [records[1]!, records[0]!, ...records.slice(2)]), /cannot all be read/],
    [
      async function* () {
        yield [RECORDS[1]!];
        throw new SyntaxError('not JSON');
      },
      /cannot all be read/,
    ],
    [
      pagesOf((records) =>
        records.map((record) => (record.seq === 4 ? { ...record, data: { ...record.data, reason: 'x' } } : record)),
      ),
      /rangeHash \(range_hash\) is not what the records 2\.\.7 give/,
    ],
    [
      pagesOf((records) => records.map((record) => (record.seq === 7 ? { ...record, hash: 'f'.repeat(64) } : record))),
      /headHash/,
    ],
  ];
  for (const [pages, reason] of cases) {
    const rebuilt = await ledgerProofFromChain(ISSUED_AT, data, pages);
    t.is(rebuilt.status, 'invalid');
    if (rebuilt.status === 'invalid') t.regex(rebuilt.reason, reason);
  }
  const later = await ledgerProofFromChain({ ...ISSUED_AT, seq: 7 }, data, pagesOf());
  t.like(later, { status: 'invalid', reason: 'ledger.proof_issued: its range is not an earlier range of chain main' });
  const edited = await ledgerProofFromChain(ISSUED_AT, { ...data, signerKid: 'another' }, pagesOf());
  t.like(edited, { status: 'invalid' });
  if (edited.status === 'invalid') t.regex(edited.reason, /payloadSha256 is not the SHA-256/);
  t.like(await ledgerProofFromChain(ISSUED_AT, { ...data, signature: 7 }, pagesOf()), { status: 'invalid' });
});
