import { claimDecision, needsOnlineCheck, type ClaimRequest, type ClaimResult, type SessionClaims, type SessionRecord, type TakeoverPolicy } from '../auth/session-claims.js';
import type { RedisClient } from './connection.js';

/** Sets the key only while it still holds what was read (nothing: ARGV[1] is empty). One key: Cluster-safe. */
const SET_IF_UNCHANGED =
  "local v = redis.call('get', KEYS[1]) if (v == false and ARGV[1] == '') or v == ARGV[1] then " +
  "redis.call('set', KEYS[1], ARGV[2], 'EX', ARGV[3]) return 1 end return 0";
/** Deletes the record only while it still names this connection: a takeover elsewhere wrote its own. */
const DEL_IF_CONNECTION =
  "local v = redis.call('get', KEYS[1]) if v then local r = cjson.decode(v) if r.connection == ARGV[1] then return redis.call('del', KEYS[1]) end end return 0";

/** A clean session's record outlives any connection; refreshed for long ones, dropped with a dead pod by the online check. */
const CLEAN_TTL_SECONDS = 24 * 3600;
const REFRESH_MS = 3 * 3600 * 1000;
const ATTEMPTS = 3;

export const claimKey = (clientId: string) => `session:${encodeURIComponent(clientId)}`;

/**
 * The session claims of all pods, in Redis (`session:<clientId>` → JSON record). A claim reads the
 * record, decides (asking presence whether a clean session's client is still connected), and
 * writes only if nobody changed the record meanwhile.
 */
export class RedisSessionClaims implements SessionClaims {
  private readonly local = new Map<string, string>();
  private refresh: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: RedisClient,
    private readonly policy: TakeoverPolicy,
    private readonly persistentTtlSeconds: number,
    private readonly isOnline: (clientId: string) => Promise<boolean>,
  ) {}

  start(): void {
    this.refresh = setInterval(() => void this.refreshLocal(), REFRESH_MS);
    this.refresh.unref();
  }

  stop(): void {
    clearInterval(this.refresh);
  }

  async claim(clientId: string, request: ClaimRequest): Promise<ClaimResult> {
    const key = claimKey(clientId);
    for (let attempt = 1; ; attempt++) {
      const raw = (await this.db.get(key)) ?? '';
      const existing = parseRecord(raw);
      const online = needsOnlineCheck(existing, request, this.policy) ? await this.isOnline(clientId) : false;
      const decision = claimDecision(existing, request, online, this.policy);
      if (!decision.ok) return decision;
      const record: SessionRecord = { ...request, epoch: decision.epoch };
      const ttl = request.persistent ? this.persistentTtlSeconds : CLEAN_TTL_SECONDS;
      if ((await this.db.eval(SET_IF_UNCHANGED, 1, key, raw, JSON.stringify(record), String(ttl))) === 1) {
        this.local.set(clientId, request.connection);
        return decision;
      }
      if (attempt === ATTEMPTS) throw new Error(`the session of ${clientId} changed ${ATTEMPTS} times while it was claimed`);
    }
  }

  async released(clientId: string, connection: string, persistent: boolean): Promise<void> {
    if (this.local.get(clientId) === connection) this.local.delete(clientId);
    const key = claimKey(clientId);
    if (persistent) await this.db.expire(key, this.persistentTtlSeconds);
    else await this.db.eval(DEL_IF_CONNECTION, 1, key, connection);
  }

  async ended(clientId: string): Promise<void> {
    await this.db.del(claimKey(clientId));
  }

  private async refreshLocal(): Promise<void> {
    for (const clientId of [...this.local.keys()]) {
      await this.db.expire(claimKey(clientId), CLEAN_TTL_SECONDS, 'GT').catch(() => undefined);
    }
  }
}

function parseRecord(raw: string): SessionRecord | undefined {
  if (raw === '') return undefined;
  try {
    const r = JSON.parse(raw) as Partial<SessionRecord>;
    if (typeof r.credential === 'string' && typeof r.persistent === 'boolean' && typeof r.connection === 'string' && typeof r.epoch === 'string') return r as SessionRecord;
  } catch {
    // not ours: treated as absent, and overwritten
  }
  return undefined;
}
