import { Readable } from 'node:stream';
import type { Logger } from '../observability/log.js';
import type { BridgeMetrics } from '../observability/metrics.js';
import { PerClientQueue } from '../util/client-queue.js';
import { storedWillBrokerId, sweptWill } from './aedes-internals.js';
import { reportRefusal } from '../observability/refusal-report.js';

/** What aedes hands to and gets from its persistence; opaque to us beyond these fields. */
export interface StoredPacket {
  topic: string;
  clientId?: string;
  [key: string]: unknown;
}
export interface ClientRef {
  id: string;
}
/** A stored subscription, as aedes hands it over: `{ topic, qos }` and MQTT 5 options. */
export type StoredSubscription = { topic: string; qos: number } & Record<string, unknown>;
/** A persistent session's subscription matching a topic, from the persistence's trie. */
export interface SessionSubscription {
  clientId: string;
  topic: string;
  qos: number;
}
type Async<T = unknown> = Promise<T>;

/** The asynchronous persistence interface aedes 1.x calls (aedes-persistence and -redis implement it). */
export interface AedesPersistence {
  setup(broker: unknown): Async<void>;
  storeRetained(packet: StoredPacket): Async<void>;
  createRetainedStream(pattern: string): AsyncIterable<unknown>;
  createRetainedStreamCombi(patterns: string[]): AsyncIterable<unknown>;
  addSubscriptions(client: ClientRef, subs: StoredSubscription[]): Async;
  removeSubscriptions(client: ClientRef, topics: string[]): Async;
  subscriptionsByClient(client: ClientRef): Async<StoredSubscription[]>;
  countOffline(): Async;
  subscriptionsByTopic(topic: string): Async<SessionSubscription[]>;
  cleanSubscriptions(client: ClientRef): Async;
  outgoingEnqueue(sub: SessionSubscription, packet: StoredPacket): Async<void>;
  outgoingEnqueueCombi(subs: SessionSubscription[], packet: StoredPacket): Async<void>;
  outgoingUpdate(client: ClientRef, packet: StoredPacket): Async<void>;
  outgoingClearMessageId(client: ClientRef, packet: StoredPacket): Async;
  outgoingStream(client: ClientRef): AsyncIterable<unknown>;
  incomingStorePacket(client: ClientRef, packet: StoredPacket): Async<void>;
  incomingGetPacket(client: ClientRef, packet: StoredPacket): Async;
  incomingDelPacket(client: ClientRef, packet: StoredPacket): Async<void>;
  putWill(client: ClientRef, packet: StoredPacket): Async<void>;
  getWill(client: ClientRef): Async;
  delWill(client: ClientRef & { brokerId?: string }): Async;
  streamWill(brokers: unknown): AsyncIterable<unknown>;
  getClientList(topic: string): Iterable<string> | AsyncIterable<string>;
  destroy(): Async<void>;
}

/** A session store under {@link SessionPersistence}: aedes' persistence, and how full each offline queue is. */
export interface InnerPersistence extends AedesPersistence {
  /** Messages waiting in each client's offline queue, in the order of `clientIds`. */
  queueDepths(clientIds: readonly string[]): Promise<number[]>;
}

/**
 * Received QoS 2 PUBLISHes awaiting PUBREL, by client id and packet id (MQTT-4.3.3): a record
 * turns a retransmission into a duplicate, so records must end with the flow, with a clean
 * session and with an expired session, and stay few per client id.
 */
export interface IncomingRecords {
  /** Rejects when the client id already has the maximum number of flows open. */
  add(clientId: string, messageId: number): Promise<void>;
  has(clientId: string, messageId: number): Promise<boolean>;
  delete(clientId: string, messageId: number): Promise<void>;
  clear(clientId: string): Promise<void>;
}

export interface SessionPersistenceOptions {
  inner: InnerPersistence;
  incoming: IncomingRecords;
  /** Messages an offline queue holds at most; later ones are dropped and counted. */
  maxQueuedMessages: number;
  /**
   * Whether a stored will may still be published (a will of a client whose pod died): its
   * topic must still be bound for devices to publish to. Checked when aedes sweeps the wills.
   */
  willAllowed: (will: StoredPacket) => string | undefined;
  /**
   * The subscription every persistent session holds from its first CONNECT on without a SUBSCRIBE
   * (its P2P inbox), stored before the CONNACK.
   */
  inboxOf?: (clientId: string) => StoredSubscription;
  /** A QoS 2 flow ended with its PUBREL. */
  onQos2Released?: (clientId: string, messageId: number) => void;
  metrics: BridgeMetrics;
  log: Logger;
}

/** A subscription change that waited this long for the other pods is given up (the client is disconnected). */
const SUBSCRIPTION_WRITE_TIMEOUT_MS = 10_000;

/**
 * The persistence aedes is given, over the memory or Redis session store, with the rules that
 * keep sessions apart and bounded:
 * - Only filters `authorizeSubscribe` granted are stored (aedes hands over the whole SUBSCRIBE,
 *   refused filters included, once per granted filter), once per packet, and one change per
 *   client at a time: the Redis store waits for each change to come back from the other pods
 *   under a key made of the client id and the first filter, so overlapping changes of one
 *   client would wait for each other's answer forever.
 * - A restored filter that is refused now is removed from the store, so it stops collecting.
 * - Offline queues hold at most `maxQueuedMessages`.
 * - QoS 2 records are the bridge's own ({@link IncomingRecords}): cleaned with the session.
 * - Wills whose topic is no longer bound are dropped from the dead-pod sweep, not retried forever.
 */
export class SessionPersistence implements AedesPersistence {
  private readonly granted = new WeakSet<object>();
  private readonly written = new WeakSet<object>();
  private readonly restored = new WeakSet<object>();
  private readonly batches = new WeakMap<object, { started: boolean; done: Promise<void> }>();
  private readonly changes = new PerClientQueue();

  constructor(private readonly options: SessionPersistenceOptions) {}

  private get inner(): InnerPersistence {
    return this.options.inner;
  }

  // ---- subscriptions

  /** `authorizeSubscribe` granted this filter object of a SUBSCRIBE (or a restore, or the bridge's own). */
  grant(sub: object): void {
    this.granted.add(sub);
  }

  /** Whether a filter object came from the store (a restored session) rather than from a SUBSCRIBE. */
  isRestored(sub: object): boolean {
    return this.restored.has(sub);
  }

  addSubscriptions(client: ClientRef, subs: StoredSubscription[]): Promise<void> {
    const pending = this.batches.get(subs);
    if (pending && !pending.started) return pending.done;
    const batch = { started: false, done: Promise.resolve() };
    batch.done = this.changes.run(client.id, async () => {
      batch.started = true;
      // Every filter of the packet was decided before this runs: aedes authorizes them in one loop.
      const fresh = subs.filter((s) => this.granted.has(s) && !this.written.has(s));
      for (const s of fresh) this.written.add(s);
      if (fresh.length > 0) await this.withTimeout(this.inner.addSubscriptions(client, fresh), 'subscribe', client.id);
    });
    this.batches.set(subs, batch);
    return batch.done;
  }

  removeSubscriptions(client: ClientRef, topics: string[]): Promise<void> {
    return this.changes.run(client.id, async () => {
      await this.withTimeout(this.inner.removeSubscriptions(client, topics), 'unsubscribe', client.id);
    });
  }

  cleanSubscriptions(client: ClientRef): Promise<void> {
    return this.changes.run(client.id, async () => {
      await this.inner.cleanSubscriptions(client);
    });
  }

  /** Read when a persistent session connects, before its CONNACK; a rejection fails the CONNECT. */
  async subscriptionsByClient(client: ClientRef): Promise<StoredSubscription[]> {
    const subs = await this.inner.subscriptionsByClient(client);
    for (const s of subs) this.restored.add(s);
    await this.storeInbox(client, subs);
    return subs;
  }

  /**
   * A session without its inbox gets no P2P message, live or queued, and nothing would tell the
   * device. Stored here, before the CONNACK, the inbox is in every pod's view of the session when
   * the device hears it is connected; if the store refuses the write, the CONNECT fails and the
   * device connects again. It is not returned for aedes to restore: a session of which nothing was
   * stored is new to the device (CONNACK session present = 0), and until its next CONNECT the
   * pod-wide P2P route (p2p-route.ts) delivers its P2P messages live.
   */
  private async storeInbox(client: ClientRef, stored: StoredSubscription[]): Promise<void> {
    const inbox = this.options.inboxOf?.(client.id);
    if (!inbox || stored.some((s) => s.topic === inbox.topic)) return;
    try {
      await this.changes.run(client.id, async () => {
        await this.withTimeout(this.inner.addSubscriptions(client, [inbox]), 'P2P inbox store', client.id);
      });
    } catch (err) {
      this.options.metrics.sessionStoreDegraded.inc({ operation: 'p2p_inbox_store' });
      this.options.log.warn({ clientId: client.id, err: (err as Error).message }, 'P2P inbox of a new persistent session not stored: CONNECT refused, the device connects again');
      throw err;
    }
  }

  /** A restored filter was refused: it must not go on collecting messages for the session. */
  forgetRefused(client: ClientRef, topic: string): void {
    this.removeSubscriptions(client, [topic]).then(
      () => this.options.log.info({ clientId: client.id, filter: topic }, 'stored subscription no longer allowed; removed from the session'),
      (err: Error) => {
        this.options.metrics.errors.inc({ component: 'session_store' });
        this.options.log.warn({ clientId: client.id, filter: topic, err: err.message }, 'cannot remove a stored subscription that is no longer allowed');
      },
    );
  }

  private withTimeout<T>(work: Promise<T>, what: string, clientId: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} of ${clientId} not confirmed by the session store within ${SUBSCRIPTION_WRITE_TIMEOUT_MS} ms`)), SUBSCRIPTION_WRITE_TIMEOUT_MS);
      timer.unref();
    });
    return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
  }

  // ---- offline queues

  async outgoingEnqueueCombi(subs: SessionSubscription[], packet: StoredPacket): Promise<void> {
    if (!subs || subs.length === 0) return;
    return this.inner.outgoingEnqueueCombi(await this.withRoom(subs, packet), packet);
  }

  outgoingEnqueue(sub: SessionSubscription, packet: StoredPacket): Promise<void> {
    return this.outgoingEnqueueCombi([sub], packet);
  }

  /** The sessions whose queue has room; the others lose this message (counted, logged at most every 10 s per pod). */
  private async withRoom(subs: SessionSubscription[], packet: StoredPacket): Promise<SessionSubscription[]> {
    let depths: number[];
    try {
      depths = await this.inner.queueDepths(subs.map((s) => s.clientId));
    } catch {
      return subs; // the store is away: the enqueue meets the same outage and its policy
    }
    const max = this.options.maxQueuedMessages;
    const room = subs.filter((_, i) => (depths[i] ?? 0) < max);
    const full = subs.length - room.length;
    if (full > 0) {
      this.options.metrics.offlineQueueDropped.inc(full);
      this.queueFullLog(subs.filter((_, i) => (depths[i] ?? 0) >= max)[0]!.clientId, packet.topic, full);
    }
    return room;
  }

  private lastQueueFullLog = 0;
  private queueFullLog(clientId: string, topic: string, sessions: number): void {
    const now = Date.now();
    if (now - this.lastQueueFullLog < 10_000) return;
    this.lastQueueFullLog = now;
    this.options.log.warn({ clientId, topic, sessions, limit: this.options.maxQueuedMessages }, 'offline queue full; message not kept for these sessions');
  }

  // ---- QoS 2 records

  async incomingStorePacket(client: ClientRef, packet: StoredPacket): Promise<void> {
    await this.options.incoming.add(client.id, messageIdOf(packet));
  }

  async incomingGetPacket(client: ClientRef, packet: StoredPacket): Promise<{ messageId: number }> {
    const messageId = messageIdOf(packet);
    if (!(await this.options.incoming.has(client.id, messageId))) throw new Error('no such packet');
    return { messageId };
  }

  async incomingDelPacket(client: ClientRef, packet: StoredPacket): Promise<void> {
    const messageId = messageIdOf(packet);
    await this.options.incoming.delete(client.id, messageId);
    this.options.onQos2Released?.(client.id, messageId);
  }

  /**
   * aedes calls it for a clean session, at CONNECT and at close ([MQTT-3.1.2-6]). While the store is
   * away a clean session still connects; the records it may leave expire with the session's TTL.
   */
  async cleanIncoming(client: ClientRef): Promise<void> {
    try {
      await this.options.incoming.clear(client.id);
    } catch (err) {
      this.options.metrics.sessionStoreDegraded.inc({ operation: 'qos2_records_cleanup' });
      this.options.log.debug({ clientId: client.id, err: (err as Error).message }, 'QoS 2 records of a clean session not removed');
    }
  }

  // ---- wills

  streamWill(brokers: unknown): AsyncIterable<unknown> {
    const wills = this.inner.streamWill(brokers) as AsyncIterable<StoredPacket & { brokerId?: string }>;
    return Readable.from(this.allowedWills(wills));
  }

  private async *allowedWills(wills: AsyncIterable<StoredPacket & { brokerId?: string }>): AsyncGenerator<unknown> {
    for await (const will of wills) {
      const refusal = this.options.willAllowed(will);
      if (refusal === undefined) {
        yield sweptWill(will);
        continue;
      }
      reportRefusal(this.options.metrics, this.options.log, { reason: 'will_not_allowed', detail: refusal }, { clientId: will.clientId, topic: will.topic }, 'will of a client of a stopped pod dropped');
      await this.inner.delWill({ id: will.clientId ?? '', brokerId: will.brokerId }).catch(() => undefined);
    }
  }

  // ---- the rest as the store has it

  /** aedes refuses a persistence whose setup is not an async function. */
  async setup(broker: unknown): Promise<void> {
    await this.inner.setup(broker);
  }

  storeRetained = (packet: StoredPacket) => this.inner.storeRetained(packet);
  createRetainedStream = (pattern: string) => this.inner.createRetainedStream(pattern);
  createRetainedStreamCombi = (patterns: string[]) => this.inner.createRetainedStreamCombi(patterns);
  countOffline = () => this.inner.countOffline();
  subscriptionsByTopic = (topic: string) => this.inner.subscriptionsByTopic(topic);
  outgoingUpdate = (client: ClientRef, packet: StoredPacket) => this.inner.outgoingUpdate(client, packet);
  outgoingClearMessageId = (client: ClientRef, packet: StoredPacket) => this.inner.outgoingClearMessageId(client, packet);
  outgoingStream = (client: ClientRef) => this.inner.outgoingStream(client);
  putWill = (client: ClientRef, packet: StoredPacket) => this.inner.putWill(client, packet);
  getWill = (client: ClientRef) => this.inner.getWill(client);
  /** aedes deletes a swept will under the broker id {@link sweptWill} gave it. */
  delWill = (client: ClientRef & { brokerId?: string }) => {
    const brokerId = client.brokerId && storedWillBrokerId(client.brokerId);
    return this.inner.delWill(brokerId === client.brokerId ? client : { id: client.id, brokerId });
  };
  getClientList = (topic: string) => this.inner.getClientList(topic);
  destroy = () => this.inner.destroy();
}

function messageIdOf(packet: StoredPacket): number {
  return (packet as { messageId?: number }).messageId ?? -1;
}
