import { createRequire } from 'node:module';
import { parseConfig } from '../../bridge/config/load.js';
import { BridgeMetrics } from '../../bridge/observability/metrics.js';
import { openRedis, type RedisClient } from '../../bridge/redis/connection.js';
import { GuardedPersistence } from '../../bridge/redis/persistence.js';
import { metricValue, testLogger } from './support/bridge.js';
import { REDIS_URL, uniqueId } from './support/env.js';

const createEmitter = createRequire(import.meta.url)('mqemitter') as () => { on(t: string, f: unknown, done: () => void): void; emit(p: unknown, done: () => void): void };

/**
 * The offline queue of two pods on one Redis, without aedes around it: one message queued for two
 * persistent sessions, delivered twice to the first (live by one pod, from its queue by the
 * other) and acknowledged twice, must stay queued for the second.
 */
const connections: RedisClient[] = [];

function pod(prefix: string, metrics = new BridgeMetrics()): GuardedPersistence {
  const cfg = parseConfig({ sessionStore: { redis: { url: REDIS_URL } } });
  const db = openRedis(cfg, testLogger(), 'persistence-test', { keyPrefix: prefix });
  connections.push(db);
  void db.connect();
  return new GuardedPersistence({ db, cluster: false, ttlSeconds: 600, mustBeKept: () => true, metrics, log: testLogger() });
}

afterAll(async () => {
  await Promise.all(connections.map((c) => c.quit().catch(() => c.disconnect())));
});

/** The library waits to hear its own subscription broadcasts: a broker of one process, on mqemitter. */
function oneProcessBroker(id: string) {
  const mq = createEmitter();
  return { id, subscribe: (t: string, f: unknown, done: () => void) => mq.on(t, f, done), publish: (p: unknown, done: () => void) => mq.emit(p, done) };
}

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
  const broker = oneProcessBroker('pod-w');
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

test('a will list update the library does not wait for, failing as the connection closes, is counted, not an unhandled rejection', async () => {
  const metrics = new BridgeMetrics();
  const persistence = pod(`it:${uniqueId('wills-')}:`, metrics);
  await persistence.setup(oneProcessBroker('pod-c'));
  const db = connections.at(-1)!;
  // Sent after QUIT: Redis never answers them, and ioredis rejects them when the socket closes.
  const closed = db.quit().catch(() => undefined); // answered, or cut off by the close: either way it is gone
  const client = { id: uniqueId('GID_w@@@closing-') };
  const will = { cmd: 'publish', topic: 'w/x', payload: Buffer.from('bye'), qos: 1, retain: false };
  // Its SET it does wait for, and putWill reports that: cut off by the close, or refused once the socket no longer takes writes.
  await expect(persistence.putWill(client as never, will as never)).rejects.toThrow(/Connection is closed|Stream isn't writeable/);
  await closed;
  await new Promise((r) => setImmediate(r));
  // putWill's LREM and RPUSH, which the library sends without waiting for them.
  expect(await metricValue({ metrics }, 'mqbridge_session_store_degraded_total', { operation: 'will_list_update' })).toBe(2);
});
