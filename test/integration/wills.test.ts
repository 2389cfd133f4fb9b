import { Redis } from 'ioredis';
import { Bridge } from '../../bridge/bridge.js';
import { TestKeys } from './support/auth.js';
import { metricValue, testLogger } from './support/bridge.js';
import { podConfig, podsSpec } from './support/cluster.js';
import { GROUPS, REDIS_URL, TOPICS, sleep, uniqueId, waitFor } from './support/env.js';
import { Device } from './support/mqtt.js';
import { spawnBridge } from './support/process.js';

/**
 * Wills are PUBLISHes the bridge makes for a client later, perhaps on another pod: they are
 * checked like the client's own PUBLISH when it connects (binding and W right), and the sweep of
 * a dead pod's wills publishes every will it still may, whatever the others are.
 */
const AK = 'AK_WILL';
const spec = { ...podsSpec('will', GROUPS.bridgeIsolationCluster, { mqttParentTopic: 'wills', rocketmqTopic: TOPICS.isolation }), overrides: { sessionStore: { podHeartbeatMs: 500 } } };

test('a dead pod: another pod publishes the wills still allowed, also to subscribers that heard from the dead pod since, and one that no longer is does not stop it', async () => {
  // Pod A binds a topic the other pod no longer has (a binding removed while A ran).
  const configA = podConfig({ ...spec, moreBindings: [{ mqttParentTopic: 'gone', rocketmqTopic: TOPICS.isolation, direction: 'MqttToRocketmq' }] });
  const podA = await spawnBridge({ ...configA, log: undefined });
  const podB = await Bridge.start(podConfig(spec), { log: testLogger() });
  const devices: Device[] = [];
  try {
    await waitFor('pod B ready', () => podB.readiness().ready || undefined, 60_000);
    const watcher = await Device.connect(podB.mqttPort);
    devices.push(watcher);
    await watcher.subscribe('wills/#', 1);
    // Other suites share this RocketMQ topic and group, so their late messages can reach
    // wills/# too: only payloads of this run count.
    const run = uniqueId('run-');
    const willsOfThisRun = () => watcher.received.map((r) => r.payload.toString()).filter((p) => p.endsWith(run));
    // The will on the no-longer-bound topic comes first in the list of wills; aedes sweeps them 16 at a time.
    const wills: [string, string][] = [['bad', 'gone/bad'], ...Array.from({ length: 20 }, (_, i): [string, string] => [`good${i}`, `wills/good${i}`])];
    for (const [name, topic] of wills) {
      devices.push(await Device.connect(podA.mqttPort, { clientId: uniqueId(`GID_will@@@${name}-`), will: { topic, payload: Buffer.from(`will of ${name} ${run}`), qos: 1, retain: false } }));
    }
    // The watcher hears from pod A after the devices connected (a publish counted after their wills).
    await devices[1]!.publish('wills/last-from-a', `last from A ${run}`, 1);
    await waitFor('the last message of pod A', () => (willsOfThisRun().length === 1 ? true : undefined), 10_000);
    await sleep(500);
    podA.child.kill('SIGKILL');
    await waitFor('every allowed will', () => (willsOfThisRun().length >= 21 ? true : undefined), 30_000);
    await sleep(4_000); // two more sweeps (every 4 heartbeats): nothing more, no error
    expect(willsOfThisRun().sort()).toEqual([`last from A ${run}`, ...wills.slice(1).map(([name]) => `will of ${name} ${run}`)].sort());
    // The refused will was dropped once, not retried by every sweep; the sent ones were deleted.
    expect(await metricValue(podB, 'mqbridge_errors_total', { component: 'mqtt' })).toBe(0);
    expect(await storedWillKeys(spec.name)).toEqual([]);
    expect(await metricValue(podB, 'mqbridge_refusals_total', { reason: 'will_not_allowed' })).toBe(1);
  } finally {
    podA.child.kill('SIGKILL');
    await Promise.all(devices.map((d) => d.end().catch(() => undefined)));
    await podB.stop();
  }
}, 90_000);

async function storedWillKeys(bridgeName: string): Promise<string[]> {
  const redis = new Redis(REDIS_URL);
  try {
    return await redis.keys(`it:${bridgeName}:will*`);
  } finally {
    await redis.quit();
  }
}

test('a will outside the W rights of the login refuses its CONNECT', async () => {
  const keys = await TestKeys.create('will-instance', { [AK]: 'will-secret-2b7' });
  const pod = await Bridge.start(podConfig({ ...spec, overrides: { auth: keys.authConfig('Token') } }), { log: testLogger() });
  try {
    const token = keys.token(AK, ['R', 'W'], ['wills/mine/#']);
    const will = (topic: string) => ({ topic, payload: Buffer.from('bye'), qos: 1 as const, retain: false });
    await expect(Device.connect(pod.mqttPort, keys.tokenLogin(uniqueId('GID_will@@@t-'), AK, `RW|${token}`, { will: will('wills/other/x') }))).rejects.toThrow(/Not authorized/);
    const ok = await Device.connect(pod.mqttPort, keys.tokenLogin(uniqueId('GID_will@@@t-'), AK, `RW|${token}`, { will: will('wills/mine/x') }));
    await ok.end();
  } finally {
    await pod.stop();
  }
});
