import { BindingTable } from '../../bridge/mapping/bindings.js';
import { p2pInternalTopic } from '../../bridge/mapping/p2p.js';
import { forwardVerdict, type ClientAccess } from '../../bridge/mqtt/delivery-policy.js';

const bindings = new BindingTable([
  { mqttParentTopic: 'both', rocketmqTopic: 'B', direction: 'Bidirectional', defaultQos: 1 },
  { mqttParentTopic: 'down', rocketmqTopic: 'D', direction: 'RocketmqToMqtt', defaultQos: 1 },
  { mqttParentTopic: 'up', rocketmqTopic: 'U', direction: 'MqttToRocketmq', defaultQos: 1 },
]);
const everything: ClientAccess = { ownsClientId: true, mayReceive: () => true };
const reader = (prefix: string, ownsClientId = true): ClientAccess => ({ ownsClientId, mayReceive: (t) => t.startsWith(prefix) });
const me = 'GID_a@@@me';

describe('forwardVerdict', () => {
  test.each([
    ['a bound topic', 'both/x', everything, 'both/x'],
    ['a downlink-only binding', 'down/x', everything, 'down/x'],
    ['an uplink-only binding', 'up/x', everything, undefined],
    ['an unbound parent', 'other/x', everything, undefined],
    ['a $SYS topic', '$SYS/uploadToken', everything, undefined],
    ['another internal topic', '$mqbridge/other', everything, undefined],
    ['a topic outside the R rights', 'both/secret', reader('both/public'), undefined],
    ['a topic inside the R rights', 'both/public/1', reader('both/public'), 'both/public/1'],
    ['my own P2P message, id proven', p2pInternalTopic(me, `both/p2p/${me}`), reader('nothing'), `both/p2p/${me}`],
    ['my P2P message over an uplink-only binding (device to device)', p2pInternalTopic(me, `up/p2p/${me}`), everything, `up/p2p/${me}`],
    ['my P2P message with an unbound token and no R right', p2pInternalTopic(me, `both/p2p/${me}`), reader('nothing', false), undefined],
    ['my P2P message with an unbound token and R on it', p2pInternalTopic(me, `both/p2p/${me}`), reader('both/p2p/', false), `both/p2p/${me}`],
    ["another client's P2P message", p2pInternalTopic('GID_a@@@other', `both/p2p/GID_a@@@other`), everything, undefined],
    ['a P2P message on a parent no longer bound', p2pInternalTopic(me, `gone/p2p/${me}`), everything, undefined],
  ])('%s', (_name, topic, access, shown) => {
    const verdict = forwardVerdict(me, topic, access, bindings);
    expect(verdict.ok ? verdict.topic : undefined).toBe(shown);
  });
});
