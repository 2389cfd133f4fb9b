import type { Binding } from '../config/schema.js';
import type { BindingTable } from './bindings.js';
import { allowsDownlink, allowsUplink } from './bindings.js';
import type { Qos } from '../../contract/rules.js';
import { EMPTY_PAYLOAD_PLACEHOLDER, PROP } from './properties.js';
import { refuse, type Refusal } from './refusals.js';
import { hasControlCharacter, hasWildcard, isInternalTopic, splitTopic } from './topics.js';
import { p2pTargetOf } from './p2p.js';

export interface UplinkLimits {
  maxPayloadBytes: number;
  maxTopicLength: number;
}

export interface DevicePublish {
  topic: string;
  payload: Buffer;
  qos: Qos;
  clientId: string;
  cleanSession: boolean;
  /** QoS 1 and 2: `<clientId>:<session epoch>:<packet id>`, the same for every send and retransmission of this message. */
  key?: string;
}

/** What the bridge sends to RocketMQ for one device PUBLISH. */
export interface UplinkMessage {
  topic: string;
  body: Buffer;
  properties: Map<string, string>;
  /** RocketMQ message keys (indexed; applications deduplicate on them). */
  keys?: string[];
}

export interface UplinkPlan {
  ok: true;
  binding: Binding;
  message: UplinkMessage;
  /** Set for `<parent>/p2p/<clientId>` publishes: the only client that receives it. */
  p2pTarget: string | undefined;
}

/** Checks a topic a device wants to publish to, independent of bindings. */
export function checkPublishTopic(topic: string, limits: UplinkLimits): Refusal | undefined {
  if (topic.length === 0) return refuse('empty_topic', 'PUBLISH with an empty topic');
  if (hasWildcard(topic)) return refuse('wildcard_in_topic', `wildcards are not allowed in a PUBLISH topic: ${topic}`);
  if (topic.length > limits.maxTopicLength) {
    return refuse('topic_too_long', `topic is ${topic.length} characters, the limit is ${limits.maxTopicLength}`);
  }
  if (topic.startsWith('$')) return refuse('reserved_topic', `topics starting with $ are reserved: ${topic}`);
  if (hasControlCharacter(topic)) return refuse('control_character', `topic has a control character: ${JSON.stringify(topic)}`);
  return undefined;
}

/** The binding a device may publish `topic` through, or why it may not. */
export function uplinkBindingOf(bindings: BindingTable, topic: string, limits: UplinkLimits): Binding | Refusal {
  const bad = checkPublishTopic(topic, limits);
  if (bad) return bad;
  const { parent } = splitTopic(topic);
  const binding = bindings.forParent(parent);
  if (!binding) return refuse('unbound_topic', `no binding for parent topic "${parent}"`);
  if (!allowsUplink(binding.direction)) {
    return refuse('direction_forbidden', `binding of "${parent}" is ${binding.direction}: devices may not publish`);
  }
  return binding;
}

/**
 * A will is a PUBLISH the bridge makes for the client later, maybe on another pod: checked like
 * one when the client connects (and its W right by the caller), so what is stored can be sent.
 */
export function checkWill(bindings: BindingTable, will: { topic: string; payload: Buffer | string }, limits: UplinkLimits): Refusal | undefined {
  const binding = uplinkBindingOf(bindings, will.topic, limits);
  if ('ok' in binding) return binding;
  const size = typeof will.payload === 'string' ? Buffer.byteLength(will.payload) : will.payload.length;
  if (size > limits.maxPayloadBytes) return refuse('payload_too_large', `will payload is ${size} bytes, the limit is ${limits.maxPayloadBytes}`);
  return undefined;
}

/** Maps a device PUBLISH to the RocketMQ message of the contract, or says why it is refused. */
export function planUplink(bindings: BindingTable, pub: DevicePublish, limits: UplinkLimits, origin: string): UplinkPlan | Refusal {
  const binding = uplinkBindingOf(bindings, pub.topic, limits);
  if ('ok' in binding) return binding;
  if (pub.payload.length > limits.maxPayloadBytes) {
    return refuse('payload_too_large', `payload is ${pub.payload.length} bytes, the limit is ${limits.maxPayloadBytes}`);
  }
  const { second } = splitTopic(pub.topic);
  const properties = new Map<string, string>([
    [PROP.qos, String(pub.qos)],
    [PROP.cleanSession, String(pub.cleanSession)],
    [PROP.clientId, pub.clientId],
    [PROP.origin, origin],
  ]);
  // A bare parent topic carries no mqttSecondTopic at all (rather than an empty one).
  if (second !== undefined) properties.set(PROP.secondTopic, second);
  const empty = pub.payload.length === 0;
  if (empty) properties.set(PROP.emptyBody, 'true');
  return {
    ok: true,
    binding,
    message: { topic: binding.rocketmqTopic, body: empty ? EMPTY_PAYLOAD_PLACEHOLDER : pub.payload, properties, ...(pub.key ? { keys: [pub.key] } : {}) },
    p2pTarget: p2pTargetOf(second),
  };
}

/** Checks a device SUBSCRIBE filter: the parent must be bound for delivery to MQTT. */
export function checkSubscribeFilter(bindings: BindingTable, filter: string, limits: UplinkLimits): Refusal | undefined {
  if (filter.length === 0) return refuse('empty_topic', 'SUBSCRIBE with an empty filter');
  if (filter.length > limits.maxTopicLength) {
    return refuse('topic_too_long', `filter is ${filter.length} characters, the limit is ${limits.maxTopicLength}`);
  }
  if (filter.startsWith('$') || isInternalTopic(filter)) return refuse('reserved_topic', `filters starting with $ are reserved: ${filter}`);
  const { parent } = splitTopic(filter);
  if (parent === '#' || parent === '+') {
    return refuse('wildcard_in_topic', 'the parent topic level must be named: it selects the binding');
  }
  const binding = bindings.forParent(parent);
  if (!binding) return refuse('unbound_topic', `no binding for parent topic "${parent}"`);
  if (!allowsDownlink(binding.direction)) {
    return refuse('direction_forbidden', `binding of "${parent}" is ${binding.direction}: devices may not subscribe`);
  }
  return undefined;
}
