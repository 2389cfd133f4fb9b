/** Splitting and checking MQTT topics the way the mapping contract defines them. */

export const P2P_LEVEL = 'p2p';

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

/** `/p2p/<clientId>[/...]` names a point-to-point target; returns that client id. */
export function p2pTargetOf(second: string | undefined): string | undefined {
  const prefix = `/${P2P_LEVEL}/`;
  if (!second?.startsWith(prefix)) return undefined;
  const rest = second.slice(prefix.length);
  const end = rest.indexOf('/');
  const target = end < 0 ? rest : rest.slice(0, end);
  return target.length > 0 ? target : undefined;
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

/**
 * Point-to-point delivery rides on an internal topic that only its target subscribes to,
 * so that it works through aedes' own routing (and across pods once the emitter is shared).
 * Topics starting with `$` never match a client's `#` or `+` filters (MQTT-4.7.2-1).
 * The target id is URI-encoded so that it is always a single topic level without wildcards.
 */
const P2P_INTERNAL_PREFIX = '$mqbridge/p2p/';

export function p2pInboxFilter(clientId: string): string {
  return `${P2P_INTERNAL_PREFIX}${encodeURIComponent(clientId)}/#`;
}

/** Whether a filter matches P2P inboxes only (one client's, or every client's). */
export function isP2pInboxFilter(filter: string): boolean {
  return filter.startsWith(P2P_INTERNAL_PREFIX);
}

/** Every client's inbox: what one pod-wide route listens on. */
export const P2P_ALL_INBOXES = `${P2P_INTERNAL_PREFIX}#`;

/** The target client of a packet on the internal P2P topic. */
export function p2pTargetOfInternal(internalTopic: string): string | undefined {
  if (!internalTopic.startsWith(P2P_INTERNAL_PREFIX)) return undefined;
  const rest = internalTopic.slice(P2P_INTERNAL_PREFIX.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return undefined;
  try {
    return decodeURIComponent(rest.slice(0, slash));
  } catch {
    return undefined;
  }
}

export function p2pInternalTopic(clientId: string, shownTopic: string): string {
  return `${P2P_INTERNAL_PREFIX}${encodeURIComponent(clientId)}/${shownTopic}`;
}

export function isInternalTopic(topic: string): boolean {
  return topic.startsWith('$mqbridge/');
}

/** The topic a device is shown for a packet routed on the internal P2P topic. */
export function shownTopicOf(internalTopic: string): string | undefined {
  if (!internalTopic.startsWith(P2P_INTERNAL_PREFIX)) return undefined;
  const rest = internalTopic.slice(P2P_INTERNAL_PREFIX.length);
  const slash = rest.indexOf('/');
  return slash < 0 ? undefined : rest.slice(slash + 1);
}

/**
 * The publisher named on packets the bridge hands to aedes for RocketMQ messages (aedes keeps a
 * packet's `clientId`; devices never see it). With a shared session store such a packet must
 * reach Redis or fail, so that the message stays in RocketMQ and comes back.
 */
export const ROCKETMQ_PUBLISHER = '$mqbridge-rocketmq';
