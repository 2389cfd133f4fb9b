import type { Bridge } from '../../bridge/bridge.js';
import { metricValue, startBridge } from './support/bridge.js';
import { GROUPS, TOPICS, uniqueId, waitFor } from './support/env.js';
import { Device } from './support/mqtt.js';
import { RawClient } from './support/raw.js';
import { AppConsumer } from './support/rocketmq.js';

let bridge: Bridge;
let bystander: Device;
let app: AppConsumer;

beforeAll(async () => {
  app = await AppConsumer.start(TOPICS.normal, GROUPS.appNormal);
  bridge = await startBridge(GROUPS.bridgeRefusals, {
    mqtt: { maxPayloadBytes: 1024, maxTopicLength: 64 },
    bindings: [
      { mqttParentTopic: 'ok_topic', rocketmqTopic: TOPICS.normal },
      { mqttParentTopic: 'down_only', rocketmqTopic: TOPICS.down, direction: 'RocketmqToMqtt' },
      { mqttParentTopic: 'up_only', rocketmqTopic: TOPICS.fault, direction: 'MqttToRocketmq' },
    ],
  });
  bystander = await Device.connect(bridge.mqttPort, { clientId: 'GID_ok@@@bystander' });
  await bystander.subscribe('ok_topic/#');
});

afterEach(async () => {
  // After every kind of bad input the pod still serves the others, both ways.
  expect(bystander.connected).toBe(true);
  const marker = uniqueId('alive');
  await bystander.publish(`ok_topic/${marker}`, 'still here', 1);
  await waitFor('bystander loopback', () => bystander.received.find((r) => r.topic === `ok_topic/${marker}`));
  await app.waitFor((m) => m.properties.get('mqttSecondTopic') === `/${marker}`);
});

afterAll(async () => {
  await bystander?.end();
  await bridge?.stop();
  await app?.stop();
});

const count = (reason: string) => metricValue(bridge, 'mqbridge_refusals_total', { reason });

async function expectRefusedPublish(topic: string, payload: Buffer, reason: string) {
  const before = await count(reason);
  const raw = await RawClient.connected(bridge.mqttPort, uniqueId('GID_bad@@@'));
  raw.send({ cmd: 'publish', topic, payload, qos: 1, messageId: 7, dup: false, retain: false });
  expect(await raw.closedWithin(5_000)).toBe(true);
  expect(raw.packets.find((p) => p.cmd === 'puback')).toBeUndefined();
  expect(await count(reason)).toBe(before + 1);
}

describe('bad input is refused, logged and counted; the pod keeps serving', () => {
  test.each([
    ['unbound parent topic', 'nobody/x', 'unbound_topic'],
    ['publish to a RocketmqToMqtt binding', 'down_only/x', 'direction_forbidden'],
    ['+ in a PUBLISH topic', 'ok_topic/+/x', 'wildcard_in_topic'],
    ['# in a PUBLISH topic', 'ok_topic/#', 'wildcard_in_topic'],
    ['over-long topic', `ok_topic/${'x'.repeat(80)}`, 'topic_too_long'],
    ['$ topic', '$SYS/x', 'reserved_topic'],
  ])('%s: no PUBACK, disconnected', async (_name, topic, reason) => {
    await expectRefusedPublish(topic, Buffer.from('x'), reason);
  });

  test('payload over the limit: no PUBACK, disconnected', async () => {
    await expectRefusedPublish('ok_topic/big', Buffer.alloc(1025, 1), 'payload_too_large');
  });

  test('a packet announcing far more than the limit is cut off before it is buffered', async () => {
    const before = await count('packet_too_large');
    const raw = await RawClient.connected(bridge.mqttPort, uniqueId('GID_bad@@@'));
    // PUBLISH QoS 0 fixed header announcing 10 MB, then only a little of it.
    raw.write(Buffer.from([0x30, 0x80, 0xad, 0xe2, 0x04, 0x00, 0x08]));
    raw.write(Buffer.alloc(1024));
    expect(await raw.closedWithin(5_000)).toBe(true);
    expect(await count('packet_too_large')).toBe(before + 1);
  });

  test.each([
    ['garbage bytes', Buffer.from('GET / HTTP/1.1\r\n\r\n')],
    ['reserved packet type 0', Buffer.from([0x00, 0x00])],
    ['PUBLISH with QoS 3', Buffer.from([0x36, 0x05, 0x00, 0x01, 0x61, 0x00, 0x01])],
  ])('malformed packet (%s): disconnected', async (_name, bytes) => {
    const raw = await RawClient.connected(bridge.mqttPort, uniqueId('GID_bad@@@'));
    raw.write(bytes);
    expect(await raw.closedWithin(5_000)).toBe(true);
  });

  test('malformed CONNECT: disconnected and counted', async () => {
    const before = await count('malformed_packet');
    const raw = await RawClient.open(bridge.mqttPort);
    raw.write(Buffer.from([0x10, 0x04, 0xff, 0xff, 0xff, 0xff]));
    expect(await raw.closedWithin(5_000)).toBe(true);
    await waitFor('counted', async () => (await count('malformed_packet')) > before);
  });

  test('SUBSCRIBE to an unbound or uplink-only parent gets SUBACK 0x80 for that filter only', async () => {
    const raw = await RawClient.connected(bridge.mqttPort, uniqueId('GID_sub@@@'));
    const before = (await count('unbound_topic')) + (await count('direction_forbidden'));
    raw.send({ cmd: 'subscribe', messageId: 3, subscriptions: [
      { topic: 'nobody/#', qos: 1 },
      { topic: 'up_only/#', qos: 1 },
      { topic: 'ok_topic/x', qos: 1 },
      { topic: 'down_only/+', qos: 0 },
    ] });
    const suback = await raw.next('suback');
    expect((suback as { granted: number[] }).granted).toEqual([128, 128, 1, 0]);
    expect((await count('unbound_topic')) + (await count('direction_forbidden'))).toBe(before + 2);
    expect(await raw.closedWithin(300)).toBe(false);
    raw.end();
  });

  test('client id over 64 characters gets CONNACK "identifier rejected"', async () => {
    const ok = await RawClient.connected(bridge.mqttPort, 'GID_x@@@' + 'd'.repeat(56));
    expect(await ok.closedWithin(200)).toBe(false);
    ok.end();
    const raw = await RawClient.open(bridge.mqttPort);
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'GID_x@@@' + 'd'.repeat(57), keepalive: 60 });
    const before = await count('client_id_too_long');
    const connack = await raw.next('connack');
    expect((connack as { returnCode: number }).returnCode).toBe(2);
    expect(await count('client_id_too_long')).toBe(before + 1);
    expect(await raw.closedWithin(5_000)).toBe(true);
  });

  test('an MQTT 5 CONNECT is refused, 3.1 and 3.1.1 are served', async () => {
    const v5 = await RawClient.open(bridge.mqttPort);
    v5.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId: 'GID_v5@@@a', keepalive: 60 });
    expect(await v5.closedWithin(5_000)).toBe(true);
    for (const version of [3, 4] as const) {
      const c = await RawClient.connected(bridge.mqttPort, `GID_v${version}@@@a`, version);
      c.send({ cmd: 'publish', topic: 'ok_topic/v', payload: Buffer.from('v'), qos: 1, messageId: 1, dup: false, retain: false });
      await c.next('puback');
      c.end();
    }
  });
});
