/**
 * The cache of parsed delivery keys (commands/orders/deliveryKey.ts) is
 * bounded in bytes, not only in entries: the checkout schema's key check runs
 * on texts longer than a key may be (its length check does not stop it), and
 * such texts are not kept.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import test from 'ava';
import { checkoutInputSchema } from '../../commands/orders/checkout.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Distinct over-long texts, each near the default request body limit (64 KiB). */
const TEXTS = 1000;
const TEXT_CHARS = 60_000;
/** Far below what keeping them would take (TEXTS × TEXT_CHARS bytes, about 57 MiB). */
const MAX_RETAINED_BYTES = 16 * 1024 * 1024;

test('over-long delivery key texts refused at checkout are not kept in the parsed-key cache', (t) => {
  const filler = 'x'.repeat(TEXT_CHARS);
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let index = 0; index < TEXTS; index++) {
    const result = checkoutInputSchema.safeParse({ listingId: 'listing-1', deliveryPublicKey: `${index}${filler}` });
    t.false(result.success);
  }
  gc();
  const retained = process.memoryUsage().heapUsed - before;
  t.true(retained < MAX_RETAINED_BYTES, `${(retained / 1024 / 1024).toFixed(1)} MiB retained`);
});
