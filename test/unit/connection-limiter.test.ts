import { ConnectionLimiter } from '../../bridge/mqtt/connection-limiter.js';

test('counts sockets per pod and per source, and frees them', () => {
  const limiter = new ConnectionLimiter({ maxConnections: 3, maxConnectionsPerSource: 2 }, () => undefined);
  expect([limiter.admit('a'), limiter.admit('a'), limiter.admit('a')]).toEqual([undefined, undefined, 'too_many_connections_from_source']);
  expect([limiter.admit('b'), limiter.admit('c')]).toEqual([undefined, 'too_many_connections']);
  limiter.release('a');
  expect(limiter.admit('c')).toBeUndefined();
  expect(limiter.connections).toBe(3);
});

test('without a per-source limit only the pod limit applies', () => {
  const limiter = new ConnectionLimiter({ maxConnections: 2, maxConnectionsPerSource: 0 }, () => undefined);
  expect([limiter.admit('a'), limiter.admit('a'), limiter.admit('a')]).toEqual([undefined, undefined, 'too_many_connections']);
});
