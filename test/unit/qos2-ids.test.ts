import { Qos2Ids } from '../../bridge/uplink/qos2-ids.js';

describe('Qos2Ids', () => {
  test('remembers stored ids per client, forgets a clean session', () => {
    const ids = new Qos2Ids();
    ids.stored('a', 7);
    expect([ids.has('a', 7), ids.has('a', 8), ids.has('b', 7)]).toEqual([true, false, false]);
    ids.forget('a');
    expect(ids.has('a', 7)).toBe(false);
  });

  test('keeps the most recent ids up to the limit', () => {
    const ids = new Qos2Ids(3);
    for (const id of [1, 2, 3, 1, 4]) ids.stored('a', id);
    expect([1, 2, 3, 4].map((id) => ids.has('a', id))).toEqual([true, false, true, true]);
  });
});
