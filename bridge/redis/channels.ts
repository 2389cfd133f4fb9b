import type { RedisClient } from './connection.js';

/**
 * The Redis channel a publish travels on: one per first topic level (a binding's parent topic,
 * `$SYS`, the P2P inboxes), so a pod hears only the parents it has subscribers for, and Redis'
 * subscriptions are bounded by the bindings, not by the devices.
 */
export function channelOf(prefix: string, topic: string): string {
  const end = topic.indexOf('/');
  return `${prefix}t:${end < 0 ? topic : topic.slice(0, end)}`;
}

/** The pattern a filter with a wildcard first level needs: every channel of the bridge. */
export function everyChannelOf(prefix: string): string {
  return `${prefix.replace(/[\\*?[\]]/g, '\\$&')}t:*`;
}

/** The channel of one pod: packets meant for one of its clients (P2P) travel there only. */
export function podChannelOf(prefix: string, podId: string): string {
  return `${prefix}p:${podId}`;
}

function firstLevelIsWildcard(filter: string): boolean {
  return filter === '#' || filter === '+' || filter.startsWith('+/');
}

const RETRY_MS = 1_000;

/**
 * The Redis channels one pod listens on, held by the local (filter, listener) pairs under each:
 * the first pair of a channel subscribes it, the last one gone unsubscribes it. A pair is
 * counted once however often aedes adds or removes it (an UNSUBSCRIBE may name a filter twice).
 * A filter whose packets are all sent to their target's pod (`routedToPod`) needs no channel:
 * the pod's own channel, held from the start, brings them.
 */
export class ChannelInterest {
  private readonly holders = new Map<string, Map<string, Set<unknown>>>();
  /** Per channel held: settles once Redis has the subscription, or after a first failure. */
  private readonly subscribed = new Map<string, Promise<void>>();
  private closed = false;
  /** Whether a filter ever needed the every-channel pattern: from then on a packet may arrive twice. */
  patternUsed = false;

  constructor(
    private readonly sub: RedisClient,
    private readonly prefix: string,
    private readonly onSubscribeFailed: (channel: string, err: Error) => void,
    private readonly routedToPod: (filter: string) => boolean = () => false,
  ) {}

  /** Listens on a channel for as long as the pod lives, whatever the filters. */
  hold(channel: string): Promise<void> {
    this.holders.set(channel, new Map([['', new Set([this])]]));
    const subscribed = this.subscribe(channel);
    this.subscribed.set(channel, subscribed);
    return subscribed;
  }

  /** `done` once Redis has the channel (at once while Redis is away: the offline queue sends it later). */
  add(filter: string, listener: unknown, done?: () => void): void {
    if (this.routedToPod(filter)) {
      if (done) setImmediate(done);
      return;
    }
    const channel = this.channelFor(filter);
    let filters = this.holders.get(channel);
    if (!filters) {
      filters = new Map();
      this.holders.set(channel, filters);
      this.subscribed.set(channel, this.subscribe(channel));
    }
    const listeners = filters.get(filter) ?? new Set();
    filters.set(filter, listeners.add(listener));
    void this.subscribed.get(channel)!.then(() => done && setImmediate(done));
  }

  remove(filter: string, listener: unknown): void {
    if (this.routedToPod(filter)) return;
    const channel = this.channelFor(filter);
    const filters = this.holders.get(channel);
    const listeners = filters?.get(filter);
    if (!filters || !listeners?.delete(listener)) return;
    if (listeners.size === 0) filters.delete(filter);
    if (filters.size > 0) return;
    this.holders.delete(channel);
    this.subscribed.delete(channel);
    const gone = this.isPattern(channel) ? this.sub.punsubscribe(channel) : this.sub.unsubscribe(channel);
    gone.catch(() => undefined); // a reconnect subscribes only what ioredis still holds
  }

  close(): void {
    this.closed = true;
  }

  private subscribe(channel: string): Promise<void> {
    const attempt = () => (this.isPattern(channel) ? this.sub.psubscribe(channel) : this.sub.subscribe(channel)).then(() => undefined);
    const retryLater = (err: Error) => {
      this.onSubscribeFailed(channel, err);
      setTimeout(() => {
        if (!this.closed && this.holders.has(channel)) attempt().catch(retryLater);
      }, RETRY_MS).unref();
    };
    if (this.sub.status !== 'ready') {
      attempt().catch(retryLater);
      return Promise.resolve();
    }
    return attempt().catch(retryLater);
  }

  private isPattern(channel: string): boolean {
    return channel === everyChannelOf(this.prefix);
  }

  private channelFor(filter: string): string {
    if (!firstLevelIsWildcard(filter)) return channelOf(this.prefix, filter);
    this.patternUsed = true;
    return everyChannelOf(this.prefix);
  }
}
