/**
 * Whether a message may be written to a client, decided for every delivery (live, from the
 * offline queue, after a restore) against the client's rights and the bindings in force now. A
 * subscription that should never have been kept, or one that was allowed when it was made, can
 * therefore never deliver what the client may not receive today. Pure: no I/O.
 */
import { allowsDownlink, type BindingTable } from '../mapping/bindings.js';
import { splitTopic } from '../mapping/topics.js';
import { p2pTargetOfInternal, shownTopicOf } from '../mapping/p2p.js';

/** What one connected client may receive. */
export interface ClientAccess {
  /** The credential proved the client id (auth off, Signature, a token bound to it): its P2P inbox is its own. */
  ownsClientId: boolean;
  /** Whether the client's rights cover receiving this topic (always, without token rights). */
  mayReceive(topic: string): boolean;
}

export type ForwardVerdict = { ok: true; topic: string } | { ok: false; detail: string };

const refuse = (detail: string): ForwardVerdict => ({ ok: false, detail });

/**
 * `topic` as routed (a P2P message rides on the target's internal inbox topic); on success the
 * topic the device is shown.
 */
export function forwardVerdict(clientId: string, topic: string, access: ClientAccess, bindings: BindingTable): ForwardVerdict {
  const shown = shownTopicOf(topic);
  if (shown !== undefined) {
    if (p2pTargetOfInternal(topic) !== clientId) return refuse('a P2P message of another client');
    if (!bindings.forParent(splitTopic(shown).parent)) return refuse(`P2P topic ${shown} is not bound`);
    if (!access.ownsClientId && !access.mayReceive(shown)) return refuse(`no R right covers ${shown} (the token is not bound to this client id)`);
    return { ok: true, topic: shown };
  }
  if (topic.startsWith('$')) return refuse(`${topic} is reserved`);
  const binding = bindings.forParent(splitTopic(topic).parent);
  if (!binding) return refuse(`${topic} is not bound`);
  if (!allowsDownlink(binding.direction)) return refuse(`the binding of ${topic} is ${binding.direction}`);
  if (!access.mayReceive(topic)) return refuse(`no R right covers ${topic}`);
  return { ok: true, topic };
}
