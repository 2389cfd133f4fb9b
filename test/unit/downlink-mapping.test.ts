import type { Binding } from '../../bridge/config/schema.js';
import { planDownlink } from '../../bridge/mapping/downlink.js';

const binding: Binding = { mqttParentTopic: 'sensors', rocketmqTopic: 'SENSORS', direction: 'Bidirectional', defaultQos: 1 };

function plan(props: Record<string, string>, b: Binding = binding) {
  return planDownlink(b, new Map(Object.entries(props)), 'me', 64);
}

describe('planDownlink: the MQTT delivery of a RocketMQ message', () => {
  test.each([
    [{}, 'sensors', 1],
    [{ mqttSecondTopic: '' }, 'sensors', 1],
    [{ mqttSecondTopic: '/a/b' }, 'sensors/a/b', 1],
    [{ mqttSecondTopic: '/a', qoslevel: '0' }, 'sensors/a', 0],
    [{ mqttSecondTopic: '/a', qoslevel: '2' }, 'sensors/a', 2],
    [{ mqttSecondTopic: '/a', qoslevel: '7' }, 'sensors/a', 1],
    [{ mqttSecondTopic: '/a', qoslevel: 'x' }, 'sensors/a', 1],
    // mqttRealTopic renames P2P messages only; a broadcast is shown as it is routed.
    [{ mqttSecondTopic: '/a', mqttRealTopic: '/shown' }, 'sensors/a', 1],
    [{ mqttSecondTopic: '/a', clientId: 'GID_x@@@y', mqbridgeOrigin: 'other-bridge' }, 'sensors/a', 1],
  ])('%j → broadcast on %s with QoS %s', (props, topic, qos) => {
    expect(plan(props)).toEqual({ ok: true, kind: 'broadcast', topic, qos });
  });

  test('defaultQos of the binding applies when qoslevel is absent', () => {
    expect(plan({}, { ...binding, defaultQos: 0 })).toMatchObject({ qos: 0 });
  });

  test.each([
    [{ mqttSecondTopic: '/p2p/GID_a@@@d1' }, 'GID_a@@@d1', 'sensors/p2p/GID_a@@@d1', false],
    [{ mqttSecondTopic: '/p2p/GID_a@@@d1', mqttRealTopic: '/alerts/fire' }, 'GID_a@@@d1', 'sensors/alerts/fire', false],
    [{ mqttSecondTopic: '/p2p/GID_a@@@d1', cleansessionflag: 'false' }, 'GID_a@@@d1', 'sensors/p2p/GID_a@@@d1', true],
    [{ mqttSecondTopic: '/p2p/GID_a@@@d1', cleansessionflag: 'true' }, 'GID_a@@@d1', 'sensors/p2p/GID_a@@@d1', false],
  ])('%j → P2P to %s shown as %s, kept offline: %s', (props, target, topic, keep) => {
    expect(plan(props)).toEqual({ ok: true, kind: 'p2p', target, topic, qos: 1, keepWhileOffline: keep });
  });

  test('the bridge skips its own uplink coming back', () => {
    expect(plan({ mqbridgeOrigin: 'me', clientId: 'GID_a@@@d1' })).toEqual({ ok: true, kind: 'echo' });
  });

  test.each([
    [{ mqttSecondTopic: 'no-slash' }],
    [{ mqttSecondTopic: '/a/+' }],
    [{ mqttSecondTopic: '/#' }],
    [{ mqttSecondTopic: '/p2p/x', mqttRealTopic: 'bad' }],
    [{ mqttSecondTopic: '/' + 'x'.repeat(64) }],
  ])('%j is not deliverable', (props) => {
    expect(plan(props)).toMatchObject({ ok: false, reason: 'invalid_downlink_message' });
  });
});
