import { ConfigInForce } from '../../bridge/config/in-force.js';
import { parseConfigText } from '../../bridge/config/load.js';

const BASE = 'bindings: [{mqttParentTopic: aaa, rocketmqTopic: TA}]\nmqtt: {port: 1883}\nlog: {level: info}\n';

describe('ConfigInForce: what a reload puts in force and what waits for a restart', () => {
  test.each([
    ['a binding added', 'bindings: [{mqttParentTopic: aaa, rocketmqTopic: TA}, {mqttParentTopic: bbb, rocketmqTopic: TB}]\nmqtt: {port: 1883}\nlog: {level: info}\n', [], 2],
    ['the log level', 'bindings: [{mqttParentTopic: aaa, rocketmqTopic: TA}]\nmqtt: {port: 1883}\nlog: {level: debug}\n', [], 1],
    ['the reload settings', `${BASE}reload: {pollMs: 250}\n`, [], 1],
    ['the MQTT port, with a binding removed', 'bindings: []\nmqtt: {port: 1884}\nlog: {level: info}\n', ['mqtt'], 0],
    ['RocketMQ and the port', `${BASE.replace('1883', '1884')}rocketmq: {endpoints: "10.0.0.1:8081"}\n`, ['mqtt', 'rocketmq'], 1],
  ])('%s', (_, nextText, pending, bindings) => {
    const inForce = new ConfigInForce(parseConfigText(BASE));
    const next = parseConfigText(nextText);
    expect(inForce.put(next)).toEqual(pending);
    expect(inForce.restartPending).toEqual(pending);
    expect(inForce.table.size).toBe(bindings);
    // Reloadable sections are the new ones; every other section keeps its running value.
    expect(inForce.config.bindings).toEqual(next.bindings);
    expect(inForce.config.log).toEqual(next.log);
    expect(inForce.config.reload).toEqual(next.reload);
    expect(inForce.config.mqtt.port).toBe(1883);
    expect(inForce.config.rocketmq.endpoints).toBe('127.0.0.1:8081');
  });

  test('a later reload that undoes a restart-only change clears what was pending', () => {
    const inForce = new ConfigInForce(parseConfigText(BASE));
    inForce.put(parseConfigText(BASE.replace('1883', '1884')));
    expect(inForce.restartPending).toEqual(['mqtt']);
    inForce.put(parseConfigText(BASE));
    expect(inForce.restartPending).toEqual([]);
  });
});
