/** Plain records for the chain-level tests (subscriptions, the stream, the indexer): `quote.recorded` events. */
import type { EventStore } from '../../chain/store.ts';

/**
 * Appends `count` records numbered from `from` (`data.n`; `data.padding` of `paddingBytes` when given),
 * `perAppend` to an append, each on a stream of its own.
 */
export async function appendQuotes(
  store: EventStore,
  from: number,
  count: number,
  options: { perAppend?: number; paddingBytes?: number } = {},
): Promise<void> {
  const perAppend = options.perAppend ?? 100;
  for (let n = from; n < from + count; n += perAppend)
    await store.append(
      'main',
      Array.from({ length: Math.min(perAppend, from + count - n) }, (_, i) => ({
        stream: `quote-${n + i}`,
        type: 'quote.recorded',
        data:
          options.paddingBytes === undefined ? { n: n + i } : { n: n + i, padding: 'x'.repeat(options.paddingBytes) },
        actor: { id: 'writer', role: 'Service' },
      })),
    );
}
