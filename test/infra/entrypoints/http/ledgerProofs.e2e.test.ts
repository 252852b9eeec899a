/** Ledger proofs over HTTP: every proof issued is stored and served as issued, to finance roles and Auditors. */
import test from 'ava';
import { ENGINES } from '../../../helpers/databases.ts';
import { testServer } from '../../../helpers/http.ts';

for (const engine of ENGINES) {
  test(`${engine}: a proof issued over HTTP is served again by GET /ledger/proofs/{id} and listed`, async (t) => {
    const server = await testServer(t, { engine });
    await server.request('POST', '/ledger/transactions', {
      as: 'lead',
      body: {
        reason: 'opening',
        entries: [
          { account: 'asset:bank', direction: 'debit', amountMinor: 9, currency: 'EUR' },
          { account: 'equity:capital', direction: 'credit', amountMinor: 9, currency: 'EUR' },
        ],
      },
    });
    const issued = await server.request('POST', '/ledger/proofs', { as: 'lead', body: {} });
    t.is(issued.status, 200, issued.text);
    const proofId = issued.body.proof.proof_id as string;
    const fetched = await server.request('GET', `/ledger/proofs/${proofId}`, { as: 'auditor' });
    t.is(fetched.status, 200, fetched.text);
    t.deepEqual(fetched.body, issued.body.proof, 'the document as issued, signature and canonical payload');
    const second = await server.request('POST', '/ledger/proofs', { as: 'operator', body: {} });
    const listed = await server.request('GET', '/ledger/proofs?limit=1', { as: 'auditor' });
    t.deepEqual(
      listed.body.items.map((item: { proofId: string; stored: boolean }) => [item.proofId, item.stored]),
      [[proofId, true]],
    );
    const rest = await server.request('GET', `/ledger/proofs?after=${listed.body.next as string}`, { as: 'auditor' });
    t.deepEqual(
      rest.body.items.map((item: { proofId: string }) => item.proofId),
      [second.body.proof.proof_id],
    );
    t.is((await server.request('GET', '/ledger/proofs/nope', { as: 'auditor' })).status, 404);
    t.is((await server.request('GET', `/ledger/proofs/${proofId}`, { as: 'buyer' })).status, 403);
  });
}
