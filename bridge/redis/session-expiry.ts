import type { Logger } from '../observability/log.js';
import type { BridgeMetrics } from '../observability/metrics.js';
import type { RedisClient } from './connection.js';
import type { ClientRef } from './persistence.js';
import type { Presence } from './presence.js';

const EXPIRY_KEY = 'session-expiry';
const SWEEP_BATCH = 200;
const MAX_BATCHES_PER_SWEEP = 50;

/** What to do with a persistent session whose expiry time has come. */
export type ExpiryStep = 'reschedule' | 'forget-dead-pod' | 'expire';

/**
 * Pure: a session whose client is online is rescheduled; one whose pod died is rescheduled from
 * now (the client went offline when the pod died, not when it connected); otherwise it expires.
 */
export function expiryStep(presencePod: string | undefined, podAlive: boolean): ExpiryStep {
  if (presencePod === undefined) return 'expire';
  return podAlive ? 'reschedule' : 'forget-dead-pod';
}

export interface ExpiryDeps {
  db: RedisClient;
  presence: Presence;
  cleanSession: (client: ClientRef) => Promise<unknown>;
  expirySeconds: number;
  /** How often the schedule is swept (sessionStore.expirySweepMs). */
  sweepMs: number;
  metrics: BridgeMetrics;
  log: Logger;
}

/**
 * Ends persistent sessions (`cleanSession=false`) that stayed offline for `expirySeconds`: their
 * subscriptions and queue go; queued messages expire by themselves (their keys carry a TTL).
 * The schedule is one sorted set (client id → due time). Every pod sweeps it; removing the
 * entry first decides which pod does the work.
 */
export class SessionExpiry {
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;

  constructor(private readonly deps: ExpiryDeps) {}

  start(): void {
    this.timer = setInterval(() => {
      this.sweeping ??= this.sweep()
        .catch((err: Error) => this.deps.log.debug({ err: err.message }, 'session expiry sweep failed; next time'))
        .finally(() => (this.sweeping = undefined));
    }, this.deps.sweepMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.sweeping;
  }

  /** A client connected or went away: its session (if persistent) is due `expirySeconds` from now. */
  async touch(clientId: string, persistent: boolean): Promise<void> {
    const { db } = this.deps;
    try {
      if (persistent) await db.zadd(EXPIRY_KEY, this.dueFromNow(), clientId);
      else await db.zrem(EXPIRY_KEY, clientId);
    } catch (err) {
      this.deps.metrics.sessionStoreDegraded.inc({ operation: 'session_expiry_schedule' });
      this.deps.log.debug({ clientId, err: (err as Error).message }, 'session expiry not scheduled');
    }
  }

  /**
   * Every session due by `now`, a batch at a time (at most {@link MAX_BATCHES_PER_SWEEP} batches, so
   * one sweep stays short): one batch per sweep would expire at most 200 sessions a minute, fewer
   * than a fleet's client ids come and go.
   */
  async sweep(now = Date.now()): Promise<void> {
    for (let batch = 0; batch < MAX_BATCHES_PER_SWEEP; batch++) {
      const due = await this.deps.db.zrangebyscore(EXPIRY_KEY, 0, now, 'LIMIT', 0, SWEEP_BATCH);
      for (const clientId of due) await this.step(clientId);
      if (due.length < SWEEP_BATCH) return;
    }
  }

  private async step(clientId: string): Promise<void> {
    const { db, presence } = this.deps;
    const pod = await presence.presenceOf(clientId);
    const step = expiryStep(pod, pod !== undefined && (await presence.podAlive(pod)));
    if (step === 'forget-dead-pod') await presence.clearStale(clientId, pod!);
    if (step !== 'expire') await db.zadd(EXPIRY_KEY, this.dueFromNow(), clientId);
    else await this.expire(clientId);
  }

  private async expire(clientId: string): Promise<void> {
    const { db, cleanSession, metrics, log } = this.deps;
    if ((await db.zrem(EXPIRY_KEY, clientId)) !== 1) return; // another pod took it
    try {
      await cleanSession({ id: clientId });
      metrics.sessionsExpired.inc();
      log.info({ clientId }, 'persistent session expired after staying offline');
    } catch (err) {
      await db.zadd(EXPIRY_KEY, Date.now() + this.deps.sweepMs, clientId);
      throw err;
    }
  }

  private dueFromNow(): number {
    return Date.now() + this.deps.expirySeconds * 1000;
  }
}
