import type { Direction } from '../../contract/rules.js';
import type { Binding } from '../config/schema.js';

export function allowsUplink(direction: Direction): boolean {
  return direction !== 'RocketmqToMqtt';
}

export function allowsDownlink(direction: Direction): boolean {
  return direction !== 'MqttToRocketmq';
}

/** The bindings in force, looked up by MQTT parent topic. Immutable: a reload builds a new one. */
export class BindingTable {
  private readonly byParent: ReadonlyMap<string, Binding>;
  private readonly byDownlinkTopic: ReadonlyMap<string, Binding>;

  constructor(readonly bindings: readonly Binding[]) {
    this.byParent = new Map(bindings.map((b) => [b.mqttParentTopic, b]));
    // Once per config, not per downlink message.
    this.byDownlinkTopic = new Map(bindings.filter((b) => allowsDownlink(b.direction)).map((b) => [b.rocketmqTopic, b]));
  }

  get size(): number {
    return this.bindings.length;
  }

  forParent(parent: string): Binding | undefined {
    return this.byParent.get(parent);
  }

  /** The binding that delivers each RocketMQ topic to MQTT (config validation keeps it unique). */
  downlinkByTopic(): ReadonlyMap<string, Binding> {
    return this.byDownlinkTopic;
  }
}
