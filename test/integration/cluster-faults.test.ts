import type { Producer } from 'rocketmq-client-nodejs';
import { Bridge } from '../../bridge/bridge.js';
import { testLogger } from './support/bridge.js';
import { countBy, podConfig, podsSpec, readyz, startPods, sumMetric } from './support/cluster.js';
import { GROUPS, TOPICS, sleep, uniqueId, waitFor } from './support/env.js';
import { Device } from './support/mqtt.js';
import { spawnBridge, type BridgeProcess } from './support/process.js';
import { RoamingDevice, redisCtl } from './support/roaming.js';
import { AppConsumer, appProducer, appSend } from './support/rocketmq.js';

const binding = { mqttParentTopic: 'clft', rocketmqTopic: TOPICS.clusterFault };
let producer: Producer;
let app: AppConsumer;

beforeAll(async () => {
  producer = await appProducer();
  app = await AppConsumer.start(TOPICS.clusterFault, GROUPS.appClusterFault);
});

afterAll(async () => {
  await app?.stop();
  await producer?.shutdown();
});

describe('Redis goes away and comes back', () => {
  let pods: Bridge[] = [];
  afterAll(async () => {
    await redisCtl('status').catch(() => redisCtl('restart'));
    await Promise.all(pods.map((p) => p.stop()));
  });

  test('pods turn not ready, refuse persistent sessions with CONNACK 3, keep clean sessions working, and recover by themselves', async () => {
    pods = await startPods(podsSpec('clft', GROUPS.bridgeClusterFault, binding), 2);
    await sleep(1_500);
    const m = uniqueId('redis');
    const id = uniqueId('GID_clft@@@persistent-');
    const persistent = await Device.connect(pods[1]!.mqttPort, { clientId: id, clean: false });
    await persistent.subscribe(`clft/${m}/#`, 1);
    await persistent.end();
    const local = await Device.connect(pods[0]!.mqttPort, { keepalive: 120 });
    await local.subscribe(`clft/${m}/#`, 1);
    const sender = await Device.connect(pods[0]!.mqttPort, { keepalive: 120 });
    await sender.publish(`clft/${m}/dev`, 'before', 1);
    await sleep(1_500); // Redis writes its append-only file every second

    await redisCtl('stop', '--kill');
    for (const pod of pods) {
      await waitFor('not ready', async () => ((await readyz(pod.httpPort)).status === 503 ? true : undefined), 30_000);
      expect((await readyz(pod.httpPort)).checks).toMatchObject({ sessionStore: false, rocketmqReachable: true });
    }
    await expect(Device.connect(pods[0]!.mqttPort, { clientId: uniqueId('GID_clft@@@new-'), clean: false })).rejects.toMatchObject({ code: 3 });
    expect(await sumMetric(pods, 'mqbridge_refusals_total', { reason: 'session_store_unavailable' })).toBeGreaterThan(0);
    expect(await sumMetric(pods, 'mqbridge_session_store_up')).toBe(0);

    // Clean sessions connect, publish to RocketMQ and reach subscribers on the same pod.
    const fresh = await Device.connect(pods[0]!.mqttPort, { keepalive: 120 });
    await fresh.publish(`clft/${m}/dev`, 'during', 1);
    await waitFor('delivered on this pod', () => local.received.find((r) => r.payload.toString() === 'during'));
    await app.waitFor((msg) => msg.body.toString() === 'during');
    // RocketMQ → MQTT waits in RocketMQ meanwhile.
    await appSend(producer, TOPICS.clusterFault, 'app-during', { mqttSecondTopic: `/${m}/app` });
    await waitFor('downlink deferred', async () => (await sumMetric(pods, 'mqbridge_session_store_degraded_total', { operation: 'downlink_left_in_rocketmq' })) > 0 || undefined, 30_000);

    await redisCtl('restart');
    for (const pod of pods) await waitFor('ready again', async () => ((await readyz(pod.httpPort)).status === 200 ? true : undefined), 30_000);
    expect(await sumMetric(pods, 'mqbridge_session_store_outages_total')).toBe(2);
    const back = await Device.connect(pods[0]!.mqttPort, { clientId: id, clean: false });
    await waitFor('the persistent session kept its message and gets the deferred one', () =>
      ['before', 'app-during'].every((p) => back.received.some((r) => r.payload.toString() === p)) || undefined, 60_000);
    await waitFor('the clean subscriber gets the deferred one too', () => local.received.find((r) => r.payload.toString() === 'app-during'), 60_000);
    await Promise.all([local, sender, fresh, back].map((d) => d.end()));
  });
});

test('a pod started while Redis is away serves /healthz, is not ready, and comes up when Redis does', async () => {
  const spec = podsSpec('clstart', GROUPS.bridgeClusterFault, binding);
  const http = 41_110;
  await redisCtl('stop', '--kill');
  let pod: Bridge | undefined;
  let failed: Error | undefined;
  const starting = Bridge.start(podConfig(spec, { http }), { log: testLogger() }).then(
    (b) => (pod = b),
    (err: Error) => (failed = err),
  );
  try {
    await waitFor('/healthz', async () => failed ?? ((await fetch(`http://127.0.0.1:${http}/healthz`)).ok || undefined), 60_000);
    expect(failed).toBeUndefined();
    await sleep(2_000);
    expect((await readyz(http)).status).toBe(503);
    expect(pod).toBeUndefined(); // still waiting for the sessions in Redis
  } finally {
    await redisCtl('restart');
  }
  await starting;
  await waitFor('ready', () => pod!.readiness().ready, 60_000);
  await pod!.stop();
});

describe('kill -9 of a pod under steady QoS 1 load in both directions', () => {
  let procs: BridgeProcess[] = [];
  afterAll(() => procs.forEach((p) => p.child.kill('SIGKILL')));

  test('no acknowledged message is lost; duplicates are counted', async () => {
    const spec = podsSpec('clkill', GROUPS.bridgeClusterFault, binding);
    procs = await Promise.all([0, 1, 2].map(() => spawnBridge(podConfig(spec))));
    await Promise.all(procs.map((p) => waitFor('ready', async () => ((await readyz(p.httpPort)).status === 200 ? true : undefined), 60_000)));
    const ports = procs.map((p) => p.mqttPort);
    const m = uniqueId('kill');
    const subscribers = await Promise.all([0, 1, 2].map((i) => RoamingDevice.connect(ports, i, { clientId: uniqueId(`GID_clft@@@sub${i}-`), clean: false })));
    await Promise.all(subscribers.map((s) => s.client.subscribeAsync(`clft/${m}/#`, { qos: 1 })));
    const publishers = await Promise.all([0, 1, 2].map((i) => RoamingDevice.connect(ports, i, { clientId: uniqueId(`GID_clft@@@pub${i}-`), clean: false })));

    const acked: string[] = [];
    const pending: Promise<unknown>[] = [];
    const sentDown: string[] = [];
    const started = Date.now();
    let killed = false;
    for (let tick = 0; Date.now() - started < 12_000; tick++) {
      publishers.forEach((p, i) => {
        const payload = `up-${i}-${tick}`;
        pending.push(p.client.publishAsync(`clft/${m}/up`, payload, { qos: 1 }).then(() => acked.push(payload)));
      });
      const down = `down-${tick}`;
      pending.push(appSend(producer, TOPICS.clusterFault, down, { mqttSecondTopic: `/${m}/down` }).then(() => sentDown.push(down)));
      if (!killed && Date.now() - started > 4_000) {
        procs[1]!.child.kill('SIGKILL');
        killed = true;
      }
      await sleep(100);
    }
    await Promise.race([Promise.allSettled(pending), sleep(60_000)]);

    // Device → RocketMQ: every acknowledged PUBLISH is stored.
    const stored = await app.waitFor((msg) => msg.properties.get('mqttSecondTopic') === `/${m}/up`, acked.length, 60_000);
    const storedCounts = countBy(stored, (msg) => msg.body.toString());
    const lostUp = acked.filter((p) => !storedCounts.has(p));
    // RocketMQ → devices: every persistent subscriber gets every message sent (redelivery takes the invisible duration).
    const downOf = (s: RoamingDevice) => countBy(s.received.filter((r) => r.topic === `clft/${m}/down`), (r) => r.payload.toString());
    await waitFor('downlink complete', () => subscribers.every((s) => sentDown.every((d) => downOf(s).has(d))) || undefined, 90_000).catch(() => undefined);
    const lostDown = subscribers.map((s) => sentDown.filter((d) => !downOf(s).has(d)).length);
    // Device → device, through the pods' shared emitter and queues.
    const upOf = (s: RoamingDevice) => countBy(s.received.filter((r) => r.topic === `clft/${m}/up`), (r) => r.payload.toString());
    const lostD2d = subscribers.map((s) => acked.filter((p) => !upOf(s).has(p)).length);
    const dups = (counts: Map<string, number>) => [...counts.values()].reduce((sum, n) => sum + n - 1, 0);
    console.info(
      `kill -9 under load: uplink ${acked.length} acked, ${lostUp.length} lost, ${dups(storedCounts)} duplicates in RocketMQ; ` +
        `downlink ${sentDown.length} sent × 3 subscribers, lost ${lostDown.join('/')}, duplicates ${subscribers.map((s) => dups(downOf(s))).join('/')}; ` +
        `device→device lost ${lostD2d.join('/')}, duplicates ${subscribers.map((s) => dups(upOf(s))).join('/')}; ` +
        `reconnects ${[...subscribers, ...publishers].map((d) => d.reconnects).join('/')}`,
    );
    expect(lostUp).toEqual([]);
    expect(lostDown).toEqual([0, 0, 0]);
    expect(acked.length).toBe(publishers.length * sentDown.length);
    await Promise.all([...subscribers, ...publishers].map((d) => d.end()));
  });
});
