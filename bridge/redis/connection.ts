import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { BridgeConfig } from '../config/schema.js';
import type { Logger } from '../observability/log.js';

export type RedisClient = Redis | Cluster;

/**
 * The Redis URL of the session store. `MQBRIDGE_REDIS_URL` (from a Secret, since the URL may
 * carry a password) overrides the config file, which lives in a ConfigMap.
 */
export function redisUrlOf(cfg: BridgeConfig, env = process.env): string | undefined {
  return env.MQBRIDGE_REDIS_URL || cfg.sessionStore.redis?.url;
}

/** Seed nodes of a Cluster URL list: `redis://a:6379,redis://b:6379` or `redis://a:6379,b:6379`. */
export function clusterNodesOf(url: string): { host: string; port: number }[] {
  return url.split(',').map((part) => {
    const u = new URL(/^rediss?:\/\//.test(part) ? part : `redis://${part}`);
    return { host: u.hostname, port: Number(u.port || 6379) };
  });
}

/**
 * A new connection to the session store. ioredis reconnects by itself with backoff; while it is
 * away, commands fail at once instead of queueing (the callers decide what to do), and every
 * state change is logged once.
 */
export function connectRedis(cfg: BridgeConfig, log: Logger, purpose: string, env = process.env): RedisClient {
  return openRedis(cfg, log, purpose, {}, env);
}

/** As `connectRedis`, with options of its own (a key prefix, an offline queue for subscriptions). */
export function openRedis(cfg: BridgeConfig, log: Logger, purpose: string, extra: RedisOptions, env = process.env): RedisClient {
  const url = redisUrlOf(cfg, env);
  if (!url) throw new Error('sessionStore.redis is not configured');
  const common: RedisOptions = {
    connectionName: `mqbridge-${cfg.bridge.name}-${purpose}`,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (attempt) => Math.min(100 * 2 ** attempt, 2_000),
    lazyConnect: true,
    ...extra,
  };
  const client: RedisClient = cfg.sessionStore.redis?.cluster
    ? new Cluster(clusterNodesOf(url), {
        redisOptions: { ...common, ...credentialsOf(url) },
        enableOfflineQueue: common.enableOfflineQueue,
        lazyConnect: common.lazyConnect,
        ...(common.keyPrefix ? { keyPrefix: common.keyPrefix } : {}),
      })
    : new Redis(url, common);
  let up = false;
  client.on('ready', () => {
    up = true;
    log.info({ purpose }, 'redis connected');
  });
  client.on('error', (err: Error) => {
    if (up) log.warn({ purpose, err: err.message }, 'redis connection lost; reconnecting');
    up = false;
  });
  return client;
}

function credentialsOf(url: string): Pick<RedisOptions, 'username' | 'password' | 'tls'> {
  const u = new URL(url.split(',')[0]!);
  return {
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

/** Resolves when the client is ready, or after `ms` (Redis may be away; callers go on). */
export function whenReady(client: RedisClient, ms: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    client.once('ready', done);
    function done() {
      clearTimeout(timer);
      client.off('ready', done);
      resolve();
    }
  });
}
