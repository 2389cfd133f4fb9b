/** Splitting and checking MQTT topics the way the mapping contract defines them (P2P topics: p2p.ts). */

export interface SplitTopic {
  /** First level: the parent topic that selects a binding. */
  parent: string;
  /** Everything after the parent including the leading slash; undefined for a bare parent. */
  second: string | undefined;
}

export function splitTopic(topic: string): SplitTopic {
  const slash = topic.indexOf('/');
  if (slash < 0) return { parent: topic, second: undefined };
  return { parent: topic.slice(0, slash), second: topic.slice(slash) };
}

/**
 * C0 and C1 control characters and DEL: valid UTF-8 that MQTT allows, but a RocketMQ property may
 * not carry them (the proxy refuses the message), and they have no place in a topic or a log.
 */
export function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return true;
  }
  return false;
}

export function hasWildcard(topic: string): boolean {
  return topic.includes('+') || topic.includes('#');
}

export function isInternalTopic(topic: string): boolean {
  return topic.startsWith('$mqbridge/');
}

/**
 * The publisher named on packets the bridge hands to aedes for RocketMQ messages (aedes keeps a
 * packet's `clientId`; devices never see it). With a shared session store such a packet must
 * reach Redis or fail, so that the message stays in RocketMQ and comes back.
 */
export const ROCKETMQ_PUBLISHER = '$mqbridge-rocketmq';
