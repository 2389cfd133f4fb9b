import { ConfigError, parseConfigText } from '../../bridge/config/load.js';
import { consumerGroupOf } from '../../bridge/config/schema.js';

function problems(yaml: string): string[] {
  try {
    parseConfigText(yaml);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('bridge config', () => {
  test('an empty file gives every default', () => {
    const cfg = parseConfigText('');
    expect(cfg.mqtt).toMatchObject({ port: 1883, maxPayloadBytes: 65536, maxClientIdLength: 64 });
    expect(cfg.http.port).toBe(9090);
    expect(cfg.rocketmq.endpoints).toBe('127.0.0.1:8081');
    expect(consumerGroupOf(cfg)).toBe('mqbridge-mqbridge');
    expect(cfg.bindings).toEqual([]);
  });

  test('binding defaults', () => {
    const cfg = parseConfigText('bindings: [{mqttParentTopic: abc, rocketmqTopic: T}]');
    expect(cfg.bindings[0]).toEqual({ mqttParentTopic: 'abc', rocketmqTopic: 'T', direction: 'Bidirectional', defaultQos: 1 });
  });

  test.each([
    ['mqtt: {port: 70000}', 'mqtt.port'],
    ['mqtt: {prot: 1}', 'mqtt: Unrecognized key: "prot"'],
    ['bindings: [{mqttParentTopic: ab, rocketmqTopic: T}]', 'bindings[0].mqttParentTopic'],
    ['bindings: [{mqttParentTopic: "a/b/c", rocketmqTopic: T}]', 'bindings[0].mqttParentTopic'],
    ['bindings: [{mqttParentTopic: abc, rocketmqTopic: "bad topic"}]', 'bindings[0].rocketmqTopic'],
    ['bindings: [{mqttParentTopic: abc, rocketmqTopic: T, direction: Up}]', 'bindings[0].direction'],
    ['bindings: [{mqttParentTopic: abc, rocketmqTopic: T, defaultQos: 3}]', 'bindings[0].defaultQos'],
    ['bindings: [{mqttParentTopic: abc, rocketmqTopic: T}, {mqttParentTopic: abc, rocketmqTopic: U}]', 'bindings[1].mqttParentTopic: parent topic "abc" is already bound by bindings[0]'],
    ['bindings: [{mqttParentTopic: abc, rocketmqTopic: T}, {mqttParentTopic: abd, rocketmqTopic: T}]', 'bindings[1].rocketmqTopic'],
    ['bridge: {name: "Not A Name"}', 'bridge.name'],
    ['rocketmq: {endpoints: ""}', 'rocketmq.endpoints'],
    [': : :', 'not valid YAML'],
  ])('%s is refused naming %s', (yaml, expected) => {
    expect(problems(yaml).join('\n')).toContain(expected);
  });

  test('two uplink-only bindings may share a RocketMQ topic', () => {
    const yaml = 'bindings: [{mqttParentTopic: abc, rocketmqTopic: T, direction: MqttToRocketmq}, {mqttParentTopic: abd, rocketmqTopic: T}]';
    expect(problems(yaml)).toEqual([]);
  });
});
