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

const OPENING = {
  reason: 'opening',
  entries: [
    { account: 'asset:bank', direction: 'debit', amountMinor: 9, currency: 'EUR' },
    { account: 'equity:capital', direction: 'credit', amountMinor: 9, currency: 'EUR' },
  ],
};

for (const engine of ENGINES) {
  // The OpenAPI fuzz test once had a 500 here: a body with toTs and no fromTs made the lower bound
  // '0000-01-01T00:00:00.000Z', a date PostgreSQL refuses (it has no year 0), and the database error was a 500.
  test(`${engine}: time and seq ranges of every shape, with a hostile query string, answer 200 or a coded refusal, never 500`, async (t) => {
    const server = await testServer(t, { engine });
    for (let i = 0; i < 3; i += 1) {
      const posted = await server.request('POST', '/ledger/transactions', { as: 'lead', body: OPENING });
      t.is(posted.status, 200, posted.text);
    }
    const cases: [Record<string, unknown>, number, string?][] = [
      [{ toTs: '2100-01-01T00:00:00.000Z' }, 200],
      [{ toTs: '9999-12-31T23:59:59.999Z' }, 200],
      [{ toTs: '2000-01-01T00:00:00.000Z' }, 422, 'PROOF_RANGE_EMPTY'],
      [{ fromTs: '2000-01-01T00:00:00.000Z' }, 200],
      [{ fromTs: '0001-01-01T00:00:00.000Z' }, 200],
      [{ fromTs: '2100-01-01T00:00:00.000Z' }, 422, 'PROOF_RANGE_EMPTY'],
      [{ fromTs: '2100-01-01T00:00:00.000Z', toTs: '2000-01-01T00:00:00.000Z' }, 422, 'PROOF_RANGE_EMPTY'],
      [{ fromTs: '0000-01-01T00:00:00.000Z' }, 400, 'INVALID_INPUT'],
      [{ toTs: '0000-12-31T23:59:59.999Z' }, 400, 'INVALID_INPUT'],
      [{ fromTs: '2000-01-01T00:00:00.000Z', fromSeq: 1 }, 400, 'INVALID_INPUT'],
      [{ toSeq: 1 }, 200],
      [{ fromSeq: 9007199254740991 }, 422, 'PROOF_RANGE_INVALID'],
      [{ toSeq: 9007199254740991 }, 422, 'PROOF_RANGE_INVALID'],
      [{ fromSeq: 3, toSeq: 2 }, 422, 'PROOF_RANGE_INVALID'],
    ];
    for (const [body, status, code] of cases)
      for (const query of ['', '?q=%ED%A0%80']) {
        const answer = await server.request('POST', `/ledger/proofs${query}`, { as: 'lead', body });
        const what = `${JSON.stringify(body)}${query}: ${answer.text.slice(0, 300)}`;
        t.is(answer.status, status, what);
        if (code !== undefined) t.is(answer.body?.error?.code, code, what);
      }
    // Without fromTs the range starts at seq 1; without toTs it ends at the newest record committed.
    const upTo = await server.request('POST', '/ledger/proofs', {
      as: 'lead',
      body: { toTs: '2100-01-01T00:00:00.000Z' },
    });
    t.is(upTo.body.proof.from_seq, 1);
    t.is(upTo.body.proof.to_seq, upTo.body.seqs[0] - 1, 'every record committed before the proof');
    // Proofs over the whole chain while other requests append: each covers a range that was all committed.
    const answers = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        i % 2 === 0
          ? server.request('POST', '/ledger/transactions', { as: 'lead', body: OPENING })
          : server.request('POST', '/ledger/proofs?q=%ED%A0%80', {
              as: 'lead',
              body: i % 4 === 1 ? {} : { toTs: '2100-01-01T00:00:00.000Z' },
            }),
      ),
    );
    t.deepEqual(
      answers.map((answer) => answer.status),
      answers.map(() => 200),
      answers.map((answer) => answer.text.slice(0, 200)).join('\n'),
    );
    t.is(server.logs.filter((line) => line['msg'] === 'internal error').length, 0, server.logText().slice(0, 2000));
  });
}
