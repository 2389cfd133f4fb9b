import { Redis } from 'ioredis';
import type { Bridge } from '../../bridge/bridge.js';
import { startBridge } from './support/bridge.js';
import { podsSpec, startPods } from './support/cluster.js';
import { GROUPS, REDIS_URL, TOPICS, sleep, uniqueId, waitFor } from './support/env.js';
import { Device } from './support/mqtt.js';
import { RawClient } from './support/raw.js';

/**
 * QoS 2 records (a PUBLISH received, its PUBREL not yet) end with the flow, with a clean session,
 * and when a client starts a new message with the id; a record left behind must never turn a
 * later message into a "duplicate" that is acknowledged but not delivered.
 */
const BINDING = { mqttParentTopic: 'qos2', rocketmqTopic: TOPICS.isolation };

describe.each([
  ['one pod, sessions in memory', 1],
  ['two pods sharing Redis', 2],
])('%s', (_name, podCount) => {
  let pods: Bridge[];
  let prefix: string | undefined;
  const devices: Device[] = [];

  beforeAll(async () => {
    if (podCount === 1) pods = [await startBridge(GROUPS.bridgeIsolation, { bindings: [BINDING] })];
    else {
      const spec = podsSpec('q2', GROUPS.bridgeIsolationCluster, BINDING);
      prefix = `it:${spec.name}:`;
      pods = await startPods(spec, podCount);
    }
  });

  afterAll(async () => {
    await Promise.all(devices.map((d) => d.end().catch(() => undefined)));
    await Promise.all((pods ?? []).map((p) => p.stop()));
  });

  const last = () => pods[pods.length - 1]!;

  async function target(): Promise<{ id: string; device: Device }> {
    const id = uniqueId('GID_q2@@@target-');
    const device = await Device.connect(last().mqttPort, { clientId: id });
    devices.push(device);
    return { id, device };
  }

  const publish = (topic: string, payload: string, dup = false) => ({ cmd: 'publish' as const, topic, payload: Buffer.from(payload), qos: 2 as const, messageId: 5, dup, retain: false });

  test('a clean session that left before PUBREL leaves no record: its next message with the id is delivered', async () => {
    const t = await target();
    const senderId = uniqueId('GID_q2@@@sender-');
    const first = await RawClient.connected(pods[0]!.mqttPort, senderId, 4, true);
    first.send(publish(`qos2/p2p/${t.id}`, 'first'));
    await first.next('pubrec');
    first.end(); // no PUBREL
    await first.closed;
    await sleep(200);
    if (prefix) {
      const redis = new Redis(REDIS_URL);
      const left = await redis.keys(`${prefix}*${encodeURIComponent(senderId)}*`);
      await redis.quit();
      expect(left.filter((k) => /incoming|qos2-in/.test(k))).toEqual([]);
    }
    const second = await RawClient.connected(pods[0]!.mqttPort, senderId, 4, true);
    second.send(publish(`qos2/p2p/${t.id}`, 'second'));
    await second.next('pubrec');
    second.send({ cmd: 'pubrel', messageId: 5 });
    await second.next('pubcomp');
    second.end();
    await waitFor('both at the target', () => (t.device.received.length >= 2 ? true : undefined), 10_000);
    expect(t.device.received.map((r) => r.payload.toString())).toEqual(['first', 'second']);
  });

  test('a persistent session that lost its state starts a new message with an open id: it is delivered, its DUP is not', async () => {
    const t = await target();
    const senderId = uniqueId('GID_q2@@@rebooted-');
    const before = await RawClient.connected(pods[0]!.mqttPort, senderId, 4, false);
    before.send(publish(`qos2/p2p/${t.id}`, 'before reboot'));
    await before.next('pubrec');
    before.end(); // the device reboots: its PUBREL is never sent
    await before.closed;
    const after = await RawClient.connected(last().mqttPort, senderId, 4, false);
    after.send(publish(`qos2/p2p/${t.id}`, 'after reboot'));
    await after.next('pubrec');
    // A retransmission of that new message is a duplicate: acknowledged, not delivered again.
    after.send(publish(`qos2/p2p/${t.id}`, 'after reboot', true));
    await after.next('pubrec');
    after.send({ cmd: 'pubrel', messageId: 5 });
    await after.next('pubcomp');
    after.end();
    await waitFor('both at the target', () => (t.device.received.length >= 2 ? true : undefined), 10_000);
    await sleep(500);
    expect(t.device.received.map((r) => r.payload.toString())).toEqual(['before reboot', 'after reboot']);
  });
});
