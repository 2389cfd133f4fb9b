import { spawn } from 'node:child_process';
import type { Bridge } from '../../bridge/bridge.js';
import type { Producer } from 'rocketmq-client-nodejs';
import { metricValue, startBridge } from './support/bridge.js';
import { GROUPS, TOPICS, sleep, uniqueId, waitFor } from './support/env.js';
import { Device } from './support/mqtt.js';
import { appProducer, appSend } from './support/rocketmq.js';

let bridge: Bridge;
let producer: Producer;

beforeAll(async () => {
  producer = await appProducer();
  bridge = await startBridge(GROUPS.bridgeDownlink, {
    bindings: [{ mqttParentTopic: 'dwn', rocketmqTopic: TOPICS.down, defaultQos: 1 }],
    // The shortest allowed: a message whose ack went wrong comes back within the burst test.
    rocketmq: { invisibleDurationMs: 10_000 },
  });
  // A receive must be pending before the first message goes out, or a new group may skip it.
  await sleep(1_500);
});

afterAll(async () => {
  await bridge?.stop();
  await producer?.shutdown();
});

async function received(device: Device, topic: string, count = 1, timeoutMs = 20_000) {
  return waitFor(`${count} message(s) on ${topic}`, () => {
    const got = device.received.filter((r) => r.topic === topic);
    return got.length >= count ? got : undefined;
  }, timeoutMs);
}

describe('RocketMQ → devices', () => {
  test('mqttSecondTopic picks the topic and qoslevel the QoS; the payload is unchanged', async () => {
    const device = await Device.connect(bridge.mqttPort);
    const marker = uniqueId('d');
    await device.subscribe(`dwn/${marker}/#`, 2);
    const body = Buffer.from([0, 1, 2, 250, 251, 255]);
    await appSend(producer, TOPICS.down, body, { mqttSecondTopic: `/${marker}/q0`, qoslevel: '0' });
    await appSend(producer, TOPICS.down, 'two', { mqttSecondTopic: `/${marker}/q2`, qoslevel: '2' });
    await appSend(producer, TOPICS.down, 'default', { mqttSecondTopic: `/${marker}/qd` });
    const [q0] = await received(device, `dwn/${marker}/q0`);
    const [q2] = await received(device, `dwn/${marker}/q2`);
    const [qd] = await received(device, `dwn/${marker}/qd`);
    expect(Buffer.compare(q0!.payload, body)).toBe(0);
    expect([q0!.qos, q2!.qos, qd!.qos]).toEqual([0, 2, 1]);
    expect(q2!.payload.toString()).toBe('two');
    await device.end();
  });

  test('wildcard subscriptions with + and # receive, others do not', async () => {
    const marker = uniqueId('w');
    const plus = await Device.connect(bridge.mqttPort);
    const hash = await Device.connect(bridge.mqttPort);
    const other = await Device.connect(bridge.mqttPort);
    await plus.subscribe(`dwn/${marker}/+/temp`);
    await hash.subscribe(`dwn/${marker}/#`);
    await other.subscribe(`dwn/${marker}/elsewhere/#`);
    await appSend(producer, TOPICS.down, '21.5', { mqttSecondTopic: `/${marker}/room1/temp` });
    await received(plus, `dwn/${marker}/room1/temp`);
    await received(hash, `dwn/${marker}/room1/temp`);
    await sleep(300);
    expect(other.received).toHaveLength(0);
    await Promise.all([plus.end(), hash.end(), other.end()]);
  });

  test('a message without mqttSecondTopic goes to the bare parent topic', async () => {
    const device = await Device.connect(bridge.mqttPort);
    await device.subscribe('dwn');
    const marker = uniqueId('bare');
    await appSend(producer, TOPICS.down, marker);
    await waitFor('bare parent message', () => device.received.find((r) => r.topic === 'dwn' && r.payload.toString() === marker));
    await device.end();
  });

  test('an app-side empty message (placeholder + mqbridgeEmptyBody) reaches devices empty', async () => {
    const device = await Device.connect(bridge.mqttPort);
    const marker = uniqueId('e');
    await device.subscribe(`dwn/${marker}`);
    await appSend(producer, TOPICS.down, Buffer.from([0]), { mqttSecondTopic: `/${marker}`, mqbridgeEmptyBody: 'true' });
    const [msg] = await received(device, `dwn/${marker}`);
    expect(msg!.payload.length).toBe(0);
    await device.end();
  });

  test('device → device through the bridge arrives once: the RocketMQ echo is not delivered again', async () => {
    const marker = uniqueId('echo');
    const listener = await Device.connect(bridge.mqttPort);
    await listener.subscribe(`dwn/${marker}`);
    const sender = await Device.connect(bridge.mqttPort, { clientId: uniqueId('GID_echo@@@') });
    const echoesBefore = await metricValue(bridge, 'mqbridge_messages_total', { direction: 'downlink', binding: 'dwn' });
    await sender.publish(`dwn/${marker}`, 'once', 1);
    await received(listener, `dwn/${marker}`);
    // Let the RocketMQ copy come round through the bridge's consumer.
    await sleep(3_000);
    expect(listener.received.filter((r) => r.topic === `dwn/${marker}`)).toHaveLength(1);
    expect(await metricValue(bridge, 'mqbridge_messages_total', { direction: 'downlink', binding: 'dwn' })).toBe(echoesBefore);
    await Promise.all([listener.end(), sender.end()]);
  });

  test('another bridge on the same topic does deliver the first bridge\'s device messages', async () => {
    const second = await startBridge(GROUPS.bridgeDownlink2, { bindings: [{ mqttParentTopic: 'dwn', rocketmqTopic: TOPICS.down }] });
    await sleep(1_500);
    const marker = uniqueId('x');
    const remote = await Device.connect(second.mqttPort);
    await remote.subscribe(`dwn/${marker}`);
    const sender = await Device.connect(bridge.mqttPort);
    await sender.publish(`dwn/${marker}`, 'across bridges', 1);
    const [msg] = await received(remote, `dwn/${marker}`);
    expect(msg!.payload.toString()).toBe('across bridges');
    await Promise.all([remote.end(), sender.end()]);
    await second.stop();
  });

  test('mosquitto_sub receives a RocketMQ message', async () => {
    const marker = uniqueId('ms');
    const sub = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(bridge.mqttPort), '-q', '1', '-C', '1', '-v', '-t', `dwn/${marker}/#`]);
    let out = '';
    sub.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => sub.on('exit', resolve));
    await waitFor('mosquitto_sub subscribed', () => bridge.readiness().ready && sleep(500).then(() => true));
    await appSend(producer, TOPICS.down, 'hello mosquitto', { mqttSecondTopic: `/${marker}/x` });
    const code = await Promise.race([exited, sleep(20_000).then(() => 'timeout')]);
    if (code === 'timeout') sub.kill();
    expect(out.trim()).toBe(`dwn/${marker}/x hello mosquitto`);
  });

  test('a burst arrives once each: the batch acks hold, nothing comes back after the invisible duration', async () => {
    const device = await Device.connect(bridge.mqttPort);
    const marker = uniqueId('burst');
    await device.subscribe(`dwn/${marker}/#`, 1);
    const ackErrorsBefore = await metricValue(bridge, 'mqbridge_errors_total', { component: 'rocketmq_ack' });
    const n = 60;
    await Promise.all(Array.from({ length: n }, (_, i) => appSend(producer, TOPICS.down, String(i), { mqttSecondTopic: `/${marker}/m` })));
    const first = await received(device, `dwn/${marker}/m`, n);
    expect(first.map((r) => r.payload.toString()).sort()).toEqual(Array.from({ length: n }, (_, i) => String(i)).sort());
    // Unacked, they would be back within ~20 s (invisible 10 s, then the broker's revive scan).
    await sleep(22_000);
    expect(device.received.filter((r) => r.topic === `dwn/${marker}/m`)).toHaveLength(n);
    expect(await metricValue(bridge, 'mqbridge_errors_total', { component: 'rocketmq_ack' })).toBe(ackErrorsBefore);
    await device.end();
  });

  test('an undeliverable message is counted and does not stop the ones after it', async () => {
    const device = await Device.connect(bridge.mqttPort);
    const marker = uniqueId('bad');
    await device.subscribe(`dwn/${marker}`);
    const before = await metricValue(bridge, 'mqbridge_refusals_total', { reason: 'invalid_downlink_message' });
    await appSend(producer, TOPICS.down, 'bad', { mqttSecondTopic: 'no-leading-slash' });
    await appSend(producer, TOPICS.down, 'good', { mqttSecondTopic: `/${marker}` });
    await received(device, `dwn/${marker}`);
    await waitFor('refusal counted', async () => (await metricValue(bridge, 'mqbridge_refusals_total', { reason: 'invalid_downlink_message' })) > before);
    await device.end();
  });
});

