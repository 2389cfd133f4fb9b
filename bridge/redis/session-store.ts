import { redisKeyPrefixOf, type BridgeConfig } from '../config/schema.js';
import { ROCKETMQ_PUBLISHER } from '../mapping/topics.js';
import { isP2pInboxFilter, p2pTargetOfInternal } from '../mapping/p2p.js';
import type { Logger } from '../observability/log.js';
import type { BridgeMetrics } from '../observability/metrics.js';
import { openRedis, redisUrlOf, type RedisClient } from './connection.js';
import { createRedisEmitter, type Emitter, type EmittedPacket } from './emitter.js';
import { RedisIncomingRecords } from './incoming-records.js';
import { RedisNonces } from './nonces.js';
import { GuardedPersistence } from './persistence.js';
import { RedisSessionClaims } from './session-claims.js';
import { Presence } from './presence.js';
import { SessionExpiry } from './session-expiry.js';
import { StoreHealth } from './store-health.js';

/** Pending presence, expiry and will writes get this long to finish when the pod stops. */
const CLOSE_WAIT_MS = 3_000;

/** A claim of a persistent session outlives the session's expiry a little: the sweep ends it first. */
const CLAIM_TTL_MARGIN_SECONDS = 3600;

/**
 * The state all pods of a bridge share, in Redis: aedes' persistence (sessions, subscriptions,
 * offline queues) and emitter (a publish reaches the pods with subscribers for it; a P2P one,
 * its target's pod), QoS 2 records, who holds each
 * client id's session, the presence of client ids, and the expiry of offline persistent
 * sessions. Pods keep nothing they cannot lose.
 */
export class SessionStore {
  readonly persistence: GuardedPersistence;
  readonly mq: Emitter;
  readonly incoming: RedisIncomingRecords;
  readonly claims: RedisSessionClaims;
  readonly nonces: RedisNonces;
  private readonly connections: Record<'db' | 'pub' | 'sub', RedisClient>;
  private readonly health: StoreHealth;
  private readonly presence: Presence;
  private readonly expiry: SessionExpiry;
  private readonly pending = new Set<Promise<unknown>>();
  /** Presence writes of clients aedes registered, until it reads their offline queue. */
  private readonly registered = new Map<string, Promise<void>>();

  constructor(
    cfg: BridgeConfig,
    readonly podId: string,
    private readonly metrics: BridgeMetrics,
    private readonly log: Logger,
  ) {
    if (!redisUrlOf(cfg)) throw new Error('sessionStore.redis needs a url, or the environment variable MQBRIDGE_REDIS_URL');
    const prefix = redisKeyPrefixOf(cfg);
    const { sessionExpirySeconds } = cfg.sessionStore;
    const db = openRedis(cfg, log, 'sessions', { keyPrefix: prefix });
    const pub = openRedis(cfg, log, 'publish', {});
    // Subscriptions made while Redis is away wait and go out when it is back.
    const sub = openRedis(cfg, log, 'subscribe', { enableOfflineQueue: true, maxRetriesPerRequest: null });
    this.connections = { db, pub, sub };
    this.health = new StoreHealth(this.connections, metrics, log);
    const fromRocketmq = (packet: EmittedPacket) => packet.clientId === ROCKETMQ_PUBLISHER;
    this.persistence = new GuardedPersistence({
      db,
      cluster: cfg.sessionStore.redis?.cluster ?? false,
      ttlSeconds: sessionExpirySeconds,
      mustBeKept: fromRocketmq,
      queueReadAfter: (clientId) => this.presenceWritten(clientId),
      metrics,
      log,
    });
    this.presence = new Presence(db, podId, metrics, log);
    this.mq = createRedisEmitter({
      prefix,
      sub,
      pub,
      mustBeShared: fromRocketmq,
      onLocalOnly: () => metrics.sessionStoreDegraded.inc({ operation: 'delivered_on_this_pod_only' }),
      onUndecodable: (err) => {
        metrics.sessionStoreDegraded.inc({ operation: 'undecodable_publish' });
        log.warn({ err: err.message }, 'a message on a publish channel is not a packet; dropped');
      },
      onSubscribeFailed: (channel, err) => {
        metrics.sessionStoreDegraded.inc({ operation: 'channel_subscribe_failed' });
        log.warn({ channel, err: err.message }, 'Redis refused a channel subscription; trying again');
      },
      routes: {
        podId,
        targetOf: p2pTargetOfInternal,
        coversFilter: isP2pInboxFilter,
        podOf: (clientId) => this.presence.podOf(clientId),
      },
    });
    this.nonces = new RedisNonces(db);
    this.incoming = new RedisIncomingRecords(db, cfg.mqtt.maxQos2InFlight, sessionExpirySeconds);
    this.claims = new RedisSessionClaims(db, cfg.auth.sessionTakeover, sessionExpirySeconds + CLAIM_TTL_MARGIN_SECONDS, (id) => this.isOnline(id));
    this.expiry = new SessionExpiry({
      db,
      presence: this.presence,
      cleanSession: async (client) => {
        await this.persistence.endSession(client);
        await this.incoming.clear(client.id);
        await this.claims.ended(client.id);
      },
      expirySeconds: sessionExpirySeconds,
      sweepMs: cfg.sessionStore.expirySweepMs,
      metrics,
      log,
    });
    this.health.onBack(() => this.track(this.presence.reassert()));
  }

  /** Connects (Redis may be away: the connections keep trying) and starts the background work. */
  start(): void {
    for (const [name, conn] of Object.entries(this.connections)) {
      conn.connect().catch((err: Error) => this.log.warn({ connection: name, err: err.message }, 'cannot connect to Redis yet; retrying'));
    }
    this.presence.start();
    this.expiry.start();
    this.claims.start();
  }

  get up(): boolean {
    return this.health.up;
  }

  clientConnected(clientId: string, clean: boolean): void {
    const written = this.presence.connected(clientId);
    this.registered.set(clientId, written);
    this.track(written);
    this.track(this.expiry.touch(clientId, !clean));
  }

  /** What aedes' read of the client's offline queue waits for: its presence write (never rejects). */
  private presenceWritten(clientId: string): Promise<void> | undefined {
    const written = this.registered.get(clientId);
    this.registered.delete(clientId);
    return written;
  }

  clientDisconnected(clientId: string, clean: boolean): void {
    this.registered.delete(clientId);
    this.track(this.presence.disconnected(clientId));
    if (!clean) this.track(this.expiry.touch(clientId, true));
  }

  /** Whether a client id is connected to any live pod; throws while Redis does not answer. */
  async isOnline(clientId: string): Promise<boolean> {
    return (await this.presence.podOf(clientId)) !== undefined;
  }

  /** After aedes closed (its emitter is closed with it): finish our writes, then let go of Redis. */
  async close(): Promise<void> {
    this.persistence.abort();
    this.claims.stop();
    await this.expiry.stop();
    const writes = [...this.pending, ...this.persistence.willWritesInFlight];
    await Promise.race([Promise.allSettled(writes), new Promise((r) => setTimeout(r, CLOSE_WAIT_MS).unref())]);
    await this.presence.stop();
    const { db } = this.connections;
    if (db.status === 'ready') await db.quit().catch(() => db.disconnect());
    else db.disconnect();
  }

  private track(work: Promise<unknown>): void {
    const tracked = work.catch((err: Error) => {
      this.metrics.errors.inc({ component: 'session_store' });
      this.log.debug({ err: err.message }, 'session store write failed');
    });
    this.pending.add(tracked);
    void tracked.finally(() => this.pending.delete(tracked));
  }
}
