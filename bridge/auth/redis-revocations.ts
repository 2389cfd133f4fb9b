import type { Logger } from '../observability/log.js';
import { whenReady, type RedisClient } from '../redis/connection.js';
import { RevokedIds, type RevocationList } from './revocations.js';

export interface RedisRevocationOptions {
  /** Commands: the sorted set of revoked ids, scored by expiry. */
  client: RedisClient;
  /** A second connection, in subscriber mode: revocations are pushed to every pod at once. */
  subscriber: RedisClient;
  keyPrefix: string;
  /** The set is re-read this often, so a pod that missed a push (Redis away) catches up. */
  resyncMs: number;
  log: Logger;
  onSync?: (result: 'ok' | 'failed') => void;
}

/**
 * The revocation list of all pods of a bridge, in Redis: a sorted set `<prefix>revoked-tokens`
 * (member = token id, score = its expiry) that each pod reads at start and every `resyncMs`, plus
 * a pub/sub channel that brings a new revocation to every pod within milliseconds. While Redis is
 * away, a pod keeps the ids it knows and revoking fails with a clear error.
 */
export class RedisRevocationList implements RevocationList {
  private readonly ids = new RevokedIds();
  private timer: NodeJS.Timeout | undefined;
  private syncedOnce = false;

  constructor(private readonly o: RedisRevocationOptions) {}

  get synced(): boolean {
    return this.syncedOnce;
  }

  private get key(): string {
    return `${this.o.keyPrefix}revoked-tokens`;
  }

  private get channel(): string {
    return `${this.o.keyPrefix}revocations`;
  }

  async start(): Promise<void> {
    const { client, subscriber, log } = this.o;
    subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.channel) this.receive(message);
    });
    // On every (re)connect: subscribe (twice is harmless) and re-read what was missed meanwhile.
    subscriber.on('ready', () => void subscriber.subscribe(this.channel).catch(() => undefined));
    client.on('ready', () => void this.sync());
    await Promise.all([client.connect(), subscriber.connect()]).catch((err: Error) => {
      log.warn({ err: err.message }, 'redis unreachable at start; token revocations unknown until it answers');
    });
    // A Cluster is usable only once it has read the slot map, after connect() resolved.
    await Promise.all([whenReady(client, 5_000), whenReady(subscriber, 5_000)]);
    await subscriber.subscribe(this.channel).catch(() => undefined);
    await this.sync();
    this.timer = setInterval(() => void this.sync(), this.o.resyncMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.allSettled([this.o.client.quit(), this.o.subscriber.quit()]);
  }

  isRevoked(id: string): boolean {
    return this.ids.has(id);
  }

  async revoke(id: string, expiresAt: number): Promise<void> {
    const now = Math.floor(Date.now() / 1000);
    await this.o.client
      .multi()
      .zadd(this.key, expiresAt, id)
      .zremrangebyscore(this.key, '-inf', now)
      .publish(this.channel, `${id}:${expiresAt}`)
      .exec();
    this.ids.add(id, expiresAt);
  }

  onRevoked(listener: (id: string) => void): void {
    this.ids.onAdded(listener);
  }

  private receive(message: string): void {
    const [id, exp] = message.split(':');
    const expiresAt = Number(exp);
    if (id && Number.isSafeInteger(expiresAt)) this.ids.add(id, expiresAt);
  }

  private async sync(): Promise<void> {
    const now = Math.floor(Date.now() / 1000);
    try {
      const entries = await this.o.client.zrangebyscore(this.key, now + 1, '+inf', 'WITHSCORES');
      for (let i = 0; i + 1 < entries.length; i += 2) this.ids.add(entries[i]!, Number(entries[i + 1]));
      this.ids.prune(now);
      this.syncedOnce = true;
      this.o.onSync?.('ok');
    } catch (err) {
      this.o.onSync?.('failed');
      this.o.log.debug({ err: (err as Error).message }, 'token revocation resync failed');
    }
  }
}
