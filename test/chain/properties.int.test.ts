import test from 'ava';
import fc from 'fast-check';
import type { AppendEventInput } from '../../chain/input.ts';
import { inProcessChecker } from '../../verifier/inProcessChecker.ts';
import { verify } from '../../verifier/verify.ts';
import { databaseReader } from '../../infra/adapters/sql/databaseReader.ts';
import { linesReader } from '../../infra/adapters/files/fileReader.ts';
import { appendEvent } from '../arbitraries.ts';
import { testRuntime } from '../helpers/runtime.ts';

/** Appends as a caller would: some with the right expectedVersion, some with none, in batches of one to five. */
const appendSequence = fc.array(fc.tuple(fc.array(appendEvent, { minLength: 1, maxLength: 5 }), fc.boolean()), {
  minLength: 1,
  maxLength: 12,
});

test('postgres: any sequence of valid appends, sequential or concurrent, verifies', async (t) => {
  const rt = await testRuntime(t, 'postgres');
  let run = 0;
  await fc.assert(
    fc.asyncProperty(appendSequence, fc.boolean(), async (appends, concurrent) => {
      const chain = `prop-${run++}`;
      await rt.store.createChain(chain);
      const versions = new Map<string, number>();
      const prepared = appends.map(([events, withVersions]) =>
        events.map((event): AppendEventInput => {
          const stream = `${event.stream}-${chain}`;
          const version = versions.get(stream) ?? 0;
          versions.set(stream, version + 1);
          return { ...event, stream, ...(withVersions && !concurrent ? { expectedVersion: version } : {}) };
        }),
      );
      if (concurrent) await Promise.all(prepared.map((events) => rt.store.append(chain, events)));
      else for (const events of prepared) await rt.store.append(chain, events);
      const report = await verify(databaseReader(rt.db), inProcessChecker(rt.registry), { chains: [chain] });
      t.true(report.ok, JSON.stringify(report.finding));
      t.is(report.records, prepared.flat().length);
    }),
    { numRuns: 40 },
  );
});

test('postgres: any single-byte change to any record is detected', async (t) => {
  const rt = await testRuntime(t, 'postgres');
  for (let n = 0; n < 8; n++) {
    await rt.store.append('main', [
      {
        stream: `order-${n % 3}`,
        type: 'order.created',
        data: { priceMinor: 100 * n, note: 'Café – ü ✓ 🎉', tags: ['a', n] },
        actor: { id: `buyer-${n}`, role: 'Buyer' },
      },
    ]);
  }
  const lines = (await rt.store.readChainText('main')).map((text) => Buffer.from(text, 'utf8'));
  const check = inProcessChecker(rt.registry);
  t.true(
    (
      await verify(
        linesReader(
          'pristine',
          lines.map((line) => line.toString('utf8')),
        ),
        check,
      )
    ).ok,
  );
  await fc.assert(
    fc.asyncProperty(
      fc.nat(lines.length - 1),
      fc.nat(),
      fc.integer({ min: 1, max: 255 }),
      async (index, position, xor) => {
        const changed = lines.map((line) => Buffer.from(line));
        const target = changed[index]!;
        const at = position % target.length;
        target[at] = target[at]! ^ xor;
        const report = await verify(
          linesReader(
            'tampered',
            changed.map((line) => line.toString('utf8')),
          ),
          check,
        );
        t.false(report.ok, `byte ${at} of record ${index + 1} changed by xor ${xor} went unnoticed`);
        t.true(report.finding!.seq <= index + 2, 'reported at the changed record or the link after it');
      },
    ),
    { numRuns: 1500 },
  );
});
