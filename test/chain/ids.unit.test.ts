import test from 'ava';
import { newEventId } from '../../chain/ids.ts';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('event ids are UUIDv7, distinct across many refills of the random pool, and carry the clock', (t) => {
  const before = Date.now();
  const ids = Array.from({ length: 5000 }, () => newEventId());
  const after = Date.now();
  t.true(ids.every((id) => UUID_V7.test(id)));
  t.is(new Set(ids).size, ids.length);
  const millis = (id: string): number => Number.parseInt(id.replaceAll('-', '').slice(0, 12), 16);
  t.true(ids.every((id) => millis(id) >= before && millis(id) <= after));
});
