import { createRequire } from 'node:module';
import type { AedesPersistence, ClientRef, IncomingRecords, InnerPersistence, SessionSubscription, StoredPacket, StoredSubscription } from './session-persistence.js';

const require = createRequire(import.meta.url);
const MemoryStore = require('aedes-persistence/asyncPersistence.js') as new (options?: object) => AedesPersistence;

/**
 * aedes' own in-memory persistence (one pod: sessions live in this process), with a count of
 * each offline queue. The store keeps its queues private, so the count follows what goes in
 * (an enqueue per session) and what comes out (a PUBACK or PUBCOMP that found its packet).
 */
export class MemoryPersistence implements InnerPersistence {
  private readonly store = new MemoryStore();
  private readonly depth = new Map<string, number>();

  async setup(broker: unknown): Promise<void> {
    await this.store.setup(broker);
  }

  async outgoingEnqueueCombi(subs: SessionSubscription[], packet: StoredPacket): Promise<void> {
    await this.store.outgoingEnqueueCombi(subs, packet);
    for (const s of subs) this.count(s.clientId, 1);
  }

  async outgoingEnqueue(sub: SessionSubscription, packet: StoredPacket): Promise<void> {
    await this.store.outgoingEnqueue(sub, packet);
    this.count(sub.clientId, 1);
  }

  async outgoingClearMessageId(client: ClientRef, packet: StoredPacket): Promise<unknown> {
    const removed = await this.store.outgoingClearMessageId(client, packet);
    if (removed) this.count(client.id, -1);
    return removed;
  }

  async queueDepths(clientIds: readonly string[]): Promise<number[]> {
    return clientIds.map((id) => this.depth.get(id) ?? 0);
  }

  private count(clientId: string, n: number): void {
    const next = Math.max(0, (this.depth.get(clientId) ?? 0) + n);
    if (next === 0) this.depth.delete(clientId);
    else this.depth.set(clientId, next);
  }

  storeRetained = (packet: StoredPacket) => this.store.storeRetained(packet);
  createRetainedStream = (pattern: string) => this.store.createRetainedStream(pattern);
  createRetainedStreamCombi = (patterns: string[]) => this.store.createRetainedStreamCombi(patterns);
  addSubscriptions = (client: ClientRef, subs: StoredSubscription[]) => this.store.addSubscriptions(client, subs);
  removeSubscriptions = (client: ClientRef, topics: string[]) => this.store.removeSubscriptions(client, topics);
  subscriptionsByClient = (client: ClientRef) => this.store.subscriptionsByClient(client);
  countOffline = () => this.store.countOffline();
  subscriptionsByTopic = (topic: string) => this.store.subscriptionsByTopic(topic);
  cleanSubscriptions = (client: ClientRef) => this.store.cleanSubscriptions(client);
  outgoingUpdate = (client: ClientRef, packet: StoredPacket) => this.store.outgoingUpdate(client, packet);
  outgoingStream = (client: ClientRef) => this.store.outgoingStream(client);
  incomingStorePacket = (client: ClientRef, packet: StoredPacket) => this.store.incomingStorePacket(client, packet);
  incomingGetPacket = (client: ClientRef, packet: StoredPacket) => this.store.incomingGetPacket(client, packet);
  incomingDelPacket = (client: ClientRef, packet: StoredPacket) => this.store.incomingDelPacket(client, packet);
  putWill = (client: ClientRef, packet: StoredPacket) => this.store.putWill(client, packet);
  getWill = (client: ClientRef) => this.store.getWill(client);
  delWill = (client: ClientRef & { brokerId?: string }) => this.store.delWill(client);
  streamWill = (brokers: unknown) => this.store.streamWill(brokers);
  getClientList = (topic: string) => this.store.getClientList(topic);
  destroy = () => this.store.destroy();
}

/** QoS 2 records of one pod, at most `limit` per client id. */
export class MemoryIncomingRecords implements IncomingRecords {
  private readonly byClient = new Map<string, Set<number>>();

  constructor(private readonly limit: number) {}

  async add(clientId: string, messageId: number): Promise<void> {
    let ids = this.byClient.get(clientId);
    if (!ids) this.byClient.set(clientId, (ids = new Set()));
    if (!ids.has(messageId) && ids.size >= this.limit) throw new TooManyQos2Flows(clientId, this.limit);
    ids.add(messageId);
  }

  async has(clientId: string, messageId: number): Promise<boolean> {
    return this.byClient.get(clientId)?.has(messageId) ?? false;
  }

  async delete(clientId: string, messageId: number): Promise<void> {
    const ids = this.byClient.get(clientId);
    ids?.delete(messageId);
    if (ids?.size === 0) this.byClient.delete(clientId);
  }

  async clear(clientId: string): Promise<void> {
    this.byClient.delete(clientId);
  }
}

export class TooManyQos2Flows extends Error {
  constructor(clientId: string, limit: number) {
    super(`${clientId} already has ${limit} QoS 2 messages awaiting PUBREL`);
    this.name = 'TooManyQos2Flows';
  }
}
