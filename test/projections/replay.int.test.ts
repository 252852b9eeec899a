import test from 'ava';
import type { CodedError } from '../../domain/errors.ts';
import { submitManifest } from '../../commands/manifests/submitManifest.ts';
import { contextFor } from '../../commands/context.ts';
import { runDemoWorkload } from '../../commands/demo/demoWorkload.ts';
import { databaseReader } from '../../infra/adapters/sql/databaseReader.ts';
import { replay } from '../../projections/replay/replay.ts';
import { sqlReplayTarget } from '../../infra/adapters/sql/replayTarget.ts';
import { openRuntime, type Runtime } from '../../infra/wiring/runtime.ts';
import { projectionDigests } from '../../projections/projections.ts';
import { inProcessChecker } from '../../verifier/inProcessChecker.ts';
import { verifyProof } from '../../verifier/verifyProof.ts';
import { ENGINES, openTestDatabase } from '../helpers/databases.ts';
import { testApp } from '../helpers/app.ts';

const quiet = (): void => undefined;
const operator = { id: 'operator-1', role: 'Operator' };

/** `batches` appends of 100 records no projection folds (pages for verification to read ahead on). */
async function appendNotes(raw: Runtime, batches: number): Promise<void> {
  for (let batch = 0; batch < batches; batch++)
    await raw.store.append(
      'main',
      Array.from({ length: 100 }, (_, index) => ({
        stream: `note-${batch}-${index}`,
        type: 'note.added',
        data: { text: 'appended by hand' },
        actor: operator,
      })),
    );
}

for (const engine of ENGINES) {
  test(`${engine}: replay into a fresh database after the demo workload yields the live digests, and so does a rebuild in place`, async (t) => {
    const app = await testApp(t, engine);
    await runDemoWorkload(app.deps, 8, quiet);
    const live = await projectionDigests(app.test.db);
    const fresh = await openTestDatabase(engine);
    t.teardown(() => fresh.drop());
    const restored = await replay({
      target: sqlReplayTarget(fresh.db),
      source: { reader: databaseReader(app.test.db), digests: () => projectionDigests(app.test.db) },
      checker: inProcessChecker(app.runtime.registry),
      compare: true,
    });
    t.true(restored.ok, JSON.stringify(restored.finding ?? restored.differences));
    t.deepEqual(restored.digests, live);
    t.deepEqual(await projectionDigests(fresh.db), live);
    // Delivery proofs issued before the restore verify against the restored database, and the restored projection serves them byte for byte.
    const { rows: proofs } = await app.test.db.query<{ proof_id: string; document: string }>(
      'SELECT proof_id, document FROM delivery_proofs ORDER BY proof_id',
    );
    t.true(proofs.length > 0, 'the demo delivered');
    const { rows: restoredProofs } = await fresh.db.query<{ proof_id: string; document: string }>(
      'SELECT proof_id, document FROM delivery_proofs ORDER BY proof_id',
    );
    t.deepEqual(restoredProofs, proofs);
    for (const { document } of proofs) {
      const checked = await verifyProof(
        document,
        { registry: app.runtime.registry },
        { reader: databaseReader(fresh.db), checker: inProcessChecker(app.runtime.registry) },
      );
      t.true(checked.ok && checked.chainChecked, JSON.stringify(checked.finding));
    }
    const head = await app.runtime.store.head('main');
    const { rows } = await fresh.db.query<{ seq: number; hash: string }>(
      "SELECT seq, hash FROM chain_heads WHERE chain = 'main'",
    );
    t.deepEqual(rows[0], { seq: head.seq, hash: head.hash });
    const again = await replay({
      target: sqlReplayTarget(fresh.db),
      source: { reader: databaseReader(app.test.db) },
      checker: inProcessChecker(app.runtime.registry),
    }).catch((error: unknown) => error);
    t.is((again as CodedError).code, 'REPLAY_TARGET_NOT_EMPTY');
    const inPlace = await replay({
      target: sqlReplayTarget(app.test.db),
      checker: inProcessChecker(app.runtime.registry),
      compare: true,
    });
    t.true(inPlace.ok);
    t.deepEqual(inPlace.digests, live);
  });

  test(`${engine}: replay refuses a chain with a changed record, names it, and leaves the projections as they were`, async (t) => {
    const app = await testApp(t, engine);
    await runDemoWorkload(app.deps, 3, quiet);
    const before = await projectionDigests(app.test.db);
    await app.test.superuser(
      `UPDATE events SET record = replace(record, '"priceMinor":1999', '"priceMinor":1') WHERE seq = 1 AND chain = 'main'`,
    );
    const report = await replay({
      target: sqlReplayTarget(app.test.db),
      checker: inProcessChecker(app.runtime.registry),
      compare: true,
    });
    t.false(report.ok);
    t.false(report.committed);
    t.like(report.finding, { chain: 'main', seq: 1, reason: 'hash-mismatch' });
    t.deepEqual(await projectionDigests(app.test.db), before);
  });

  test(`${engine}: a hand-made append of a domain event that does not fit is refused in the append transaction`, async (t) => {
    const app = await testApp(t, engine);
    const before = await app.snapshot();
    const cases: [string, Parameters<typeof app.runtime.store.append>[1]][] = [
      [
        'INVALID_DOMAIN_EVENT',
        [{ stream: 'order-x', type: 'order.created', data: { priceMinor: 1999 }, actor: operator }],
      ],
      [
        'INVALID_DOMAIN_EVENT',
        [
          {
            stream: 'order-y',
            type: 'ledger.posted',
            data: {
              transactionId: 't-1',
              reason: 'r',
              entries: [
                { account: 'asset:bank', direction: 'debit', amountMinor: 1, currency: 'EUR' },
                { account: 'asset:cash', direction: 'credit', amountMinor: 1, currency: 'EUR' },
              ],
            },
            actor: operator,
          },
        ],
      ],
      [
        'LEDGER_UNBALANCED',
        [
          {
            stream: 'ledger-t-2',
            type: 'ledger.posted',
            data: {
              transactionId: 't-2',
              reason: 'r',
              entries: [
                { account: 'asset:bank', direction: 'debit', amountMinor: 2, currency: 'EUR' },
                { account: 'asset:cash', direction: 'credit', amountMinor: 1, currency: 'EUR' },
              ],
            },
            actor: operator,
          },
        ],
      ],
      [
        'INVALID_DOMAIN_EVENT',
        [
          {
            stream: 'order-z',
            type: 'order.paid',
            data: {
              orderId: 'z',
              providerPaymentId: 'p',
              amountMinor: 1,
              currency: 'EUR',
              ledgerTransactionId: 'payment-z',
            },
            actor: operator,
          },
        ],
      ],
    ];
    for (const [code, events] of cases) {
      const error = await t.throwsAsync(app.runtime.store.append('main', events));
      t.is((error as CodedError).code, code);
    }
    t.deepEqual(await app.snapshot(), before);
  });

  test(`${engine}: replay refuses a signed record the projections cannot fold, pages after it verified ahead, and leaves the projections as they were`, async (t) => {
    const app = await testApp(t, engine);
    await runDemoWorkload(app.deps, 2, quiet);
    const raw = await openRuntime(app.config, { db: app.test.db, projections: false });
    // A cancellation of an order the chain never created: it verifies, but no projection can fold it.
    await raw.store.append('main', [
      {
        stream: 'order-never-created',
        type: 'order.cancelled',
        data: { orderId: 'never-created', cancelledBy: operator.id, reason: 'appended by hand' },
        actor: operator,
      },
    ]);
    // Pages enough after it that verification runs ahead of folding when the fold fails.
    await appendNotes(raw, 60);
    await raw.close();
    const before = await app.snapshot();
    const error = await t.throwsAsync(
      replay({ target: sqlReplayTarget(app.test.db), checker: inProcessChecker(app.runtime.registry) }),
    );
    t.is((error as CodedError).code, 'INVALID_DOMAIN_EVENT');
    t.deepEqual(await app.snapshot(), before);
  });

  test(`${engine}: a fold the database refuses (its transaction aborted) while later pages are read in the same transaction: replay fails with that refusal, not the reads', and leaves the projections as they were`, async (t) => {
    const app = await testApp(t, engine);
    await runDemoWorkload(app.deps, 2, quiet);
    const raw = await openRuntime(app.config, { db: app.test.db, projections: false });
    // Pages enough after the first that verification reads on while the first page is folded.
    await appendNotes(raw, 30);
    await raw.close();
    const before = await app.snapshot();
    await app.test.db.exec(`
      CREATE FUNCTION refuse_checkpoint() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'checkpoint refused by the test' USING ERRCODE = 'check_violation';
      END $$;
      CREATE TRIGGER refuse_checkpoint BEFORE INSERT OR UPDATE ON projection_checkpoints
        FOR EACH ROW EXECUTE FUNCTION refuse_checkpoint();
    `);
    const error = await t.throwsAsync(
      replay({ target: sqlReplayTarget(app.test.db), checker: inProcessChecker(app.runtime.registry) }),
    );
    t.regex(error!.message, /checkpoint refused by the test/);
    await app.test.db.exec('DROP TRIGGER refuse_checkpoint ON projection_checkpoints');
    t.deepEqual(await app.snapshot(), before);
  });

  test(`${engine}: records appended without the projections stop commands with PROJECTIONS_BEHIND until replay folds them`, async (t) => {
    const app = await testApp(t, engine);
    await runDemoWorkload(app.deps, 2, quiet);
    const raw = await openRuntime(app.config, { db: app.test.db, projections: false });
    await raw.store.append('main', [
      { stream: 'note-1', type: 'note.added', data: { text: 'appended by hand' }, actor: operator },
    ]);
    await raw.store.close();
    const manifest = {
      name: 'n',
      version: '1',
      artifactSha256: 'a'.repeat(64),
      sizeBytes: 1,
      priceMinor: 1,
      currency: 'EUR',
      royaltySplits: [{ partyId: 'p', basisPoints: 10_000 }],
    };
    const publisher = contextFor({ id: 'p', role: 'Publisher' });
    const before = await app.snapshot();
    const error = await t.throwsAsync(submitManifest(app.deps, manifest, publisher));
    t.is((error as CodedError).code, 'PROJECTIONS_BEHIND');
    t.deepEqual(await app.snapshot(), before);
    const rebuilt = await replay({
      target: sqlReplayTarget(app.test.db),
      checker: inProcessChecker(app.runtime.registry),
    });
    t.true(rebuilt.ok);
    await t.notThrowsAsync(submitManifest(app.deps, manifest, publisher));
  });
}
