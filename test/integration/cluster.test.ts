import { Redis } from 'ioredis';
import type { Producer } from 'rocketmq-client-nodejs';
import type { Bridge } from '../../bridge/bridge.js';
import { countBy, podsSpec, readyz, startPods, sumMetric } from './support/cluster.js';
import { GROUPS, REDIS_URL, TOPICS, sleep, uniqueId, waitFor } from './support/env.js';
import { Device, type Received } from './support/mqtt.js';
import { RawClient } from './support/raw.js';
import { AppConsumer, appProducer, appSend } from './support/rocketmq.js';

// Three pods of one bridge in this process, sharing a Redis and a consumer group.
const spec = podsSpec('cl', GROUPS.bridgeCluster, { mqttParentTopic: 'clus', rocketmqTopic: TOPICS.cluster });
/** The Redis key and channel prefix of this bridge's pods. */
const PREFIX = `it:${spec.name}:`;
let pods: Bridge[];
let producer: Producer;
let app: AppConsumer;
const devices: Device[] = [];

async function device(pod: number, options: Parameters<typeof Device.connect>[1] = {}): Promise<Device> {
  const d = await Device.connect(pods[pod]!.mqttPort, { clientId: uniqueId('GID_cl@@@'), ...options });
  devices.push(d);
  return d;
}

/** Resolves when Redis runs the session claim (an EVAL on `claimKey`), as a MONITOR connection sees it. */
function sessionClaimed(monitor: Redis, claimKey: string): Promise<void> {
  return new Promise<void>((resolve) => {
    const heard = (_time: string, args: string[]) => {
      if (args[0]?.toLowerCase() !== 'eval' || !args.includes(claimKey)) return;
      monitor.off('monitor', heard);
      resolve();
    };
    monitor.on('monitor', heard);
  });
}

/**
 * Connects a client to `pod` while Redis refuses writes for a moment (maxmemory reached: OOM
 * errors, connections stay up, so the store's health never flips and nothing else writes again)
 * right after its session claim, when the pod sets the session up: a persistent session's P2P
 * inbox, then the client's presence. Attempts until one had a write of `operations` refused;
 * the attempt is the device, or the error of a CONNECT that was refused.
 */
async function connectWhileRedisRefusesWrites(pod: number, options: { clean?: boolean }, operations: string[]): Promise<{ attempt: Device | Error; id: string }> {
  const refusals = async () => (await Promise.all(operations.map((operation) => sumMetric(pods, 'mqbridge_session_store_degraded_total', { operation })))).reduce((a, b) => a + b, 0);
  const monitor = await new Redis(REDIS_URL).monitor();
  const admin = new Redis(REDIS_URL);
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      const id = uniqueId('GID_cl@@@oom-');
      const claimed = sessionClaimed(monitor, `${PREFIX}session:${encodeURIComponent(id)}`);
      const refusedBefore = await refusals();
      const connecting = device(pod, { clientId: id, ...options }).catch((err: Error) => err);
      await claimed;
      await admin.config('SET', 'maxmemory', '1');
      await sleep(300);
      await admin.config('SET', 'maxmemory', '0');
      const settled = await connecting;
      if ((await refusals()) > refusedBefore) return { attempt: settled, id };
      if (settled instanceof Device) await settled.end();
    }
  } finally {
    await admin.config('SET', 'maxmemory', '0');
    monitor.disconnect();
    admin.disconnect();
  }
  throw new Error('no attempt had its writes refused');
}

const payloads = (received: Received[]) => received.map((r) => r.payload.toString());
const onceEach = (received: Received[], want: string[]) => {
  const counts = countBy(payloads(received), (p) => p);
  return want.every((p) => counts.get(p) === 1) && received.length === want.length;
};

beforeAll(async () => {
  producer = await appProducer();
  app = await AppConsumer.start(TOPICS.cluster, GROUPS.appCluster);
  pods = await startPods(spec, 3);
  await sleep(1_500); // consumers up
});

afterEach(async () => {
  await Promise.all(devices.splice(0).map((d) => d.end().catch(() => undefined)));
});

afterAll(async () => {
  await Promise.all((pods ?? []).map((p) => p.stop()));
  await app?.stop();
  await producer?.shutdown();
});

describe('three pods sharing Redis behave as one MQTT service', () => {
  test('readiness includes the session store', async () => {
    const { status, checks } = await readyz(pods[0]!.httpPort);
    expect(status).toBe(200);
    expect(checks.sessionStore).toBe(true);
  });

  test('a device on one pod reaches subscribers on every pod, wildcards included, once each; RocketMQ has each once', async () => {
    const m = uniqueId('d2d');
    const exact = await device(0);
    const plus = await device(1);
    const hash = await device(2);
    const qos0 = await device(1);
    await exact.subscribe(`clus/${m}/temp`, 1);
    await plus.subscribe(`clus/+/temp`, 1);
    await hash.subscribe(`clus/#`, 2);
    await qos0.subscribe(`clus/${m}/#`, 0);
    const sender = await device(0);
    const sent = Array.from({ length: 20 }, (_, i) => `${m}-${i}`);
    for (const p of sent) await sender.publish(`clus/${m}/temp`, p, 1);

    const mine = (d: Device) => d.received.filter((r) => r.topic === `clus/${m}/temp`);
    await waitFor('every subscriber has all', () => [exact, plus, hash, qos0].every((d) => mine(d).length >= sent.length) || undefined);
    await app.waitFor((msg) => msg.properties.get('mqttSecondTopic') === `/${m}/temp`, sent.length);
    await sleep(2_000); // the RocketMQ copies come round to a pod and must not be delivered again
    for (const d of [exact, plus, hash, qos0]) expect(onceEach(mine(d), sent)).toBe(true);
    expect(app.matching((msg) => msg.properties.get('mqttSecondTopic') === `/${m}/temp`)).toHaveLength(sent.length);
  });

  test('a RocketMQ message, consumed by one pod, reaches the subscribers of every pod exactly once', async () => {
    const m = uniqueId('down');
    const subs = [await device(0), await device(1), await device(2), await device(2)];
    await Promise.all(subs.map((d, i) => d.subscribe(i === 3 ? `clus/+/x` : `clus/${m}/#`, i === 3 ? 2 : 1)));
    const sent = Array.from({ length: 20 }, (_, i) => `${m}-${i}`);
    for (const [i, p] of sent.entries()) await appSend(producer, TOPICS.cluster, p, { mqttSecondTopic: `/${m}/x`, qoslevel: i % 2 ? '2' : '1' });

    const mine = (d: Device) => d.received.filter((r) => r.topic === `clus/${m}/x`);
    await waitFor('all delivered everywhere', () => subs.every((d) => mine(d).length >= sent.length) || undefined, 60_000);
    await sleep(2_000);
    for (const d of subs) expect(onceEach(mine(d), sent)).toBe(true);
  });

  test('P2P reaches its target on another pod, from a device and from RocketMQ; cleansessionflag=true only while online', async () => {
    const targetId = uniqueId('GID_cl@@@target-');
    const target = await device(2, { clientId: targetId });
    const bystander = await device(1);
    await bystander.subscribe('clus/#', 2);
    const sender = await device(0);
    await sender.publish(`clus/p2p/${targetId}`, 'from-device', 1);
    await appSend(producer, TOPICS.cluster, 'from-app', { mqttSecondTopic: `/p2p/${targetId}`, cleansessionflag: 'true' });
    await appSend(producer, TOPICS.cluster, 'renamed', { mqttSecondTopic: `/p2p/${targetId}`, mqttRealTopic: '/inbox' });
    await waitFor('three P2P messages', () => (target.received.length >= 3 ? true : undefined), 60_000);
    expect(Object.fromEntries(target.received.map((r) => [r.payload.toString(), r.topic]))).toEqual({
      'from-device': `clus/p2p/${targetId}`,
      'from-app': `clus/p2p/${targetId}`,
      renamed: 'clus/inbox',
    });

    const before = await sumMetric(pods, 'mqbridge_refusals_total', { reason: 'p2p_target_offline' });
    await appSend(producer, TOPICS.cluster, 'nobody', { mqttSecondTopic: `/p2p/${uniqueId('GID_cl@@@absent-')}`, cleansessionflag: 'true' });
    await waitFor('offline drop counted', async () => (await sumMetric(pods, 'mqbridge_refusals_total', { reason: 'p2p_target_offline' })) > before || undefined, 60_000);
    await sleep(1_000);
    expect(target.received).toHaveLength(3);
    expect(bystander.received.filter((r) => r.topic.includes(targetId) || r.topic === 'clus/inbox')).toEqual([]);
  });

  test('a P2P message travels to its target\'s pod only: one Redis delivery on that pod\'s channel, none on a shared one', async () => {
    const redis = new Redis(REDIS_URL);
    const watcher = new Redis(REDIS_URL);
    const marker = uniqueId('p2p-route-');
    const heard: string[] = [];
    watcher.on('pmessageBuffer', (_p: Buffer, channel: Buffer, message: Buffer) => message.includes(marker) && heard.push(channel.toString()));
    await watcher.psubscribe(`${PREFIX}*`);
    try {
      const persistentId = uniqueId('GID_cl@@@inbox-');
      const cleanId = uniqueId('GID_cl@@@clean-');
      const persistent = await device(2, { clientId: persistentId, clean: false });
      const clean = await device(1, { clientId: cleanId });
      // Every pod has P2P routes (clean sessions) and pod 2 an inbox filter: still no shared channel for them.
      expect(await redis.call('PUBSUB', 'NUMSUB', `${PREFIX}t:$mqbridge`)).toEqual([`${PREFIX}t:$mqbridge`, 0]);
      const sender = await device(0);
      await sender.publish(`clus/p2p/${persistentId}`, `${marker}-a`, 1);
      await sender.publish(`clus/p2p/${cleanId}`, `${marker}-b`, 1);
      await waitFor('both delivered', () => (persistent.received.length === 1 && clean.received.length === 1) || undefined);
      await sleep(300);
      const [podOf1, podOf2] = await Promise.all([cleanId, persistentId].map((id) => redis.get(`${PREFIX}presence:${encodeURIComponent(id)}`)));
      expect(heard.sort()).toEqual([`${PREFIX}p:${podOf1}`, `${PREFIX}p:${podOf2}`].sort());
      expect(podOf1).not.toEqual(podOf2);
    } finally {
      watcher.disconnect();
      redis.disconnect();
    }
  });

  test('attempts of a client id that end before their CONNACK neither take over its live connection nor take its P2P messages', async () => {
    const id = uniqueId('GID_cl@@@stays-');
    const target = await device(2, { clientId: id, clean: false });
    // What devices that gave up waiting for a CONNACK leave on a busy pod: a CONNECT, then the
    // socket closes while the pod waits for Redis. Here Redis holds writes from the moment the
    // attempt's session claim is written: the pod is at its next write (presence, will) when the socket closes.
    const claimKey = `${PREFIX}session:${encodeURIComponent(id)}`;
    const monitor = await new Redis(REDIS_URL).monitor();
    const admin = new Redis(REDIS_URL);
    let connacks = 0;
    try {
      for (let i = 0; i < 5; i++) {
        const claimed = sessionClaimed(monitor, claimKey);
        const attempt = await RawClient.open(pods[1]!.mqttPort);
        attempt.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: false, clientId: id, keepalive: 60 });
        await claimed;
        await admin.call('CLIENT', 'PAUSE', '300', 'WRITE');
        connacks += attempt.packets.filter((p) => p.cmd === 'connack').length;
        attempt.end();
        await attempt.closed;
        await sleep(500);
      }
    } finally {
      monitor.disconnect();
      admin.disconnect();
    }
    expect(connacks).toBe(0);
    await sleep(1_000);
    expect(target.connected).toBe(true);
    const sender = await device(0);
    await sender.publish(`clus/p2p/${id}`, 'from-device', 1);
    await appSend(producer, TOPICS.cluster, 'from-app', { mqttSecondTopic: `/p2p/${id}` });
    // Live, on the connection it has: not left in its offline queue until it reconnects.
    await waitFor('both delivered live', () => (target.received.length >= 2 ? true : undefined), 30_000);
    expect(payloads(target.received).sort()).toEqual(['from-app', 'from-device']);
    expect(target.connected).toBe(true);
  });

  test('a presence write that Redis refuses is retried: P2P messages still find the connected client', async () => {
    const { attempt: target, id } = await connectWhileRedisRefusesWrites(1, {}, ['presence_set']);
    if (!(target instanceof Device)) throw target;
    const redis = new Redis(REDIS_URL);
    try {
      await waitFor('the presence written after all', async () => ((await redis.get(`${PREFIX}presence:${encodeURIComponent(id)}`)) ? true : undefined), 10_000);
    } finally {
      redis.disconnect();
    }
    const sender = await device(0);
    await sender.publish(`clus/p2p/${id}`, 'from-device', 1);
    await appSend(producer, TOPICS.cluster, 'from-app', { mqttSecondTopic: `/p2p/${id}`, cleansessionflag: 'true' });
    await waitFor('both delivered', () => (target.received.length >= 2 ? true : undefined), 30_000);
    expect(payloads(target.received).sort()).toEqual(['from-app', 'from-device']);
  });

  test('a new persistent session is never connected without its P2P inbox: a CONNECT whose inbox Redis refuses fails, and the session gets every P2P message, online and offline', async () => {
    const inboxRefusals = () => sumMetric(pods, 'mqbridge_session_store_degraded_total', { operation: 'p2p_inbox_store' });
    const inboxRefusedBefore = await inboxRefusals();
    const { attempt, id } = await connectWhileRedisRefusesWrites(1, { clean: false }, ['p2p_inbox_store', 'presence_set']);
    if (attempt instanceof Error) expect(await inboxRefusals()).toBeGreaterThan(inboxRefusedBefore);
    // A device whose CONNECT failed connects again.
    const target = attempt instanceof Device ? attempt : await device(1, { clientId: id, clean: false });
    const sender = await device(0);
    await sender.publish(`clus/p2p/${id}`, 'online-device', 1);
    await appSend(producer, TOPICS.cluster, 'online-app', { mqttSecondTopic: `/p2p/${id}`, cleansessionflag: 'false' });
    await waitFor('both delivered live', () => (target.received.length >= 2 ? true : undefined), 30_000);
    expect(payloads(target.received).sort()).toEqual(['online-app', 'online-device']);
    await target.end();
    await sender.publish(`clus/p2p/${id}`, 'offline-device', 1);
    await appSend(producer, TOPICS.cluster, 'offline-app', { mqttSecondTopic: `/p2p/${id}`, cleansessionflag: 'false' });
    await sleep(3_000); // the app message is consumed by some pod meanwhile
    const back = await device(2, { clientId: id, clean: false });
    await waitFor('both kept while offline', () => (back.received.length >= 2 ? true : undefined), 30_000);
    expect(payloads(back.received).sort()).toEqual(['offline-app', 'offline-device']);
  });

  test('a persistent session keeps subscriptions and QoS 1 messages while offline, and gets them on another pod', async () => {
    const m = uniqueId('sess');
    const id = uniqueId('GID_cl@@@persistent-');
    const first = await device(0, { clientId: id, clean: false });
    await first.subscribe(`clus/${m}/#`, 1);
    await first.end();

    const sender = await device(1);
    for (let i = 0; i < 5; i++) await sender.publish(`clus/${m}/dev`, `dev-${i}`, 1);
    for (let i = 0; i < 5; i++) await appSend(producer, TOPICS.cluster, `app-${i}`, { mqttSecondTopic: `/${m}/app` });
    const before = await sumMetric(pods, 'mqbridge_refusals_total', { reason: 'p2p_target_offline' });
    await appSend(producer, TOPICS.cluster, 'kept', { mqttSecondTopic: `/p2p/${id}`, cleansessionflag: 'false' });
    await appSend(producer, TOPICS.cluster, 'dropped', { mqttSecondTopic: `/p2p/${id}`, cleansessionflag: 'true' });
    await waitFor('offline drop counted', async () => (await sumMetric(pods, 'mqbridge_refusals_total', { reason: 'p2p_target_offline' })) > before || undefined, 60_000);
    await sleep(3_000); // the app messages are consumed by some pod meanwhile

    const back = await device(2, { clientId: id, clean: false });
    const want = [...Array.from({ length: 5 }, (_, i) => `dev-${i}`), ...Array.from({ length: 5 }, (_, i) => `app-${i}`), 'kept'];
    await waitFor('queued messages', () => (back.received.length >= want.length ? true : undefined), 30_000);
    await sleep(1_000);
    expect(onceEach(back.received, want)).toBe(true);
    expect(back.received.find((r) => r.payload.toString() === 'kept')?.topic).toBe(`clus/p2p/${id}`);
    // The subscription came back too: a new message arrives live.
    await sender.publish(`clus/${m}/live`, 'live', 1);
    await waitFor('live message', () => back.received.find((r) => r.payload.toString() === 'live'));
  });

  test('QoS 2 exactly once when the device moves pods: a DUP of a PUBLISH stored through another pod is not stored again', async () => {
    const clientId = uniqueId('GID_cl@@@q2-');
    const m = uniqueId('q2');
    const publish = { cmd: 'publish' as const, topic: `clus/${m}`, payload: Buffer.from('once'), qos: 2 as const, messageId: 4343, retain: false };
    const first = await RawClient.connected(pods[0]!.mqttPort, clientId, 4, false);
    first.send({ ...publish, dup: false });
    await first.next('pubrec');
    first.end(); // no PUBREL: the device retransmits after reconnecting, here to another pod
    await first.closed;
    const second = await RawClient.connected(pods[1]!.mqttPort, clientId, 4, false);
    second.send({ ...publish, dup: true });
    await second.next('pubrec');
    second.send({ cmd: 'pubrel', messageId: 4343 });
    await second.next('pubcomp');
    second.end();
    await app.waitFor((msg) => msg.properties.get('mqttSecondTopic') === `/${m}`);
    await sleep(1_500);
    expect(app.matching((msg) => msg.properties.get('mqttSecondTopic') === `/${m}`)).toHaveLength(1);
  });

  test('one client id, one session: connecting on another pod takes over and the first connection is closed', async () => {
    const m = uniqueId('take');
    const id = uniqueId('GID_cl@@@takeover-');
    const first = await device(0, { clientId: id, clean: false });
    await first.subscribe(`clus/${m}`, 1);
    const second = await device(1, { clientId: id, clean: false });
    await first.waitClosed(15_000);
    const sender = await device(2);
    await sender.publish(`clus/${m}`, 'after-takeover', 1);
    await waitFor('delivered to the new connection', () => second.received[0]);
    await sleep(1_000);
    expect(payloads(second.received)).toEqual(['after-takeover']);
    expect(first.received).toEqual([]);
  });
});

test('a persistent session offline past sessionExpirySeconds ends: its subscriptions and queued messages are gone', async () => {
  const short = podsSpec('clex', GROUPS.bridgeCluster, { mqttParentTopic: 'clex', rocketmqTopic: TOPICS.cluster }, { sessionStore: { sessionExpirySeconds: 2, expirySweepMs: 300 } });
  const two = await startPods(short, 2);
  try {
    const id = uniqueId('GID_cl@@@expiring-');
    const first = await Device.connect(two[0]!.mqttPort, { clientId: id, clean: false });
    await first.subscribe('clex/x', 1);
    await first.end();
    const sender = await Device.connect(two[1]!.mqttPort);
    devices.push(sender);
    await sender.publish('clex/x', 'queued', 1);
    await waitFor('session expired', async () => (await sumMetric(two, 'mqbridge_sessions_expired_total')) >= 1 || undefined, 30_000);

    const back = await Device.connect(two[1]!.mqttPort, { clientId: id, clean: false });
    devices.push(back);
    await sender.publish('clex/x', 'after', 1);
    await sleep(2_000);
    expect(payloads(back.received)).toEqual([]);
  } finally {
    await Promise.all(two.map((p) => p.stop()));
  }
});
