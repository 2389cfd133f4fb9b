import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Bridge } from '../../bridge/bridge.js';
import { startBridge } from './support/bridge.js';
import { podsSpec, startPods } from './support/cluster.js';
import { GROUPS, TOPICS, sleep, uniqueId, waitFor } from './support/env.js';
import { Device } from './support/mqtt.js';
import { RawClient } from './support/raw.js';

/**
 * Device SDKs resubscribe all their topics in one SUBSCRIBE on every reconnect. Each such packet
 * must get its SUBACK at once, with every filter in force, however many filters it has, whether
 * the session is clean or persistent, on one pod and across pods.
 */
const run = promisify(execFile);
const BINDING = { mqttParentTopic: 'many', rocketmqTopic: TOPICS.isolation };
const SUBACK_WITHIN_MS = 3_000;
const devices: Device[] = [];

afterEach(async () => {
  await Promise.all(devices.splice(0).map((d) => d.end().catch(() => undefined)));
});

async function device(pod: Bridge, clientId: string, clean: boolean): Promise<Device> {
  const d = await Device.connect(pod.mqttPort, { clientId, clean });
  devices.push(d);
  return d;
}

function withinMs<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  return Promise.race([work, sleep(ms).then(() => Promise.reject(new Error(`${what}: no answer within ${ms} ms`)))]);
}

const filtersOf = (m: string, n: number) => Array.from({ length: n }, (_, i) => `many/${m}/f${i}/#`);

/** Subscribes n filters in one packet on `subPod`, then a device on `pubPod` publishes to each. */
async function subscribeAndReceive(subPod: Bridge, pubPod: Bridge, n: number, clean: boolean): Promise<void> {
  const m = uniqueId('s');
  const sub = await device(subPod, uniqueId('GID_many@@@sub-'), clean);
  const granted = await withinMs(SUBACK_WITHIN_MS, `SUBACK for ${n} filters`, sub.subscribeMany(filtersOf(m, n)));
  expect(granted).toEqual(Array(n).fill(1));
  await sleep(300); // the subscriptions reach the other pods
  const pub = await device(pubPod, uniqueId('GID_many@@@pub-'), true);
  for (let i = 0; i < n; i++) await pub.publish(`many/${m}/f${i}/x`, `m${i}`, 1);
  await waitFor(`${n} messages`, () => (sub.received.length >= n ? true : undefined), 20_000);
  expect(new Set(sub.received.map((r) => r.payload.toString())).size).toBe(n);
}

/** A persistent session subscribes n filters on one pod, goes away, and finds all of them in force on another. */
async function restoredElsewhere(first: Bridge, second: Bridge, n: number): Promise<void> {
  const m = uniqueId('r');
  const clientId = uniqueId('GID_many@@@resub-');
  const sub = await device(first, clientId, false);
  expect(await withinMs(SUBACK_WITHIN_MS, `SUBACK for ${n} filters`, sub.subscribeMany(filtersOf(m, n)))).toEqual(Array(n).fill(1));
  await sub.end();
  const pub = await device(first, uniqueId('GID_many@@@pub-'), true);
  for (let i = 0; i < n; i++) await pub.publish(`many/${m}/f${i}/queued`, `q${i}`, 1);
  const back = await device(second, clientId, false);
  await waitFor(`${n} queued messages`, () => (back.received.length >= n ? true : undefined), 20_000);
  // And the same SUBSCRIBE again, as an SDK sends it after every reconnect.
  expect(await withinMs(SUBACK_WITHIN_MS, 'SUBACK of the resubscription', back.subscribeMany(filtersOf(m, n)))).toEqual(Array(n).fill(1));
}

describe.each([
  ['one pod, sessions in memory', 1],
  ['three pods sharing Redis', 3],
])('%s', (_name, podCount) => {
  let pods: Bridge[];

  beforeAll(async () => {
    pods =
      podCount === 1
        ? [await startBridge(GROUPS.bridgeSubscribe, { bindings: [BINDING] })]
        : await startPods(podsSpec('many', GROUPS.bridgeSubscribeCluster, BINDING), podCount);
    await sleep(1_000);
  });

  afterAll(async () => {
    await Promise.all((pods ?? []).map((p) => p.stop()));
  });

  const last = () => pods[pods.length - 1]!;

  test.each([1, 2, 10, 100])('%i filters in one SUBSCRIBE, persistent session: SUBACK at once, every filter delivers', async (n) => {
    await subscribeAndReceive(pods[0]!, last(), n, false);
  });

  test.each([1, 2, 10, 100])('%i filters in one SUBSCRIBE, clean session', async (n) => {
    await subscribeAndReceive(pods[0]!, last(), n, true);
  });

  test.each([2, 100])('%i filters of a persistent session are restored with their queue on another connection', async (n) => {
    await restoredElsewhere(pods[0]!, last(), n);
  });

  test('the first packet of a restored session is its CONNACK, even while messages flow to its subscriptions', async () => {
    const m = uniqueId('first');
    const clientId = uniqueId('GID_many@@@first-');
    const sub = await device(pods[0]!, clientId, false);
    await sub.subscribeMany(filtersOf(m, 3), 0);
    await sub.end();
    const pub = await device(last(), uniqueId('GID_many@@@flood-'), true);
    let flooding = true;
    const flood = (async () => {
      for (let i = 0; flooding; i++) {
        await pub.publish(`many/${m}/f${i % 3}/x`, `m${i}`, 0);
        await sleep(2);
      }
    })();
    try {
      for (let attempt = 0; attempt < 20; attempt++) {
        const raw = await RawClient.open(last().mqttPort);
        raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: false, clientId, keepalive: 60 });
        await waitFor('a first packet', () => raw.packets[0], 10_000, 5);
        expect(raw.packets[0]!.cmd).toBe('connack');
        raw.end();
        await raw.closed;
      }
    } finally {
      flooding = false;
      await flood;
    }
  });

  test('mosquitto_sub with several topics and a persistent session gets its SUBACK', async () => {
    const m = uniqueId('mosq');
    const id = uniqueId('GID_many@@@mosq-');
    const topics = filtersOf(m, 5).flatMap((t) => ['-t', t]);
    const sub = run('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(pods[0]!.mqttPort), '-i', id, '-c', '-q', '1', ...topics, '-C', '1', '-W', '20', '-v']);
    let out: string | undefined;
    void sub.then((r) => (out = r.stdout.trim()), () => undefined);
    const pub = await device(last(), uniqueId('GID_many@@@pub-'), true);
    await waitFor('mosquitto_sub to receive', async () => {
      await pub.publish(`many/${m}/f4/x`, 'to-mosquitto', 1);
      await sleep(300);
      return out;
    }, 20_000, 100);
    expect(out).toBe(`many/${m}/f4/x to-mosquitto`);
  });
});
