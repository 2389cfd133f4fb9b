import { Qos2Flows } from '../../bridge/uplink/qos2-flows.js';

describe('Qos2Flows', () => {
  test('pending → stored → released on PUBREL', () => {
    const flows = new Qos2Flows(10);
    flows.begin('a', 7);
    expect(flows.isStored('a', 7)).toBe(false);
    flows.stored('a', 7);
    expect(flows.isStored('a', 7)).toBe(true);
    flows.released('a', 7);
    expect(flows.isStored('a', 7)).toBe(false);
    expect(flows.clients).toBe(0);
  });

  test('a reused id whose send failed stays pending: its DUP is sent, not taken for a duplicate', () => {
    const flows = new Qos2Flows(10);
    flows.begin('a', 7);
    flows.stored('a', 7);
    flows.begin('a', 7); // a new PUBLISH with id 7 (the PUBREL of the first was lost with its connection)
    expect(flows.isStored('a', 7)).toBe(false);
  });

  test('clients are apart, at most `limit` flows per client, all forgotten with the connection', () => {
    const flows = new Qos2Flows(2);
    for (const id of [1, 2, 3]) {
      flows.begin('a', id);
      flows.stored('a', id);
    }
    expect([1, 2, 3].map((id) => flows.isStored('a', id))).toEqual([false, true, true]);
    expect(flows.isStored('b', 2)).toBe(false);
    flows.forget('a');
    expect(flows.clients).toBe(0);
  });
});
