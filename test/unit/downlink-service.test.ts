import type { Aedes } from 'aedes';
import type { MessageView } from 'rocketmq-client-nodejs';
import { pino } from 'pino';
import { DownlinkService } from '../../bridge/downlink/service.js';
import { BindingTable } from '../../bridge/mapping/bindings.js';
import { p2pInternalTopic } from '../../bridge/mapping/p2p.js';
import { BridgeMetrics } from '../../bridge/observability/metrics.js';

const bound = new BindingTable([
  { mqttParentTopic: 'cmd', rocketmqTopic: 'T_DOWN', direction: 'RocketmqToMqtt', defaultQos: 1 },
  { mqttParentTopic: 'up', rocketmqTopic: 'T_UP', direction: 'MqttToRocketmq', defaultQos: 1 },
]);

/** What DownlinkService uses of aedes: publish, and the clients of this pod. */
function fakeAedes(publishError?: Error) {
  const published: { topic: string; qos: number; payload: Buffer; clientId?: string }[] = [];
  const aedes = {
    clients: { 'GID_d@@@here': {} } as Record<string, unknown>,
    publish(packet: (typeof published)[number], done: (err?: Error) => void) {
      if (!publishError) published.push(packet);
      setImmediate(() => done(publishError));
    },
  };
  return { aedes: aedes as unknown as Aedes, published };
}

function service(opts: { publishError?: Error; storeUp?: boolean; online?: string[] } = {}) {
  const { aedes, published } = fakeAedes(opts.publishError);
  const metrics = new BridgeMetrics();
  const downlink = new DownlinkService({
    aedes,
    bindings: () => bound,
    origin: 'pod-test',
    maxTopicLength: 64,
    metrics,
    log: pino({ level: 'silent' }),
    isOnline: async (id) => (opts.online ?? []).includes(id),
    ...(opts.storeUp !== undefined ? { storeUp: () => opts.storeUp! } : {}),
  });
  return { downlink, published, metrics };
}

function message(props: Record<string, string>, body = 'b'): MessageView {
  return { messageId: 'm1', body: Buffer.from(body), properties: new Map(Object.entries(props)), bornTimestamp: new Date() } as unknown as MessageView;
}

describe('DownlinkService.deliver: the result decides the ack', () => {
  test.each<[string, Record<string, string>, object, string | undefined]>([
    ['a broadcast', { mqttSecondTopic: '/a/b', qoslevel: '0' }, { outcome: 'delivered' }, 'cmd/a/b'],
    ['a P2P message to a device on this pod', { mqttSecondTopic: '/p2p/GID_d@@@here' }, { outcome: 'delivered' }, p2pInternalTopic('GID_d@@@here', 'cmd/p2p/GID_d@@@here')],
    ['a P2P message to a device on another pod', { mqttSecondTopic: '/p2p/GID_d@@@there' }, { outcome: 'delivered' }, p2pInternalTopic('GID_d@@@there', 'cmd/p2p/GID_d@@@there')],
    ['a P2P message to an offline device, to be kept', { mqttSecondTopic: '/p2p/GID_d@@@away', cleansessionflag: 'false' }, { outcome: 'delivered' }, p2pInternalTopic('GID_d@@@away', 'cmd/p2p/GID_d@@@away')],
    ['a P2P message to an offline device, online only', { mqttSecondTopic: '/p2p/GID_d@@@away' }, { outcome: 'dropped' }, undefined],
    ['an echo of the bridge\'s own uplink', { mqttSecondTopic: '/a', mqbridgeOrigin: 'pod-test' }, { outcome: 'dropped' }, undefined],
    ['a message the mapping refuses (a wildcard in the topic)', { mqttSecondTopic: '/a/#' }, { outcome: 'dropped' }, undefined],
  ])('%s', async (_name, props, result, topic) => {
    const { downlink, published } = service({ online: ['GID_d@@@there'] });
    expect(await downlink.deliver('T_DOWN', message(props))).toEqual(result);
    expect(published.map((p) => p.topic)).toEqual(topic ? [topic] : []);
  });

  test('delivered: with its QoS, as the RocketMQ publisher, and counted', async () => {
    const { downlink, published, metrics } = service();
    await downlink.deliver('T_DOWN', message({ mqttSecondTopic: '/x', qoslevel: '0' }, 'payload'));
    expect(published[0]).toMatchObject({ qos: 0, payload: Buffer.from('payload'), clientId: '$mqbridge-rocketmq' });
    expect((await metrics.messages.get()).values.find((v) => v.labels.direction === 'downlink')?.value).toBe(1);
  });

  test.each<[string, Parameters<typeof service>[0], string, string]>([
    ['a topic no longer bound for downlink (an uplink-only one)', {}, 'T_UP', 'unbound'],
    ['a topic not bound at all', {}, 'T_GONE', 'unbound'],
    ['the session store not answering', { storeUp: false }, 'T_DOWN', 'session_store_unreachable'],
    ['aedes refusing the publish', { publishError: new Error('the emitter is closed') }, 'T_DOWN', 'publish_failed'],
  ])('retry-later, so the message stays in RocketMQ: %s', async (_name, opts, topic, reason) => {
    const { downlink, published } = service(opts);
    expect(await downlink.deliver(topic, message({ mqttSecondTopic: '/x' }))).toMatchObject({ outcome: 'retry-later', reason });
    expect(published).toEqual([]);
  });
});
