import { parseConfig } from '../../bridge/config/load.js';
import { BindingTable } from '../../bridge/mapping/bindings.js';
import { payloadOf } from '../../bridge/mapping/properties.js';
import { checkSubscribeFilter, planUplink, type DevicePublish } from '../../bridge/mapping/uplink.js';

const table = new BindingTable(
  parseConfig({
    bindings: [
      { mqttParentTopic: 'sensors', rocketmqTopic: 'SENSORS' },
      { mqttParentTopic: 'up_only', rocketmqTopic: 'UP', direction: 'MqttToRocketmq' },
      { mqttParentTopic: 'down-only', rocketmqTopic: 'DOWN', direction: 'RocketmqToMqtt' },
    ],
  }).bindings,
);
const limits = { maxPayloadBytes: 16, maxTopicLength: 40 };

function pub(topic: string, extra: Partial<DevicePublish> = {}): DevicePublish {
  return { topic, payload: Buffer.from('hi'), qos: 1, clientId: 'GID_test@@@dev1', cleanSession: true, ...extra };
}

describe('planUplink: the RocketMQ message of a device PUBLISH', () => {
  test.each([
    ['sensors/room1/temp', 'SENSORS', '/room1/temp', undefined],
    ['sensors', 'SENSORS', undefined, undefined],
    ['sensors/', 'SENSORS', '/', undefined],
    ['sensors/p2p/GID_x@@@d2', 'SENSORS', '/p2p/GID_x@@@d2', 'GID_x@@@d2'],
    ['sensors/p2p/GID_x@@@d2/more', 'SENSORS', '/p2p/GID_x@@@d2/more', 'GID_x@@@d2'],
    ['sensors/p2p/', 'SENSORS', '/p2p/', undefined],
    ['sensors/p2p', 'SENSORS', '/p2p', undefined],
    ['up_only/a', 'UP', '/a', undefined],
  ])('%s → topic %s, mqttSecondTopic %s, p2p %s', (topic, rocketmqTopic, second, p2p) => {
    const plan = planUplink(table, pub(topic), limits, 'bridge-a');
    if (!plan.ok) throw new Error(plan.detail);
    expect(plan.message.topic).toBe(rocketmqTopic);
    expect(plan.message.properties.get('mqttSecondTopic')).toBe(second);
    expect(plan.message.properties.has('mqttSecondTopic')).toBe(second !== undefined);
    expect(plan.p2pTarget).toBe(p2p);
  });

  test.each([
    [0, true, '0', 'true'],
    [1, false, '1', 'false'],
    [2, true, '2', 'true'],
  ] as const)('qos %s cleanSession %s → qoslevel %s cleansessionflag %s', (qos, clean, qoslevel, flag) => {
    const plan = planUplink(table, pub('sensors/x', { qos, cleanSession: clean }), limits, 'bridge-a');
    if (!plan.ok) throw new Error(plan.detail);
    expect(Object.fromEntries(plan.message.properties)).toEqual({
      qoslevel,
      cleansessionflag: flag,
      clientId: 'GID_test@@@dev1',
      mqttSecondTopic: '/x',
      mqbridgeOrigin: 'bridge-a',
    });
  });

  test('the payload is the very same bytes', () => {
    const payload = Buffer.from([0, 255, 1, 254, 0]);
    const plan = planUplink(table, pub('sensors/bin', { payload }), limits, 'o');
    expect(plan.ok && plan.message.body).toBe(payload);
  });

  test.each([
    ['', 'empty_topic'],
    ['sensors/+/x', 'wildcard_in_topic'],
    ['sensors/#', 'wildcard_in_topic'],
    ['sensors/' + 'x'.repeat(40), 'topic_too_long'],
    ['$SYS/x', 'reserved_topic'],
    ['$mqbridge/p2p/abc/x', 'reserved_topic'],
    ['other/x', 'unbound_topic'],
    ['sens', 'unbound_topic'],
    ['down-only/x', 'direction_forbidden'],
  ])('refuses %j with %s', (topic, reason) => {
    const plan = planUplink(table, pub(topic), limits, 'o');
    expect(plan.ok).toBe(false);
    expect(!plan.ok && plan.reason).toBe(reason);
  });

  test('an empty payload travels as a placeholder flagged by mqbridgeEmptyBody, since RocketMQ refuses empty bodies', () => {
    const plan = planUplink(table, pub('sensors', { payload: Buffer.alloc(0) }), limits, 'o');
    if (!plan.ok) throw new Error(plan.detail);
    expect(plan.message.body.length).toBeGreaterThan(0);
    expect(plan.message.properties.get('mqbridgeEmptyBody')).toBe('true');
    expect(payloadOf(plan.message.body, plan.message.properties)).toEqual(Buffer.alloc(0));
    const full = planUplink(table, pub('sensors', { payload: Buffer.from([0]) }), limits, 'o');
    expect(full.ok && full.message.properties.has('mqbridgeEmptyBody')).toBe(false);
    expect(full.ok && payloadOf(full.message.body, full.message.properties)).toEqual(Buffer.from([0]));
  });

  test('refuses a payload over the limit, accepts one at the limit', () => {
    expect(planUplink(table, pub('sensors', { payload: Buffer.alloc(17) }), limits, 'o')).toMatchObject({ ok: false, reason: 'payload_too_large' });
    expect(planUplink(table, pub('sensors', { payload: Buffer.alloc(16) }), limits, 'o').ok).toBe(true);
    expect(planUplink(table, pub('sensors', { payload: Buffer.alloc(0) }), limits, 'o').ok).toBe(true);
  });
});

describe('checkSubscribeFilter', () => {
  test.each([
    ['sensors/#', undefined],
    ['sensors/+/temp', undefined],
    ['sensors', undefined],
    ['down-only/a/b', undefined],
    ['#', 'wildcard_in_topic'],
    ['+/x', 'wildcard_in_topic'],
    ['up_only/#', 'direction_forbidden'],
    ['nobody/#', 'unbound_topic'],
    ['$SYS/#', 'reserved_topic'],
    ['', 'empty_topic'],
  ])('%j → %s', (filter, reason) => {
    expect(checkSubscribeFilter(table, filter, limits)?.reason).toBe(reason);
  });
});
