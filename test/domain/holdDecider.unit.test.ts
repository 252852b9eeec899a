import test from 'ava';
import { holdDecider } from '../../domain/holds/holdDecider.ts';
import { given } from '../helpers/given.ts';
import { operator, publisher } from '../helpers/fixtures.ts';

const place = (reason = 'disputed with the provider', actor = operator) => ({
  type: 'PlaceOrderHold' as const,
  actor,
  orderId: 'o1',
  reason,
});
const release = (reason = 'the provider confirmed it', actor = operator) => ({
  type: 'ReleaseOrderHold' as const,
  actor,
  orderId: 'o1',
  reason,
});
const placed = {
  type: 'hold.placed' as const,
  data: { orderId: 'o1', reason: 'disputed with the provider', placedBy: 'operator-1' },
};
const released = {
  type: 'hold.released' as const,
  data: { orderId: 'o1', reason: 'the provider confirmed it', releasedBy: 'operator-1' },
};

test('a finance role holds an order with a reason and releases it with a reason, and may hold it again', (t) => {
  given(holdDecider).when(place()).then(t, [placed]);
  given(holdDecider, [placed]).when(release()).then(t, [released]);
  given(holdDecider, [placed, released]).when(place()).then(t, [placed]);
});

test('holding a held order, releasing one not held, no reason, or another role is refused', (t) => {
  given(holdDecider, [placed]).when(place()).thenRejects(t, 'ORDER_ALREADY_HELD');
  given(holdDecider).when(release()).thenRejects(t, 'ORDER_NOT_HELD');
  given(holdDecider, [placed, released]).when(release()).thenRejects(t, 'ORDER_NOT_HELD');
  given(holdDecider).when(place('  ')).thenRejects(t, 'INVALID_REASON');
  given(holdDecider, [placed]).when(release('')).thenRejects(t, 'INVALID_REASON');
  given(holdDecider).when(place('mine', publisher)).thenRejects(t, 'FORBIDDEN_ROLE');
  given(holdDecider, [placed]).when(release('mine', publisher)).thenRejects(t, 'FORBIDDEN_ROLE');
});
