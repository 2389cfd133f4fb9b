import { createRequire } from 'node:module';
import { parseConfig } from '../../bridge/config/load.js';
import { BridgeMetrics } from '../../bridge/observability/metrics.js';
import { openRedis, type RedisClient } from '../../bridge/redis/connection.js';
import { GuardedPersistence } from '../../bridge/redis/persistence.js';
import { testLogger } from './support/bridge.js';
import { REDIS_URL, uniqueId } from './support/env.js';

const createEmitter = createRequire(import.meta.url)('mqemitter') as () => { on(t: string, f: unknown, done: () => void): void; emit(p: unknown, done: () => void): void };

/**
 * The offline queue of two pods on one Redis, without aedes around it: one message queued for two
 * persistent sessions, delivered twice to the first (live by one pod, from its queue by the
 * other) and acknowledged twice, must stay queued for the second.
 */
const connections: RedisClient[] = [];

function pod(prefix: string): GuardedPersistence {
  const cfg = parseConfig({ sessionStore: { redis: { url: REDIS_URL } } });
  const db = openRedis(cfg, testLogger(), 'persistence-test', { keyPrefix: prefix });
  connections.push(db);
  void db.connect();
  return new GuardedPersistence({ db, cluster: false, ttlSeconds: 600, mustBeKept: () => true, metrics: new BridgeMetrics(), log: testLogger() });
}

afterAll(async () => {
  await Promise.all(connections.map((c) => c.quit()));
});

test('a message delivered twice to one session and acknowledged twice stays queued for another offline session', async () => {
  const prefix = `it:${uniqueId('pers-')}:`;
  const [a, b] = [pod(prefix), pod(prefix)];
  await new Promise((r) => setTimeout(r, 300));
  const packet = { cmd: 'publish', topic: 'x/y', payload: Buffer.from('kept'), qos: 1, retain: false, dup: false, brokerId: 'pod-x', brokerCounter: 7 };
  const subs = ['GID_p@@@first', 'GID_p@@@second'].map((clientId) => ({ clientId, topic: 'x/#', qos: 1 }));
  await a.outgoingEnqueueCombi(subs as never, packet as never);

  const first = { id: 'GID_p@@@first' };
  await a.outgoingUpdate(first as never, { ...packet, messageId: 1 } as never);
  await b.outgoingUpdate(first as never, { ...packet, messageId: 5 } as never);
  await a.outgoingClearMessageId(first as never, { cmd: 'puback', messageId: 1 } as never);
  await b.outgoingClearMessageId(first as never, { cmd: 'puback', messageId: 5 } as never);

  const queued: { payload: Buffer }[] = [];
  for await (const p of b.outgoingStream({ id: 'GID_p@@@second' } as never) as AsyncIterable<{ payload: Buffer }>) queued.push(p);
  expect(queued.map((p) => Buffer.from(p.payload).toString())).toEqual(['kept']);
});

test('a new pod loads every persistent session from reads sent at once, and matches their subscriptions', async () => {
  const prefix = `it:${uniqueId('preload-')}:`;
  const writer = pod(prefix);
  // The library waits to hear its own subscription broadcasts: a broker of one process, on mqemitter.
  const mq = createEmitter();
  const broker = { id: 'pod-w', subscribe: (t: string, f: unknown, done: () => void) => mq.on(t, f, done), publish: (p: unknown, done: () => void) => mq.emit(p, done) };
  await writer.setup(broker);
  const ids = Array.from({ length: 3_000 }, (_, i) => `GID_pre@@@dev-${i}`);
  for (let i = 0; i < ids.length; i += 500) {
    await Promise.all(ids.slice(i, i + 500).map((id, k) => writer.addSubscriptions({ id } as never, [{ topic: `pre/${i + k}/#`, qos: 1 }] as never)));
  }
  const reader = pod(prefix);
  await reader.setup({ ...broker, id: 'pod-r' });
  // aedes-persistence-redis still reads one client after another: every hash came from the preload.
  expect(reader.lastLoad).toMatchObject({ clients: 3_000, served: 3_000 });
  const found = (await reader.subscriptionsByTopic('pre/1234/x')) as Array<{ clientId: string }>;
  expect(found.map((s) => s.clientId)).toEqual(['GID_pre@@@dev-1234']);
});
