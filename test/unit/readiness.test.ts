import { readinessOf, type ReadinessState } from '../../bridge/http/readiness.js';

const healthy: ReadinessState = { listening: true, stopping: false, producerStarted: true, rocketmqUp: true, revocationsKnown: true, sessionStoreUp: true, connections: 10, maxConnections: 100 };

describe('readinessOf', () => {
  test('a healthy pod is ready, and names every check it made', () => {
    expect(readinessOf(healthy)).toEqual({
      ready: true,
      checks: { listening: true, rocketmqProducer: true, rocketmqReachable: true, tokenRevocationsKnown: true, sessionStore: true, roomForConnections: true },
    });
  });

  test.each<[string, Partial<ReadinessState>, string]>([
    ['the listener is closed', { listening: false }, 'listening'],
    ['the pod is stopping', { stopping: true }, 'listening'],
    ['the producer has not started', { producerStarted: false }, 'rocketmqProducer'],
    ['RocketMQ does not answer', { rocketmqUp: false }, 'rocketmqReachable'],
    ['token revocations are not known yet', { revocationsKnown: false }, 'tokenRevocationsKnown'],
    ['Redis does not answer', { sessionStoreUp: false }, 'sessionStore'],
    ['the pod is full', { connections: 100 }, 'roomForConnections'],
  ])('not ready when %s: exactly that check fails', (_name, change, failing) => {
    const { ready, checks } = readinessOf({ ...healthy, ...change });
    expect(ready).toBe(false);
    expect(Object.entries(checks).filter(([, ok]) => !ok).map(([name]) => name)).toEqual([failing]);
  });

  test('without a session store there is no sessionStore check', () => {
    expect(readinessOf({ ...healthy, sessionStoreUp: undefined }).checks).not.toHaveProperty('sessionStore');
  });
});
