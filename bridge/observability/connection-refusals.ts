import type { RefusalReason } from '../mapping/refusals.js';
import type { Logger } from './log.js';
import type { BridgeMetrics } from './metrics.js';

/** One line per this many ms at most; every refusal is counted all the same. */
export const CONNECTION_REFUSAL_LOG_EVERY_MS = 10_000;

/**
 * Connections refused before MQTT starts (limits, pacing, client certificates). A flood of
 * refused sockets must not become a flood of log lines, so each is counted and the log shows
 * one of them per interval with the pod's connection count at the time.
 */
export class ConnectionRefusals {
  private lastLogged = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly metrics: BridgeMetrics,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  report(reason: RefusalReason, source: string, connections: number, detail?: string): void {
    this.metrics.refused(reason);
    const now = this.now();
    if (now - this.lastLogged < CONNECTION_REFUSAL_LOG_EVERY_MS) return;
    this.lastLogged = now;
    this.log.warn({ reason, source, detail, connections }, 'connection refused (further refusals within 10 s are counted, not logged)');
  }
}
