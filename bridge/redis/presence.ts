import type { Logger } from '../observability/log.js';
import type { BridgeMetrics } from '../observability/metrics.js';
import { retryWhile } from '../util/backoff.js';
import type { RedisClient } from './connection.js';

/** How often a pod says it is alive, and how long that holds: a killed pod is dead after the TTL. */
const POD_BEAT_MS = 5_000;
const POD_TTL_SECONDS = 15;
/** A presence record outlives any pod; refreshed for long connections, dropped with its dead pod. */
const PRESENCE_TTL_SECONDS = 24 * 3600;
const PRESENCE_REFRESH_MS = 3 * 3600 * 1000;
/** A pod seen alive is believed alive this long: every P2P message asks which pod holds its target. */
const POD_ALIVE_CACHE_MS = 1_000;

/**
 * How long a failed presence write is retried while its client stays connected here. Longer
 * outages are the store's health's to handle: when Redis is back, every presence is written again.
 */
const PRESENCE_RETRY_MS = 15_000;

/** Deletes a key only while it still holds our value: a takeover on another pod wrote its own. */
const DEL_IF_EQUAL = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0";

export const presenceKey = (clientId: string) => `presence:${encodeURIComponent(clientId)}`;
export const podKey = (podId: string) => `pod:${podId}`;

/**
 * Which pod holds which client id, cluster-wide: `presence:<clientId>` names the pod, and
 * `pod:<podId>` exists while that pod beats. A client counts as online only if both hold, so the
 * clients of a killed pod go offline when its beat expires, without anyone cleaning up after it.
 * It routes every P2P message (to the target's pod only, or nowhere when it is offline), and
 * decides P2P `cleansessionflag=true` (online targets only) and the expiry of persistent sessions.
 */
export class Presence {
  private beat: NodeJS.Timeout | undefined;
  private refresh: NodeJS.Timeout | undefined;
  private readonly local = new Set<string>();
  private readonly aliveUntil = new Map<string, number>();
  private readonly beatNow = () => void this.db.set(podKey(this.podId), '1', 'EX', POD_TTL_SECONDS).catch(() => undefined);

  constructor(
    private readonly db: RedisClient,
    readonly podId: string,
    private readonly metrics: BridgeMetrics,
    private readonly log: Logger,
  ) {}

  start(): void {
    // At once when Redis answers, not one beat later: until then no other pod routes P2P messages here.
    this.db.on('ready', this.beatNow);
    this.beatNow();
    this.beat = setInterval(this.beatNow, POD_BEAT_MS);
    this.refresh = setInterval(() => void this.refreshLocal(), PRESENCE_REFRESH_MS);
    this.beat.unref();
    this.refresh.unref();
  }

  async stop(): Promise<void> {
    this.db.off('ready', this.beatNow);
    clearInterval(this.beat);
    clearInterval(this.refresh);
    await this.db.del(podKey(this.podId)).catch(() => undefined);
  }

  /**
   * The client is registered here. Written when aedes registers it, not when it authenticates:
   * a connection that ends before that (a device that gave up waiting for its CONNACK and is
   * connected to another pod by now) never points the client's messages at this pod. The
   * offline queue is read only after this write (`SessionStore`), so every P2P message is
   * either queued before that read or routed here, where the restored session takes it live.
   */
  connected(clientId: string): Promise<void> {
    this.local.add(clientId);
    return this.writeWhileConnected(clientId);
  }

  disconnected(clientId: string): Promise<void> {
    this.local.delete(clientId);
    return this.write('presence_clear', clientId, () => this.db.eval(DEL_IF_EQUAL, 1, presenceKey(clientId), this.podId));
  }

  /** The pod holding the client, if it is alive; throws when Redis does not answer. */
  async podOf(clientId: string): Promise<string | undefined> {
    if (this.local.has(clientId)) return this.podId;
    const pod = await this.db.get(presenceKey(clientId));
    if (pod === null) return undefined;
    return (await this.podAlive(pod)) ? pod : undefined;
  }

  async podAlive(podId: string): Promise<boolean> {
    if (podId === this.podId || (this.aliveUntil.get(podId) ?? 0) > Date.now()) return true;
    const alive = (await this.db.exists(podKey(podId))) === 1;
    if (alive) this.aliveUntil.set(podId, Date.now() + POD_ALIVE_CACHE_MS);
    else this.aliveUntil.delete(podId);
    return alive;
  }

  /** Forgets the presence record of a client whose pod is dead. */
  async clearStale(clientId: string, podId: string): Promise<void> {
    await this.db.eval(DEL_IF_EQUAL, 1, presenceKey(clientId), podId);
  }

  async presenceOf(clientId: string): Promise<string | undefined> {
    return (await this.db.get(presenceKey(clientId))) ?? undefined;
  }

  /** Writes again the presence of every client here, after Redis was away (writes were lost). */
  async reassert(): Promise<void> {
    await this.forEachLocal((id) => this.db.set(presenceKey(id), this.podId, 'EX', PRESENCE_TTL_SECONDS));
  }

  private refreshLocal(): Promise<void> {
    return this.forEachLocal((id) => this.db.expire(presenceKey(id), PRESENCE_TTL_SECONDS));
  }

  /** In chunks of concurrent commands (no multi-key pipeline: the keys may live on several Cluster nodes). */
  private async forEachLocal(command: (clientId: string) => Promise<unknown>): Promise<void> {
    const ids = [...this.local];
    for (let i = 0; i < ids.length; i += 500) {
      await Promise.all(ids.slice(i, i + 500).map((id) => command(id).catch(() => undefined)));
    }
  }

  /**
   * The presence record routes the client's P2P messages: without it the other pods send them
   * nowhere, and a connected client reads its offline queue only when it connects again. So a
   * failed write (a command refused while a connection, or a Cluster node's, is reconnecting)
   * is retried with backoff while the client stays here; resolves once written or given up.
   */
  private async writeWhileConnected(clientId: string): Promise<void> {
    const { outcome, error } = await retryWhile(
      async () => {
        await this.db.set(presenceKey(clientId), this.podId, 'EX', PRESENCE_TTL_SECONDS);
        // Gone while the write was retried: take back what was just written.
        if (!this.local.has(clientId)) await this.db.eval(DEL_IF_EQUAL, 1, presenceKey(clientId), this.podId);
      },
      {
        stillWanted: () => this.local.has(clientId),
        giveUpAfterMs: PRESENCE_RETRY_MS,
        onRetry: (err, retryInMs) => {
          this.metrics.sessionStoreDegraded.inc({ operation: 'presence_set' });
          this.log.debug({ clientId, err: err.message, retryInMs }, 'presence not recorded yet; retrying');
        },
      },
    );
    if (outcome === 'done') return;
    this.metrics.sessionStoreDegraded.inc({ operation: 'presence_set' });
    if (outcome === 'gave-up') {
      this.log.warn({ clientId, err: error?.message }, 'presence not recorded: P2P messages are not routed to this client until it reconnects (a persistent session keeps them queued)');
    }
  }

  /** A lost clear leaves a record of a client gone from here; its next connection overwrites it. */
  private async write(operation: string, clientId: string, command: () => Promise<unknown>): Promise<void> {
    try {
      await command();
    } catch (err) {
      this.metrics.sessionStoreDegraded.inc({ operation });
      this.log.debug({ clientId, operation, err: (err as Error).message }, 'presence not recorded');
    }
  }
}
