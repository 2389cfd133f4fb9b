import { createHash } from 'node:crypto';

/**
 * The rules bridge/ and operator/ both hold to, each written once: what a binding may name, its
 * directions and QoS levels, the default consumer groups, and which config sections a running
 * bridge applies live. The CRDs carry the same patterns (operator/api/types.ts `PATTERNS`, which
 * the CRD test checks them against). Patterns are strings: an OpenAPI `pattern` and a RegExp
 * source alike.
 */

/** A binding's MQTT parent topic, the mapping contract's rule: 3-64 characters of [A-Za-z0-9_-]. */
export const PARENT_TOPIC_PATTERN = '^[A-Za-z0-9_-]{3,64}$';
/** RocketMQ's rule for topic and group names (TopicValidator): at most 127 characters of [%|A-Za-z0-9_-]. */
export const ROCKETMQ_NAME_PATTERN = '^[%|A-Za-z0-9_-]{1,127}$';

export const DIRECTIONS = ['Bidirectional', 'MqttToRocketmq', 'RocketmqToMqtt'] as const;
export type Direction = (typeof DIRECTIONS)[number];

export const QOS_LEVELS = [0, 1, 2] as const;
export type Qos = (typeof QOS_LEVELS)[number];

/** The config sections a running bridge applies on reload; every other change waits for a restart (and the operator rolls the pods for it). */
export const RELOADABLE_SECTIONS = ['bindings', 'log', 'reload'] as const;

/** The consumer group of a bridge whose config names none (one not run by the operator): `mqbridge-<bridge.name>`, dots made dashes. */
export function bridgeConsumerGroup(bridgeName: string): string {
  return `mqbridge-${bridgeName.replace(/\./g, '-')}`;
}

/** RocketMQ's longest group name (`ROCKETMQ_NAME_PATTERN`). */
const GROUP_MAX_LENGTH = 127;

/**
 * The consumer group the operator gives an MqttBridge that names none: `mqbridge_<namespace>_<name>`.
 * Neither a namespace (a DNS label) nor an MqttBridge name (a DNS-1035 label) has an `_`, so the
 * first one after the prefix ends the namespace, and no two bridges share a group (the old
 * `mqbridge-<namespace>-<name>` made `team-a`/`x` and `team`/`a-x` one). A longer one keeps its
 * start and ends in `__` and a hash of namespace and name; `__` never occurs in the short form.
 */
export function defaultConsumerGroup(namespace: string, name: string): string {
  const plain = `mqbridge_${namespace}_${name}`;
  if (plain.length <= GROUP_MAX_LENGTH) return plain;
  const hash = createHash('sha256').update(`${namespace}/${name}`).digest('hex').slice(0, 16);
  return `${plain.slice(0, GROUP_MAX_LENGTH - hash.length - 2)}__${hash}`;
}
