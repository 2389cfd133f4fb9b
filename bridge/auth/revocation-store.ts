import { redisKeyPrefixOf, type BridgeConfig } from '../config/schema.js';
import type { Logger } from '../observability/log.js';
import type { BridgeMetrics } from '../observability/metrics.js';
import { connectRedis, redisUrlOf } from '../redis/connection.js';
import { RedisRevocationList } from './redis-revocations.js';
import { MemoryRevocationList, type RevocationList } from './revocations.js';

/** Shared by all pods through the session store when there is one; else this pod's own. */
export function createRevocationList(config: BridgeConfig, metrics: BridgeMetrics, log: Logger): RevocationList {
  const usesTokens = config.auth.mode === 'Token' || config.auth.mode === 'SignatureOrToken';
  if (!usesTokens || !redisUrlOf(config)) return new MemoryRevocationList();
  return new RedisRevocationList({
    client: connectRedis(config, log, 'revocations'),
    subscriber: connectRedis(config, log, 'revocations-push'),
    keyPrefix: redisKeyPrefixOf(config),
    resyncMs: config.auth.tokenApi.revocationResyncMs,
    log,
    onSync: (result) => metrics.revocationSyncs.inc({ result }),
  });
}
