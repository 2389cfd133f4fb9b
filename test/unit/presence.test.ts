import { pino } from 'pino';
import { BridgeMetrics } from '../../bridge/observability/metrics.js';
import type { RedisClient } from '../../bridge/redis/connection.js';
import { Presence } from '../../bridge/redis/presence.js';

/** A Redis whose first `failures` SETs fail as ioredis fails them while a connection is away. */
function flakyRedis(failures: number) {
  const keys = new Map<string, string>();
  const calls: string[] = [];
  let left = failures;
  const db = {
    set: async (key: string, value: string) => {
      calls.push(`set ${key}`);
      if (left-- > 0) throw new Error("Stream isn't writeable and enableOfflineQueue options is false");
      keys.set(key, value);
      return 'OK';
    },
    eval: async (_script: string, _n: number, key: string, value: string) => {
      calls.push(`del-if-equal ${key}`);
      if (keys.get(key) === value) keys.delete(key);
      return 1;
    },
  };
  return { db: db as unknown as RedisClient, keys, calls };
}

const degraded = async (metrics: BridgeMetrics) => (await metrics.sessionStoreDegraded.get()).values.find((v) => v.labels.operation === 'presence_set')?.value ?? 0;

describe('Presence: the record that routes P2P messages to a client', () => {
  test('a write refused while the connection is away is retried until it is in Redis', async () => {
    const { db, keys } = flakyRedis(3);
    const metrics = new BridgeMetrics();
    const presence = new Presence(db, 'pod-a', metrics, pino({ level: 'silent' }));
    await presence.connected('dev-1');
    expect(keys.get('presence:dev-1')).toBe('pod-a');
    expect(await degraded(metrics)).toBe(3);
  });

  test('a client gone while its write was retried leaves no record behind', async () => {
    const { db, keys, calls } = flakyRedis(2);
    const presence = new Presence(db, 'pod-a', new BridgeMetrics(), pino({ level: 'silent' }));
    const writing = presence.connected('dev-2');
    await presence.disconnected('dev-2');
    await writing;
    expect(keys.has('presence:dev-2')).toBe(false);
    expect(calls.filter((c) => c.startsWith('set')).length).toBeLessThanOrEqual(2);
  });
});
