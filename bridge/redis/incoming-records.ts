import type { IncomingRecords } from '../mqtt/session-persistence.js';
import type { RedisClient } from './connection.js';

/**
 * Adds a packet id to a client's hash of open QoS 2 flows unless it already holds `limit` others,
 * and renews the hash's expiry. One key per client id, so it is safe on a Cluster.
 */
const ADD_BOUNDED =
  "if redis.call('hexists', KEYS[1], ARGV[1]) == 0 and redis.call('hlen', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end " +
  "redis.call('hset', KEYS[1], ARGV[1], '1') redis.call('expire', KEYS[1], ARGV[3]) return 1";

export const incomingKey = (clientId: string) => `qos2-in:${encodeURIComponent(clientId)}`;

/**
 * QoS 2 flows awaiting PUBREL, shared by the pods: one hash per client id (packet id → 1), so a
 * clean session or an expired one removes all of a client's records with one DEL, the hash
 * expires with the session (`ttlSeconds`) if nobody cleans it, and it holds at most `limit`
 * flows. Only the packet id is kept: aedes asks whether a flow is open, never for its packet.
 */
export class RedisIncomingRecords implements IncomingRecords {
  constructor(
    private readonly db: RedisClient,
    private readonly limit: number,
    private readonly ttlSeconds: number,
  ) {}

  async add(clientId: string, messageId: number): Promise<void> {
    const added = await this.db.eval(ADD_BOUNDED, 1, incomingKey(clientId), String(messageId), String(this.limit), String(this.ttlSeconds));
    if (added !== 1) throw new Error(`${clientId} already has ${this.limit} QoS 2 messages awaiting PUBREL`);
  }

  async has(clientId: string, messageId: number): Promise<boolean> {
    return (await this.db.hexists(incomingKey(clientId), String(messageId))) === 1;
  }

  async delete(clientId: string, messageId: number): Promise<void> {
    await this.db.hdel(incomingKey(clientId), String(messageId));
  }

  async clear(clientId: string): Promise<void> {
    await this.db.del(incomingKey(clientId));
  }
}
