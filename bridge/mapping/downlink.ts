import type { Binding } from '../config/schema.js';
import type { Qos } from '../../contract/rules.js';
import { PROP, parseQos } from './properties.js';
import { refuse, type Refusal } from './refusals.js';
import { hasWildcard } from './topics.js';
import { p2pTargetOf } from './p2p.js';

/** A RocketMQ message delivered to the subscribers of an MQTT topic. */
export interface BroadcastDelivery {
  ok: true;
  kind: 'broadcast';
  topic: string;
  qos: Qos;
}

/** A RocketMQ message for one client, which receives it without subscribing. */
export interface P2pDelivery {
  ok: true;
  kind: 'p2p';
  target: string;
  /** The topic the device is shown: `<parent>` + mqttRealTopic when set, else + mqttSecondTopic. */
  topic: string;
  qos: Qos;
  /** `cleansessionflag=false`: keep it for the target's persistent session while it is offline. */
  keepWhileOffline: boolean;
}

/** The bridge's own uplink coming back from RocketMQ: its devices already got it. */
export interface EchoSkip {
  ok: true;
  kind: 'echo';
}

export type DownlinkPlan = BroadcastDelivery | P2pDelivery | EchoSkip;

function subTopic(value: string | undefined, name: string): string | Refusal {
  if (value === undefined || value === '') return '';
  if (!value.startsWith('/')) return refuse('invalid_downlink_message', `${name} must start with "/": ${value}`);
  if (hasWildcard(value)) return refuse('invalid_downlink_message', `${name} must not contain + or #: ${value}`);
  return value;
}

/**
 * Maps the user properties of a RocketMQ message on a bound topic to its MQTT delivery.
 * An unparsable `qoslevel` falls back to the binding's default rather than losing the message.
 */
export function planDownlink(
  binding: Binding,
  properties: ReadonlyMap<string, string>,
  origin: string,
  maxTopicLength: number,
): DownlinkPlan | Refusal {
  if (properties.get(PROP.origin) === origin) return { ok: true, kind: 'echo' };
  const second = subTopic(properties.get(PROP.secondTopic), PROP.secondTopic);
  if (typeof second !== 'string') return second;
  const real = subTopic(properties.get(PROP.realTopic), PROP.realTopic);
  if (typeof real !== 'string') return real;

  const qos = parseQos(properties.get(PROP.qos)) ?? binding.defaultQos;
  const target = p2pTargetOf(second);
  const topic = binding.mqttParentTopic + (target !== undefined && real !== '' ? real : second);
  if (topic.length > maxTopicLength) {
    return refuse('invalid_downlink_message', `topic is ${topic.length} characters, the limit is ${maxTopicLength}`);
  }
  if (target === undefined) return { ok: true, kind: 'broadcast', topic, qos };
  const keepWhileOffline = properties.get(PROP.cleanSession) === 'false';
  return { ok: true, kind: 'p2p', target, topic, qos, keepWhileOffline };
}
