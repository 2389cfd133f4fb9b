import type { Producer } from 'rocketmq-client-nodejs';
import type { Bridge } from '../../bridge/bridge.js';
import { metricValue, startBridge } from './support/bridge.js';
import { GROUPS, TOPICS, sleep, uniqueId, waitFor } from './support/env.js';
import { Device } from './support/mqtt.js';
import { AppConsumer, appProducer, appSend, props } from './support/rocketmq.js';

let bridge: Bridge;
let producer: Producer;
let app: AppConsumer;

beforeAll(async () => {
  producer = await appProducer();
  app = await AppConsumer.start(TOPICS.p2p, GROUPS.appP2p);
  bridge = await startBridge(GROUPS.bridgeP2p, { bindings: [{ mqttParentTopic: 'p2pt', rocketmqTopic: TOPICS.p2p }] });
  await sleep(1_500);
});

afterAll(async () => {
  await bridge?.stop();
  await app?.stop();
  await producer?.shutdown();
});

const deviceId = (name: string) => uniqueId(`GID_p2p@@@${name}-`);

describe('point to point', () => {
  test('device → device: the target receives without subscribing, nobody else does, RocketMQ has it', async () => {
    const targetId = deviceId('target');
    const target = await Device.connect(bridge.mqttPort, { clientId: targetId });
    const snoop = await Device.connect(bridge.mqttPort);
    await snoop.subscribe('p2pt/#', 2);
    const sender = await Device.connect(bridge.mqttPort, { clientId: deviceId('sender') });
    await sender.publish(`p2pt/p2p/${targetId}`, 'psst', 1);

    const msg = await waitFor('P2P at target', () => target.received[0]);
    expect(msg.topic).toBe(`p2pt/p2p/${targetId}`);
    expect(msg.payload.toString()).toBe('psst');
    const [stored] = await app.waitFor((m) => m.properties.get('mqttSecondTopic') === `/p2p/${targetId}`);
    expect(props(stored!)).toMatchObject({ clientId: sender.client.options.clientId, qoslevel: '1' });
    await sleep(2_000); // the RocketMQ copy comes round and must not be delivered a second time
    expect(target.received).toHaveLength(1);
    expect(snoop.received).toHaveLength(0);
    await Promise.all([target.end(), snoop.end(), sender.end()]);
  });

  test('app → device with mqttSecondTopic=/p2p/<id>, shown as mqttRealTopic', async () => {
    const targetId = deviceId('app');
    const target = await Device.connect(bridge.mqttPort, { clientId: targetId });
    const bystander = await Device.connect(bridge.mqttPort);
    await bystander.subscribe('p2pt/#');
    await appSend(producer, TOPICS.p2p, 'plain', { mqttSecondTopic: `/p2p/${targetId}` });
    await appSend(producer, TOPICS.p2p, 'renamed', { mqttSecondTopic: `/p2p/${targetId}`, mqttRealTopic: '/alerts/door', qoslevel: '2' });
    await waitFor('two P2P messages', () => (target.received.length >= 2 ? true : undefined));
    const byPayload = Object.fromEntries(target.received.map((r) => [r.payload.toString(), r]));
    expect(byPayload.plain).toMatchObject({ topic: `p2pt/p2p/${targetId}`, qos: 1 });
    expect(byPayload.renamed).toMatchObject({ topic: 'p2pt/alerts/door', qos: 2 });
    expect(bystander.received).toHaveLength(0);
    await Promise.all([target.end(), bystander.end()]);
  });

  test('cleansessionflag=false keeps a P2P message for an offline persistent session; true does not', async () => {
    const targetId = deviceId('offline');
    const first = await Device.connect(bridge.mqttPort, { clientId: targetId, clean: false });
    await first.end();
    const dropsBefore = await metricValue(bridge, 'mqbridge_refusals_total', { reason: 'p2p_target_offline' });
    await appSend(producer, TOPICS.p2p, 'kept', { mqttSecondTopic: `/p2p/${targetId}`, cleansessionflag: 'false' });
    await appSend(producer, TOPICS.p2p, 'dropped', { mqttSecondTopic: `/p2p/${targetId}`, cleansessionflag: 'true' });
    await waitFor('drop counted', async () => (await metricValue(bridge, 'mqbridge_refusals_total', { reason: 'p2p_target_offline' })) > dropsBefore);
    await sleep(500);
    const back = await Device.connect(bridge.mqttPort, { clientId: targetId, clean: false });
    const kept = await waitFor('kept message', () => back.received.find((r) => r.payload.toString() === 'kept'));
    expect(kept.topic).toBe(`p2pt/p2p/${targetId}`); // a queued P2P message is shown its real topic too
    await sleep(500);
    expect(back.received.map((r) => r.payload.toString())).toEqual(['kept']);
    await back.end();
  });
});
