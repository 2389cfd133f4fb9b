import { resolveBindings, type BindingObject, type TopicExistence } from '../../operator/reconcile/resolve-bindings.js';

function binding(name: string, created: string, parent: string, topic = 'T', direction = 'Bidirectional'): BindingObject {
  return { metadata: { name, creationTimestamp: created }, spec: { bridge: 'br', mqttParentTopic: parent, rocketmqTopic: topic, direction } };
}

const all = (e: TopicExistence) => () => e;

function states(bridgeExists: boolean, bindings: BindingObject[], topics: (t: string) => TopicExistence = all('exists')) {
  const r = resolveBindings(bridgeExists, bindings, topics);
  return {
    active: r.active.map((b) => b.metadata.name),
    states: Object.fromEntries(bindings.map((b) => [b.metadata.name, r.verdicts.get(b)!.state])),
  };
}

describe('resolveBindings', () => {
  test('distinct parents are all bound, oldest first', () => {
    expect(states(true, [binding('b', '2026-01-02T00:00:00Z', 'two', 'T2'), binding('a', '2026-01-01T00:00:00Z', 'one', 'T1')])).toEqual({
      active: ['a', 'b'],
      states: { a: 'Bound', b: 'Bound' },
    });
  });

  test.each([
    ['older wins whatever the list order', [binding('new', '2026-01-02T00:00:00Z', 'same', 'T1'), binding('old', '2026-01-01T00:00:00Z', 'same', 'T2')], 'old', 'new'],
    ['same age: the name decides', [binding('zeta', '2026-01-01T00:00:00Z', 'same', 'T1'), binding('alpha', '2026-01-01T00:00:00Z', 'same', 'T2')], 'alpha', 'zeta'],
    ['two downlinks of one RocketMQ topic', [binding('x', '2026-01-01T00:00:00Z', 'px', 'T'), binding('y', '2026-01-02T00:00:00Z', 'py', 'T')], 'x', 'y'],
  ])('conflict: %s', (_name, bindings, winner, loser) => {
    const r = states(true, bindings);
    expect(r.states[winner]).toBe('Bound');
    expect(r.states[loser]).toBe('Conflict');
    expect(r.active).toEqual([winner]);
  });

  test('uplink-only bindings may share a RocketMQ topic', () => {
    const r = states(true, [binding('x', '2026-01-01T00:00:00Z', 'px', 'T', 'MqttToRocketmq'), binding('y', '2026-01-02T00:00:00Z', 'py', 'T')]);
    expect(r.active).toEqual(['x', 'y']);
  });

  test('no bridge: every binding is BridgeNotFound', () => {
    expect(states(false, [binding('a', '2026-01-01T00:00:00Z', 'one')]).states).toEqual({ a: 'BridgeNotFound' });
  });

  test('missing topic: TopicNotFound and left out; unknown: kept', () => {
    const topics = (t: string): TopicExistence => (t === 'GONE' ? 'missing' : 'unknown');
    const r = states(true, [binding('a', '2026-01-01T00:00:00Z', 'one', 'GONE'), binding('b', '2026-01-01T00:00:00Z', 'two', 'X')], topics);
    expect(r).toEqual({ active: ['b'], states: { a: 'TopicNotFound', b: 'Bound' } });
  });

  test('a losing binding does not block the parent for the ones after it being judged on their own', () => {
    const r = states(true, [
      binding('a', '2026-01-01T00:00:00Z', 'p1', 'GONE'),
      binding('b', '2026-01-02T00:00:00Z', 'p1', 'OK'),
    ], (t) => (t === 'GONE' ? 'missing' : 'exists'));
    expect(r).toEqual({ active: ['b'], states: { a: 'TopicNotFound', b: 'Bound' } });
  });
});
