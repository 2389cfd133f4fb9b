import { parseConfig } from '../../bridge/config/load.js';
import { BridgeMetrics } from '../../bridge/observability/metrics.js';
import { openRedis } from '../../bridge/redis/connection.js';
import type { Presence } from '../../bridge/redis/presence.js';
import { SessionExpiry } from '../../bridge/redis/session-expiry.js';
import { testLogger } from './support/bridge.js';
import { REDIS_URL, uniqueId } from './support/env.js';

/** Session expiry against the real Redis: a sweep ends every session that is due, not just a batch of them. */
test('one sweep expires every due persistent session, however many (in batches)', async () => {
  const cfg = parseConfig({ sessionStore: { redis: { url: REDIS_URL } } });
  const db = openRedis(cfg, testLogger(), 'expiry-test', { keyPrefix: `it:${uniqueId('exp-')}:` });
  await db.connect();
  try {
    const ended: string[] = [];
    const offline = { presenceOf: async () => undefined, podAlive: async () => false, clearStale: async () => undefined } as unknown as Presence;
    const expiry = new SessionExpiry({ db, presence: offline, cleanSession: async (c) => void ended.push(c.id), expirySeconds: 1, sweepMs: 60_000, metrics: new BridgeMetrics(), log: testLogger() });
    const ids = Array.from({ length: 950 }, (_, i) => `GID_exp@@@d${i}`);
    for (const id of ids) await expiry.touch(id, true);
    await expiry.sweep(Date.now() + 2_000);
    expect(new Set(ended)).toEqual(new Set(ids));
  } finally {
    await db.quit();
  }
});
