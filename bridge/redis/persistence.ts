import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import type { Logger } from '../observability/log.js';
import type { BridgeMetrics } from '../observability/metrics.js';
import { Backoff, sleep } from '../util/backoff.js';
import { assertInternals } from '../util/pinned.js';
export type { ClientRef } from '../mqtt/session-persistence.js';
import type { AedesPersistence, ClientRef, InnerPersistence, SessionSubscription, StoredPacket, StoredSubscription } from '../mqtt/session-persistence.js';
import type { RedisClient } from './connection.js';
import { preloadWorked, withPreloadedSessions, type PreloadReport } from './session-preload.js';

type AsyncPersistence = AedesPersistence;

const require = createRequire(import.meta.url);
const AsyncRedisPersistence = require('aedes-persistence-redis/asyncPersistence.js') as new (options: object) => AsyncPersistence;

/** The aedes-persistence-redis this seam is built against: its key names (preload), its unawaited will commands (package.json pins it exactly). */
export const PINNED_PERSISTENCE_REDIS_VERSION = '11.2.2';

/** Throws, naming the version, when the library lacks what this seam relies on. */
export function checkPersistenceInternals(): void {
  const proto = AsyncRedisPersistence.prototype as unknown as Record<string, unknown>;
  const missing = ['setup', 'putWill', 'delWill', 'streamWill', 'outgoingClearMessageId'].filter((m) => typeof proto[m] !== 'function').map((m) => `${m} is missing`);
  assertInternals('aedes-persistence-redis', PINNED_PERSISTENCE_REDIS_VERSION, missing);
}

/** The library's commands that nobody waits for: the LREM and RPUSH that keep the list of wills. */
const UNAWAITED_COMMANDS = new Set(['lrem', 'rpush']);

/** Enough for every unacknowledged QoS 1 delivery of a busy pod; the oldest go first. */
const MAX_REMEMBERED_DELIVERIES = 100_000;

export interface PersistenceOptions {
  /** A connection with the bridge's key prefix. */
  db: RedisClient;
  cluster: boolean;
  /** How long offline QoS 1/2 messages are kept. */
  ttlSeconds: number;
  /** Packets whose loss must fail the publish (RocketMQ downlink: it stays in RocketMQ and comes back). */
  mustBeKept: (packet: StoredPacket) => boolean;
  /** What a client's offline queue is read after, when aedes restores its session (its presence write). */
  queueReadAfter?: (clientId: string) => Promise<unknown> | undefined;
  metrics: BridgeMetrics;
  log: Logger;
}

/**
 * aedes-persistence-redis (sessions, subscriptions, offline queues, in-flight QoS 1/2 state in
 * Redis) with the bridge's policy for a Redis that is away:
 * - `setup` (load every persistent subscription) retries until Redis answers, so a pod started
 *   during an outage comes up once Redis does, and reads the sessions all at once
 *   (`session-preload.ts`);
 * - a clean session's CONNECT skips the cleanup of an earlier persistent session of its id;
 * - a device's message that cannot be queued for offline sessions is still delivered online
 *   (its PUBACK is already out);
 * - everything a persistent session needs fails, and aedes disconnects that client.
 * The rules that keep sessions apart (which subscriptions are stored, QoS 2 records, queue
 * bounds) are bridge/mqtt/session-persistence.ts', over this store as over the memory one.
 */
export class GuardedPersistence implements InnerPersistence {
  private readonly inner: AsyncPersistence;
  private readonly stopping = new AbortController();
  /** `clientId \n messageId` → queued packet key, for the QoS 1 messages this pod delivered. */
  private readonly deliveredQos1 = new Map<string, string>();
  private readonly willWrites = new Set<Promise<unknown>>();
  /** What the last start-up load read, and how much of it came from the preload. */
  lastLoad: (PreloadReport & { seconds: number }) | undefined;

  constructor(private readonly options: PersistenceOptions) {
    checkPersistenceInternals();
    const { db, cluster, ttlSeconds } = options;
    // `conn` with `cluster: true` keeps our connection (prefix, credentials) and still makes the
    // library avoid commands that span Cluster slots.
    const conn = withUnawaitedFailuresCounted(db, (command, err) =>
      this.degraded('will_list_update', { command, err: err.message }, 'the list of wills not updated (a stale entry is dropped by the next sweep; a missing one is not swept if this pod dies)'),
    );
    this.inner = new AsyncRedisPersistence({ conn, cluster, packetTTL: () => ttlSeconds });
  }

  async setup(broker: unknown): Promise<void> {
    const backoff = new Backoff(500, 10_000);
    for (let attempt = 1; !this.stopping.signal.aborted; attempt++) {
      try {
        await this.load(broker);
        return;
      } catch (err) {
        const wait = backoff.next();
        this.options.metrics.errors.inc({ component: 'session_store' });
        this.options.log.warn({ err: (err as Error).message, attempt, retryInMs: wait }, 'cannot load sessions from Redis yet; retrying');
        await sleep(wait, this.stopping.signal);
      }
    }
    throw new Error('stopped while waiting for the session store');
  }

  private async load(broker: unknown): Promise<void> {
    const t0 = Date.now();
    const report = await withPreloadedSessions(this.options.db, () => this.inner.setup(broker));
    this.lastLoad = { ...report, seconds: (Date.now() - t0) / 1000 };
    if (!preloadWorked(report)) {
      this.options.log.warn({ sessions: report.clients }, 'aedes-persistence-redis no longer loads sessions as the preload expects: they were loaded one by one');
    }
    this.options.log.info(this.lastLoad, 'persistent sessions loaded');
  }

  /** Ends a pending setup retry loop. */
  abort(): void {
    this.stopping.abort();
  }

  async cleanSubscriptions(client: ClientRef): Promise<void> {
    try {
      await this.inner.cleanSubscriptions(client);
    } catch (err) {
      this.degraded('clean_session_cleanup', { clientId: client.id, err: (err as Error).message }, 'earlier persistent session of this client id not removed');
    }
  }

  /** LLEN of each queue; pipelined on a single node, one command per key on a Cluster (keys of several slots). */
  async queueDepths(clientIds: readonly string[]): Promise<number[]> {
    const keys = clientIds.map((id) => `outgoing:${encodeURIComponent(id)}`);
    if (this.options.cluster) return Promise.all(keys.map((k) => this.options.db.llen(k)));
    const results = await this.options.db.pipeline(keys.map((k) => ['llen', k])).exec();
    return (results ?? []).map(([err, n]) => {
      if (err) throw err;
      return Number(n);
    });
  }

  async outgoingEnqueueCombi(subs: SessionSubscription[], packet: StoredPacket): Promise<void> {
    if (!subs || subs.length === 0) return;
    try {
      await this.inner.outgoingEnqueueCombi(subs, packet);
    } catch (err) {
      if (this.options.mustBeKept(packet)) throw err;
      this.degraded('offline_enqueue', { topic: packet.topic, sessions: subs.length, err: (err as Error).message }, 'message not kept for offline persistent sessions');
    }
  }

  /** Ends a persistent session (it expired); unlike `cleanSubscriptions`, failures are the caller's. */
  endSession(client: ClientRef): Promise<unknown> {
    return this.inner.cleanSubscriptions(client);
  }

  outgoingEnqueue(sub: SessionSubscription, packet: StoredPacket): Promise<void> {
    return this.outgoingEnqueueCombi([sub], packet);
  }

  /**
   * aedes calls it as `delWill(client).finally(...)`: a rejection would go unhandled. The library
   * also sends some will commands without waiting for them: while Redis is away, none are sent.
   */
  delWill(client: ClientRef & { brokerId?: string }): Promise<unknown> {
    if (!this.reachable) return Promise.resolve(null);
    return this.tracked(this.inner.delWill(client).catch(() => null));
  }

  putWill(client: ClientRef, packet: StoredPacket): Promise<void> {
    if (!this.reachable) return Promise.reject(new Error('session store unreachable: a will message cannot be kept'));
    return this.tracked(this.inner.putWill(client, packet));
  }

  /** The will writes still running: the session store lets them finish before it closes the connection. */
  get willWritesInFlight(): Promise<unknown>[] {
    return [...this.willWrites];
  }

  private tracked<T>(work: Promise<T>): Promise<T> {
    const settled = work.then(
      () => undefined,
      () => undefined,
    );
    this.willWrites.add(settled);
    void settled.finally(() => this.willWrites.delete(settled));
    return work;
  }

  private get reachable(): boolean {
    return this.options.db.status === 'ready';
  }

  /**
   * The bridge offers no retained messages (the service does not; the uplink clears the flag):
   * nothing to store, and no Redis scan on every SUBSCRIBE.
   */
  async storeRetained(_packet: StoredPacket): Promise<void> {}
  createRetainedStream = (_pattern: string) => Readable.from([]);
  createRetainedStreamCombi = (_patterns: string[]) => Readable.from([]);
  addSubscriptions = (client: ClientRef, subs: StoredSubscription[]) => this.inner.addSubscriptions(client, subs);
  removeSubscriptions = (client: ClientRef, subs: string[]) => this.inner.removeSubscriptions(client, subs);
  subscriptionsByClient = (client: ClientRef) => this.inner.subscriptionsByClient(client);
  countOffline = () => this.inner.countOffline();
  subscriptionsByTopic = (topic: string) => this.inner.subscriptionsByTopic(topic);
  async outgoingUpdate(client: ClientRef, packet: StoredPacket): Promise<void> {
    await this.inner.outgoingUpdate(client, packet);
    const p = packet as { cmd?: string; qos?: number; messageId?: number; brokerId?: string; brokerCounter?: number };
    if (p.cmd === 'publish' && p.qos === 1 && p.messageId !== undefined && p.brokerId !== undefined) {
      this.deliveredQos1.set(`${client.id}\n${p.messageId}`, `packet:${p.brokerId}:${p.brokerCounter}`);
      if (this.deliveredQos1.size > MAX_REMEMBERED_DELIVERIES) this.deliveredQos1.delete(this.deliveredQos1.keys().next().value!);
    }
  }

  /**
   * The library keeps one copy of a queued packet with a count of the sessions still owing it,
   * and every PUBACK decrements that count. With several pods one session can get the same
   * message twice (live from one pod and from its queue on another), and its second PUBACK
   * would free the packet while another, offline session still waits for it. So a PUBACK counts
   * only when it really takes the packet off this session's queue.
   */
  async outgoingClearMessageId(client: ClientRef, packet: StoredPacket): Promise<unknown> {
    const key = `${client.id}\n${(packet as { messageId?: number }).messageId}`;
    const pktKey = this.deliveredQos1.get(key);
    this.deliveredQos1.delete(key);
    if (pktKey !== undefined && (await this.options.db.lrem(`outgoing:${encodeURIComponent(client.id)}`, 0, pktKey)) === 0) {
      return undefined;
    }
    return this.inner.outgoingClearMessageId(client, packet);
  }
  /**
   * Read on every CONNECT, once the client is registered. Persistent sessions are refused while
   * Redis is away, so the only queue asked for then is a clean session's, which is empty: do not
   * fail its connection.
   */
  outgoingStream = (client: ClientRef) => {
    if (!this.reachable) return Readable.from([]);
    const after = this.options.queueReadAfter?.(client.id);
    return Readable.from(after ? this.readAfter(after, client) : this.inner.outgoingStream(client));
  };

  private async *readAfter(after: Promise<unknown>, client: ClientRef): AsyncIterable<unknown> {
    await after;
    yield* this.inner.outgoingStream(client);
  }
  incomingStorePacket = (client: ClientRef, packet: StoredPacket) => this.inner.incomingStorePacket(client, packet);
  incomingGetPacket = (client: ClientRef, packet: StoredPacket) => this.inner.incomingGetPacket(client, packet);
  incomingDelPacket = (client: ClientRef, packet: StoredPacket) => this.inner.incomingDelPacket(client, packet);
  getWill = (client: ClientRef) => this.inner.getWill(client);
  streamWill = (brokers: unknown) => Readable.from(this.inner.streamWill(brokers));
  getClientList = (topic: string) => Readable.from(this.inner.getClientList(topic));

  /** The connection belongs to the session store, which closes it. */
  async destroy(): Promise<void> {}

  private degraded(operation: string, fields: Record<string, unknown>, msg: string): void {
    this.options.metrics.sessionStoreDegraded.inc({ operation });
    this.options.log.warn({ ...fields, operation }, `session store unavailable: ${msg}`);
  }
}

/**
 * The connection as the library sees it. It sends the will list's LREM and RPUSH without waiting
 * for them, so one that fails (Redis went away, or the connection is closing) would be an
 * unhandled rejection, which the process reports as a crash-worthy bug. Here such a failure is
 * reported instead; a caller that does wait for the command still gets its rejection.
 */
function withUnawaitedFailuresCounted(db: RedisClient, onFailure: (command: string, err: Error) => void): RedisClient {
  return new Proxy(db, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof prop !== 'string' || !UNAWAITED_COMMANDS.has(prop) || typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const reply = (value as (...a: unknown[]) => Promise<unknown>).apply(receiver, args);
        reply.catch((err: Error) => onFailure(prop, err));
        return reply;
      };
    },
  });
}
