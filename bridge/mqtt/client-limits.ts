import type { RefusalReason } from '../mapping/refusals.js';

/** What one client may do at most (bridge config `mqtt.*`). */
export interface SubscribeLimits {
  maxFiltersPerSubscribe: number;
  maxSubscriptionsPerClient: number;
}

/**
 * Pure: which filters of one SUBSCRIBE the limits refuse (0x80), in packet order. Filters past
 * `maxFiltersPerSubscribe` are refused; of the others, a filter the client does not hold yet
 * counts against `maxSubscriptionsPerClient` (a resubscription after a reconnect adds nothing).
 */
export function limitRefusals(
  filters: readonly string[],
  held: (filter: string) => boolean,
  heldCount: number,
  limits: SubscribeLimits,
): (RefusalReason | undefined)[] {
  const added = new Set<string>();
  return filters.map((filter, i) => {
    if (i >= limits.maxFiltersPerSubscribe) return 'too_many_filters';
    if (held(filter) || added.has(filter)) return undefined;
    if (heldCount + added.size >= limits.maxSubscriptionsPerClient) return 'too_many_subscriptions';
    added.add(filter);
    return undefined;
  });
}

/** Seconds of keep alive the server enforces: a client asking for none (0) or for more than the maximum gets the maximum. */
export function enforcedKeepalive(requested: number, maxSeconds: number): number {
  return requested <= 0 || requested > maxSeconds ? maxSeconds : requested;
}
