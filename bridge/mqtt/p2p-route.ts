import type { Aedes, AedesPublishPacket, Client, Subscription } from 'aedes';
import { P2P_ALL_INBOXES, p2pInboxFilter, p2pTargetOfInternal } from '../mapping/topics.js';
import { connectedClient, emitterOf } from './aedes-internals.js';

/**
 * Gives every client a P2P inbox (`$mqbridge/p2p/<id>/#`) without it having to subscribe.
 *
 * A client with a persistent session subscribes its inbox like any filter: aedes then keeps
 * P2P messages for it while it is offline, in the session store. A clean-session client has no
 * offline queue to keep, so one pod-wide route serves all of them: it hands a message to the
 * target if the target is connected to this pod. That spares each of those connections a
 * SUBSCRIBE (a subscription, its `$SYS` announcement and a retained-message lookup: ~8 % of
 * the connect CPU, measured) and, with Redis, a pattern subscription per client.
 */
export function installP2pInboxes(aedes: Aedes, onError: (client: Client, err: Error) => void): void {
  emitterOf(aedes).on(P2P_ALL_INBOXES, (packet: AedesPublishPacket, done: () => void) => {
    const target = p2pTargetOfInternal(packet.topic);
    const client = target === undefined ? undefined : connectedClient(aedes, target);
    if (!client || !client.clean || client.closed) return done();
    // client.publish delivers as a subscription would: QoS as sent, authorizeForward (the delivery policy) applied.
    client.publish(packet, done);
  });
  aedes.on('client', (client) => {
    if (client.clean) return;
    client.subscribe({ topic: p2pInboxFilter(client.id), qos: 2 } as Subscription, (err?: Error) => {
      if (err) onError(client, err);
    });
  });
}
