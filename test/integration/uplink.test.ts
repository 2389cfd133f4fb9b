import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Bridge } from '../../bridge/bridge.js';
import { payloadOf } from '../../bridge/mapping/properties.js';
import { metricValue, startBridge } from './support/bridge.js';
import { GROUPS, TOPICS, uniqueId } from './support/env.js';
import { Device } from './support/mqtt.js';
import { RawClient } from './support/raw.js';
import { AppConsumer, props } from './support/rocketmq.js';

const run = promisify(execFile);
let bridge: Bridge;
const bridgeName = uniqueId('it-up-');
let app: AppConsumer;
let fifoApp: AppConsumer;

beforeAll(async () => {
  app = await AppConsumer.start(TOPICS.normal, GROUPS.appNormal);
  fifoApp = await AppConsumer.start(TOPICS.fifo, GROUPS.appFifo);
  bridge = await startBridge(GROUPS.bridgeUplink, {
    bridge: { name: bridgeName },
    bindings: [
      { mqttParentTopic: 'upl', rocketmqTopic: TOPICS.normal },
      { mqttParentTopic: 'fifo', rocketmqTopic: TOPICS.fifo, direction: 'MqttToRocketmq' },
    ],
  });
});

afterAll(async () => {
  await bridge?.stop();
  await app?.stop();
  await fifoApp?.stop();
});

describe('device → RocketMQ', () => {
  test.each([0, 1, 2] as const)('QoS %s publish arrives with every property of the contract', async (qos) => {
    const clientId = uniqueId('GID_up@@@');
    const device = await Device.connect(bridge.mqttPort, { clientId, clean: qos !== 2 });
    const marker = uniqueId('m');
    await device.publish(`upl/room1/${marker}`, `qos${qos}`, qos);
    const [msg] = await app.waitFor((m) => m.properties.get('mqttSecondTopic') === `/room1/${marker}`);
    expect(props(msg!)).toEqual({
      mqttSecondTopic: `/room1/${marker}`,
      qoslevel: String(qos),
      cleansessionflag: String(qos !== 2),
      clientId,
      mqbridgeOrigin: bridgeName,
    });
    expect(msg!.topic).toBe(TOPICS.normal);
    expect(msg!.body.toString()).toBe(`qos${qos}`);
    await device.end();
  });

  test('a bare parent topic carries no mqttSecondTopic', async () => {
    const clientId = uniqueId('GID_up@@@');
    const device = await Device.connect(bridge.mqttPort, { clientId });
    await device.publish('upl', 'bare', 1);
    const [msg] = await app.waitFor((m) => m.properties.get('clientId') === clientId);
    expect(msg!.properties.has('mqttSecondTopic')).toBe(false);
    await device.end();
  });

  test.each([
    ['binary', Buffer.from(Array.from({ length: 256 }, (_, i) => i))],
    ['empty', Buffer.alloc(0)],
    ['64 KiB', Buffer.from(Array.from({ length: 64 * 1024 }, (_, i) => (i * 7919) % 251))],
  ])('%s payload arrives byte for byte', async (_name, payload) => {
    const device = await Device.connect(bridge.mqttPort);
    const marker = uniqueId('p');
    await device.publish(`upl/payload/${marker}`, payload, 1);
    const [msg] = await app.waitFor((m) => m.properties.get('mqttSecondTopic') === `/payload/${marker}`);
    expect(Buffer.compare(payloadOf(msg!.body, msg!.properties), payload)).toBe(0);
    expect(msg!.properties.get('mqbridgeEmptyBody')).toBe(payload.length === 0 ? 'true' : undefined);
    await device.end();
  });

  test('PUBACK comes after RocketMQ stored the message, and local subscribers get it after that', async () => {
    const listener = await Device.connect(bridge.mqttPort);
    await listener.subscribe('upl/local/#', 1);
    const device = await Device.connect(bridge.mqttPort);
    const marker = uniqueId('l');
    await device.publish(`upl/local/${marker}`, 'hello', 1);
    // The PUBACK has arrived: the message must already be in RocketMQ.
    const stored = app.matching((m) => m.properties.get('mqttSecondTopic') === `/local/${marker}`);
    const waited = stored.length > 0 ? stored : await app.waitFor((m) => m.properties.get('mqttSecondTopic') === `/local/${marker}`, 1, 5_000);
    expect(waited).toHaveLength(1);
    await waitForReceived(listener, `upl/local/${marker}`);
    await listener.end();
    await device.end();
  });

  test('FIFO topic: each device is a message group and its order holds', async () => {
    const devices = await Promise.all([1, 2].map((i) => Device.connect(bridge.mqttPort, { clientId: uniqueId(`GID_fifo@@@d${i}-`) })));
    const marker = uniqueId('f');
    const n = 30;
    await Promise.all(
      devices.map(async (d) => {
        for (let i = 0; i < n; i++) void d.publish(`fifo/${marker}`, String(i), 1);
        await d.publish(`fifo/${marker}`, 'end', 1);
      }),
    );
    const msgs = await fifoApp.waitFor((m) => m.properties.get('mqttSecondTopic') === `/${marker}`, 2 * (n + 1));
    for (const d of devices) {
      const id = d.client.options.clientId!;
      const mine = msgs.filter((m) => m.properties.get('clientId') === id);
      expect(mine.every((m) => m.messageGroup === id)).toBe(true);
      expect(mine.map((m) => m.body.toString())).toEqual([...Array.from({ length: n }, (_, i) => String(i)), 'end']);
    }
    await Promise.all(devices.map((d) => d.end()));
  });

  test('many devices at once share send requests; every message keeps its own properties', async () => {
    const batches = async () => {
      const { values } = await bridge.metrics.sendBatchMessages.get();
      const value = (suffix: string) => values.find((v) => v.metricName === `mqbridge_rocketmq_send_batch_messages_${suffix}`)?.value ?? 0;
      return { messages: value('sum'), requests: value('count') };
    };
    const before = await batches();
    const devices = await Promise.all(Array.from({ length: 20 }, (_, i) => Device.connect(bridge.mqttPort, { clientId: uniqueId(`GID_batch@@@d${i}-`) })));
    const marker = uniqueId('b');
    const n = 15;
    await Promise.all(
      devices.map(async (d, i) => {
        const sends = Array.from({ length: n }, (_, k) => d.publish(`upl/${marker}/d${i}`, `${i}:${k}`, 1));
        await Promise.all(sends);
      }),
    );
    const msgs = await app.waitFor((m) => m.properties.get('mqttSecondTopic')?.startsWith(`/${marker}/`) ?? false, devices.length * n);
    for (const [i, d] of devices.entries()) {
      const mine = msgs.filter((m) => m.properties.get('clientId') === d.client.options.clientId);
      expect(mine.map((m) => m.properties.get('mqttSecondTopic'))).toEqual(Array(n).fill(`/${marker}/d${i}`));
      expect(mine.map((m) => m.body.toString()).sort()).toEqual(Array.from({ length: n }, (_, k) => `${i}:${k}`).sort());
    }
    expect(new Set(msgs.map((m) => m.messageId)).size).toBe(msgs.length);
    const after = await batches();
    expect(after.messages - before.messages).toBe(devices.length * n);
    expect(after.requests - before.requests).toBeLessThan(devices.length * n);
    await Promise.all(devices.map((d) => d.end()));
  });

  test('QoS 2 exactly once: a DUP retransmission after reconnecting is acknowledged, not stored twice', async () => {
    const clientId = uniqueId('GID_q2@@@');
    const marker = uniqueId('q2');
    const publish = { cmd: 'publish' as const, topic: `upl/q2/${marker}`, payload: Buffer.from('once'), qos: 2 as const, messageId: 4242, retain: false };
    const first = await RawClient.connected(bridge.mqttPort, clientId, 4, false);
    first.send({ ...publish, dup: false });
    await first.next('pubrec');
    first.end(); // PUBREL never sent: the client must retransmit after reconnecting
    await first.closed;
    const second = await RawClient.connected(bridge.mqttPort, clientId, 4, false);
    second.send({ ...publish, dup: true });
    await second.next('pubrec');
    second.send({ cmd: 'pubrel', messageId: 4242 });
    await second.next('pubcomp');
    second.end();
    await app.waitFor((m) => m.properties.get('mqttSecondTopic') === `/q2/${marker}`);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(app.matching((m) => m.properties.get('mqttSecondTopic') === `/q2/${marker}`)).toHaveLength(1);
  });

  test('mosquitto_pub reaches RocketMQ and the uplink counter moves', async () => {
    const before = await metricValue(bridge, 'mqbridge_messages_total', { direction: 'uplink', binding: 'upl' });
    const marker = uniqueId('mosq');
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(bridge.mqttPort), '-q', '1', '-i', `GID_cli@@@${marker}`, '-t', `upl/cli/${marker}`, '-m', 'from mosquitto']);
    const [msg] = await app.waitFor((m) => m.properties.get('mqttSecondTopic') === `/cli/${marker}`);
    expect(msg!.body.toString()).toBe('from mosquitto');
    expect(msg!.properties.get('clientId')).toBe(`GID_cli@@@${marker}`);
    expect(await metricValue(bridge, 'mqbridge_messages_total', { direction: 'uplink', binding: 'upl' })).toBeGreaterThan(before);
  });
});

async function waitForReceived(device: Device, topic: string) {
  const deadline = Date.now() + 10_000;
  while (!device.received.some((r) => r.topic === topic)) {
    if (Date.now() > deadline) throw new Error(`no message on ${topic}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('QoS 1 and 2 messages carry the RocketMQ key <clientId>:<session>:<packet id>, the same for a retransmission of a resumed session', async () => {
  const marker = uniqueId('key');
  const clientId = uniqueId('GID_up@@@key-');
  const publish = (id: number, dup: boolean, qos: 0 | 1 = 1) => ({ cmd: 'publish' as const, topic: `upl/${marker}/${id}`, payload: Buffer.from(`m${id}`), qos, messageId: id, dup, retain: false });
  const first = await RawClient.connected(bridge.mqttPort, clientId, 4, false);
  first.send(publish(11, false));
  await first.next('puback');
  first.send(publish(0, false, 0));
  first.end();
  await first.closed;
  // The device did not see its PUBACK and sends the message again on its next connection.
  const again = await RawClient.connected(bridge.mqttPort, clientId, 4, false);
  again.send(publish(11, true));
  await again.next('puback');
  again.end();
  const stored = await app.waitFor((m) => m.properties.get('mqttSecondTopic') === `/${marker}/11`, 2);
  const [k1, k2] = stored.map((m) => m.keys);
  expect(k1).toEqual(k2);
  expect(k1![0]).toMatch(new RegExp(`^${clientId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:[0-9a-f]{12}:11$`));
  // QoS 0 is never retransmitted: no key.
  const [qos0] = await app.waitFor((m) => m.properties.get('mqttSecondTopic') === `/${marker}/0`);
  expect(qos0!.keys).toEqual([]);
  // A new clean session is another session: another key for the same packet id.
  const clean = await RawClient.connected(bridge.mqttPort, clientId, 4, true);
  clean.send(publish(11, false));
  await clean.next('puback');
  clean.end();
  const all = await app.waitFor((m) => m.properties.get('mqttSecondTopic') === `/${marker}/11`, 3);
  expect(new Set(all.map((m) => m.keys[0])).size).toBe(2);
});
