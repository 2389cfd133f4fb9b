import type { Aedes, AedesPublishPacket } from 'aedes';
import { P2P_ALL_INBOXES, p2pInboxFilter, p2pTargetOfInternal } from '../mapping/p2p.js';
import { connectedClient, deliverQueued, emitterOf, holdsFilter } from './aedes-internals.js';

/**
 * Gives every client a P2P inbox (`$mqbridge/p2p/<id>/#`) without it having to subscribe.
 *
 * A persistent session holds its inbox as a stored subscription: the session persistence stores
 * it before the session's first CONNACK (`SessionPersistence`), so from then on every pod keeps
 * P2P messages for it while it is offline, and aedes restores it like any filter when the client
 * connects again. Nothing is subscribed after a CONNACK: a subscription Redis refused then would
 * leave a client connected and unreachable.
 *
 * One pod-wide route serves every connected client that has no inbox listener of its own: the
 * clean sessions (they have no offline queue to keep; this spares each connection a SUBSCRIBE, ~8 %
 * of the connect CPU measured, and with Redis a subscription per client) and a new persistent
 * session until its next CONNECT restores the inbox. It hands a message to the target if the
 * target is connected to this pod.
 */
export function installP2pInboxes(aedes: Aedes): void {
  emitterOf(aedes).on(P2P_ALL_INBOXES, (packet: AedesPublishPacket, done: () => void) => {
    const target = p2pTargetOfInternal(packet.topic);
    const client = target === undefined ? undefined : connectedClient(aedes, target);
    if (!client || client.closed || holdsFilter(client, p2pInboxFilter(client.id))) return done();
    // Both deliver as a subscription would: QoS as sent, authorizeForward (the delivery policy) applied.
    if (client.clean) client.publish(packet, done);
    else deliverQueued(client, packet, done);
  });
}
