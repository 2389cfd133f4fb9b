import { enforcedKeepalive, limitRefusals } from '../../bridge/mqtt/client-limits.js';

describe('limitRefusals', () => {
  const limits = { maxFiltersPerSubscribe: 4, maxSubscriptionsPerClient: 3 };
  const none = () => false;

  test.each([
    ['within both limits', ['a', 'b'], [], [undefined, undefined]],
    ['past the filters of one SUBSCRIBE', ['a', 'b', 'c', 'd', 'e'], ['a', 'b', 'c', 'd'], [undefined, undefined, undefined, undefined, 'too_many_filters']],
    ['past the subscriptions of the client', ['x', 'y'], ['a', 'b'], [undefined, 'too_many_subscriptions']],
    ['a resubscription adds nothing', ['a', 'b', 'c'], ['a', 'b', 'c'], [undefined, undefined, undefined]],
    ['a filter twice in one packet counts once', ['x', 'x'], ['a', 'b'], [undefined, undefined]],
  ])('%s', (_name, filters, held, want) => {
    const heldSet = new Set(held as string[]);
    expect(limitRefusals(filters as string[], (f) => heldSet.has(f), heldSet.size, limits)).toEqual(want);
  });

  test('the first filter past the limit of a fresh client', () => {
    expect(limitRefusals(['a', 'b', 'c', 'd'], none, 0, limits)).toEqual([undefined, undefined, undefined, 'too_many_subscriptions']);
  });
});

test.each([
  [0, 1200],
  [60, 60],
  [1200, 1200],
  [65535, 1200],
])('keep alive %i is enforced as %i', (requested, enforced) => {
  expect(enforcedKeepalive(requested, 1200)).toBe(enforced);
});
