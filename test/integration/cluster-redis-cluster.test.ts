import { RedisRevocationList } from '../../bridge/auth/redis-revocations.js';
import { Bridge } from '../../bridge/bridge.js';
import { parseConfig } from '../../bridge/config/load.js';
import { redisKeyPrefixOf } from '../../bridge/config/schema.js';
import { connectRedis } from '../../bridge/redis/connection.js';
import { testLogger } from './support/bridge.js';
import { podConfig, podsSpec } from './support/cluster.js';
import { GROUPS, TOPICS, sleep, uniqueId, waitFor } from './support/env.js';
import { Device } from './support/mqtt.js';

// npm test starts a 3-node Cluster (test/env/redis.sh start-cluster) and names its seeds here.
const CLUSTER_URL = process.env.MQBRIDGE_TEST_REDIS_CLUSTER;

test('two pods on a Redis Cluster: cross-pod delivery, P2P, a persistent session restored on the other pod', async () => {
  const spec = podsSpec('clrc', GROUPS.bridgeCluster, { mqttParentTopic: 'clrc', rocketmqTopic: TOPICS.cluster });
  const config = () => {
    const c = podConfig(spec);
    return { ...c, sessionStore: { ...c.sessionStore, redis: { url: CLUSTER_URL!, cluster: true, keyPrefix: `it:${spec.name}:` } } };
  };
  if (!CLUSTER_URL) throw new Error('MQBRIDGE_TEST_REDIS_CLUSTER is not set: start a Cluster with test/env/redis.sh start-cluster');
  const pods = await Promise.all([0, 1].map(() => Bridge.start(config(), { log: testLogger() })));
  try {
    await Promise.all(pods.map((p) => waitFor('ready', () => p.readiness().ready, 60_000)));
    const m = uniqueId('rc');
    const id = uniqueId('GID_clrc@@@p-');
    const persistent = await Device.connect(pods[0]!.mqttPort, { clientId: id, clean: false });
    await persistent.subscribe(`clrc/${m}/#`, 1);
    await persistent.end();
    const live = await Device.connect(pods[0]!.mqttPort);
    await live.subscribe(`clrc/${m}/#`, 1);
    const target = await Device.connect(pods[0]!.mqttPort, { clientId: uniqueId('GID_clrc@@@t-') });
    const sender = await Device.connect(pods[1]!.mqttPort);
    await sender.publish(`clrc/${m}/x`, 'cross', 1);
    await sender.publish(`clrc/p2p/${target.client.options.clientId}`, 'p2p', 1);
    await waitFor('cross-pod', () => live.received.find((r) => r.payload.toString() === 'cross'));
    await waitFor('P2P', () => target.received.find((r) => r.payload.toString() === 'p2p'));
    const back = await Device.connect(pods[1]!.mqttPort, { clientId: id, clean: false });
    await waitFor('queued message restored on the other pod', () => back.received.find((r) => r.payload.toString() === 'cross'));
    await sleep(500);
    expect(back.received.map((r) => r.payload.toString())).toEqual(['cross']);
    await Promise.all([live, target, sender, back].map((d) => d.end()));
  } finally {
    await Promise.all(pods.map((p) => p.stop()));
  }
});

test('token revocations on a Redis Cluster: pushed to the other pod, read by a pod started later', async () => {
  if (!CLUSTER_URL) throw new Error('MQBRIDGE_TEST_REDIS_CLUSTER is not set: start a Cluster with test/env/redis.sh start-cluster');
  const cfg = parseConfig({ bridge: { name: uniqueId('rev-') }, sessionStore: { redis: { url: CLUSTER_URL, cluster: true } } });
  const log = testLogger();
  const list = () => new RedisRevocationList({ client: connectRedis(cfg, log, 'rev'), subscriber: connectRedis(cfg, log, 'rev-push'), keyPrefix: redisKeyPrefixOf(cfg), resyncMs: 1_000, log });
  const [a, b] = [list(), list()];
  await Promise.all([a.start(), b.start()]);
  const later = list();
  try {
    expect([a.synced, b.synced]).toEqual([true, true]);
    const seen = new Promise<string>((resolve) => b.onRevoked(resolve));
    const id = '0123456789abcdef0123456789abcdef';
    await a.revoke(id, Math.floor(Date.now() / 1000) + 600);
    expect(await seen).toBe(id);
    await later.start();
    expect(later.isRevoked(id)).toBe(true);
  } finally {
    await Promise.all([a.stop(), b.stop(), later.stop()]);
  }
});
