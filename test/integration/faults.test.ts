import type { Bridge } from '../../bridge/bridge.js';
import type { Producer } from 'rocketmq-client-nodejs';
import { startBridge } from './support/bridge.js';
import { startBroker, stopBroker } from './support/backend.js';
import { GROUPS, TOPICS, sleep, uniqueId, waitFor } from './support/env.js';
import { Device } from './support/mqtt.js';
import { RawClient } from './support/raw.js';
import { AppConsumer, appProducer, appSend } from './support/rocketmq.js';

let bridge: Bridge;
/** Gives up on RocketMQ fast: a QoS 2 PUBLISH during the outage fails and its device is disconnected. */
let quick: Bridge;
let app: AppConsumer;
let producer: Producer;

async function readyz(): Promise<{ status: number; body: { ready: boolean; checks: Record<string, boolean> } }> {
  const res = await fetch(`http://127.0.0.1:${bridge.httpPort}/readyz`);
  return { status: res.status, body: (await res.json()) as { ready: boolean; checks: Record<string, boolean> } };
}

beforeAll(async () => {
  producer = await appProducer();
  app = await AppConsumer.start(TOPICS.fault, GROUPS.appFault);
  bridge = await startBridge(GROUPS.bridgeFaults, {
    mqtt: { uplinkTimeoutMs: 150_000 },
    bindings: [{ mqttParentTopic: 'flt', rocketmqTopic: TOPICS.fault }],
  });
  quick = await startBridge(GROUPS.bridgeFaults, {
    mqtt: { uplinkTimeoutMs: 1_500 },
    bindings: [{ mqttParentTopic: 'fltq', rocketmqTopic: TOPICS.fault, direction: 'MqttToRocketmq' }],
  });
});

afterAll(async () => {
  await quick?.stop();
  await bridge?.stop();
  await app?.stop();
  await producer?.shutdown();
});

describe('RocketMQ goes away and comes back', () => {
  test('PUBACK is withheld while the broker is down; the message is stored exactly as sent once it is back', async () => {
    const device = await Device.connect(bridge.mqttPort, { clientId: uniqueId('GID_flt@@@'), keepalive: 120 });
    const listener = await Device.connect(bridge.mqttPort, { keepalive: 120 });
    const marker = uniqueId('outage');
    await listener.subscribe(`flt/${marker}/#`, 1);
    await device.publish(`flt/${marker}/before`, 'warm-up', 1);
    expect((await readyz()).status).toBe(200);
    // A QoS 2 flow with packet id 9 completes before the outage; the id is free to be used again.
    const qos2Id = uniqueId('GID_flt@@@qos2-');
    const qos2 = await RawClient.connected(quick.mqttPort, qos2Id, 4, false);
    const q2 = (payload: string, dup: boolean) => ({ cmd: 'publish' as const, topic: `fltq/${marker}/q2`, payload: Buffer.from(payload), qos: 2 as const, messageId: 9, dup, retain: false });
    qos2.send(q2('first use of id 9', false));
    await qos2.next('pubrec');
    qos2.send({ cmd: 'pubrel', messageId: 9 });
    await qos2.next('pubcomp');

    await stopBroker();
    await waitFor('readiness to turn false', async () => ((await readyz()).status === 503 ? true : undefined), 30_000);
    expect((await readyz()).body.checks.rocketmqReachable).toBe(false);

    const payload = Buffer.from([0xde, 0xad, 0x00, 0xbe, 0xef, ...Buffer.from(marker)]);
    let acked1 = false;
    let acked2 = false;
    const qos1 = device.publish(`flt/${marker}/during`, payload, 1).then(() => (acked1 = true));
    const qos2Acked = device.publish(`flt/${marker}/during2`, payload, 2).then(() => (acked2 = true));
    // The id is used again while RocketMQ is away: the send fails and the device is disconnected without PUBREC.
    qos2.send(q2('second use of id 9', false));
    expect(await qos2.closedWithin(10_000)).toBe(true);
    expect(qos2.packets.find((p) => p.cmd === 'pubrec')).toBeUndefined();
    await sleep(4_000);
    expect([acked1, acked2]).toEqual([false, false]);
    expect(listener.received.filter((r) => r.topic.endsWith('/during'))).toHaveLength(0);

    await startBroker();
    await Promise.all([qos1, qos2Acked]);
    // Its DUP on the next connection must be stored, not taken for the first message with id 9.
    await waitFor('quick bridge ready', () => quick.readiness().ready || undefined, 60_000);
    const again = await RawClient.connected(quick.mqttPort, qos2Id, 4, false);
    again.send(q2('second use of id 9', true));
    await again.next('pubrec', 60_000);
    await app.waitFor((m) => m.properties.get('mqttSecondTopic') === `/${marker}/q2` && m.body.toString() === 'second use of id 9', 1, 60_000);
    // Each stored once (a redelivery to the application after the broker restart has the same message id).
    const stored2ById = new Map(app.matching((m) => m.properties.get('mqttSecondTopic') === `/${marker}/q2`).map((m) => [m.messageId, m.body.toString()]));
    expect([...stored2ById.values()].sort()).toEqual(['first use of id 9', 'second use of id 9']);
    again.end();
    const stored = await app.waitFor((m) => m.properties.get('mqttSecondTopic') === `/${marker}/during`, 1, 60_000);
    const stored2 = await app.waitFor((m) => m.properties.get('mqttSecondTopic') === `/${marker}/during2`, 1, 60_000);
    await sleep(2_000);
    expect(app.matching((m) => m.properties.get('mqttSecondTopic') === `/${marker}/during`)).toHaveLength(1);
    expect(Buffer.compare(stored[0]!.body, payload)).toBe(0);
    expect(stored2[0]!.properties.get('qoslevel')).toBe('2');
    // Delivered to MQTT subscribers only after it was stored.
    await waitFor('local delivery', () => listener.received.find((r) => r.topic === `flt/${marker}/during`));
    expect(device.connected).toBe(true);
    await waitFor('ready again', async () => ((await readyz()).status === 200 ? true : undefined), 60_000);

    // The downlink consumer has reconnected by itself too.
    await appSend(producer, TOPICS.fault, 'after outage', { mqttSecondTopic: `/${marker}/down` });
    await waitFor('downlink after outage', () => listener.received.find((r) => r.topic === `flt/${marker}/down`), 60_000);
    await Promise.all([device.end(), listener.end()]);
  });
});
