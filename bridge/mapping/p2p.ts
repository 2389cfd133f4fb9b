/**
 * Point-to-point messages (`<parent>/p2p/<clientId>[/...]`): every rule of the convention lives
 * here; the mechanisms that carry them import it.
 *
 * A P2P message rides on an internal topic only its target subscribes to
 * (`$mqbridge/p2p/<encoded id>/<shown topic>`), so aedes' own routing delivers it, across pods
 * too. Topics starting with `$` never match a client's `#` or `+` filters (MQTT-4.7.2-1), and the
 * target id is URI-encoded so it is always one topic level without wildcards.
 *
 * Where the mechanism lives: the uplink rewrites an accepted PUBLISH to the internal topic
 * (uplink/service.ts) and the downlink maps `mqttSecondTopic=/p2p/<id>` the same way
 * (downlink/service.ts); a persistent session's inbox is stored before its first CONNACK
 * (mqtt/session-persistence.ts) and clean sessions share one pod-wide route (mqtt/p2p-route.ts);
 * across pods a packet goes to its target's pod only (redis/presence.ts, redis/emitter.ts); the
 * delivery policy decides who may receive it (mqtt/delivery-policy.ts).
 */

export const P2P_LEVEL = 'p2p';

/** `/p2p/<clientId>[/...]` (a topic's second part) names a point-to-point target; returns that client id. */
export function p2pTargetOf(second: string | undefined): string | undefined {
  const prefix = `/${P2P_LEVEL}/`;
  if (!second?.startsWith(prefix)) return undefined;
  const rest = second.slice(prefix.length);
  const end = rest.indexOf('/');
  const target = end < 0 ? rest : rest.slice(0, end);
  return target.length > 0 ? target : undefined;
}

const P2P_INTERNAL_PREFIX = '$mqbridge/p2p/';

export function p2pInboxFilter(clientId: string): string {
  return `${P2P_INTERNAL_PREFIX}${encodeURIComponent(clientId)}/#`;
}

/** A persistent session's P2P inbox, as stored with its subscriptions (QoS 2: a P2P message keeps the QoS it was sent with). */
export function p2pInboxSubscription(clientId: string): { topic: string; qos: 2 } {
  return { topic: p2pInboxFilter(clientId), qos: 2 };
}

/**
 * The bridge's own subscription of a persistent session's P2P inbox: a device never subscribes
 * to its P2P topic in the convention, so this subscription is not checked against the client's
 * tokens. What it delivers is: a client whose credential proved its id receives its P2P messages
 * without a right; one logged in with tokens bound to no client id needs R on the topic it is
 * shown (mqtt/delivery-policy.ts). Sending P2P to another client is an ordinary PUBLISH and needs
 * W on `<parent>/p2p/<target>`.
 */
export function isOwnP2PInbox(clientId: string, filter: string): boolean {
  return filter === p2pInboxFilter(clientId);
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

/** The topic a device is shown for a packet routed on the internal P2P topic. */
export function shownTopicOf(internalTopic: string): string | undefined {
  if (!internalTopic.startsWith(P2P_INTERNAL_PREFIX)) return undefined;
  const rest = internalTopic.slice(P2P_INTERNAL_PREFIX.length);
  const slash = rest.indexOf('/');
  return slash < 0 ? undefined : rest.slice(slash + 1);
}
