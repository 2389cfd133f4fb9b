import type { Logger } from '../observability/log.js';
import type { BridgeMetrics } from '../observability/metrics.js';
import type { RedisClient } from './connection.js';

/**
 * Whether the session store answers: up while every one of its connections is ready. Each
 * change is logged once and shown as `mqbridge_session_store_up`; each loss is counted.
 */
export class StoreHealth {
  private readonly ready = new Set<string>();
  private wasUp = false;
  private everUp = false;
  private readonly backListeners: (() => void)[] = [];

  constructor(
    private readonly connections: Record<string, RedisClient>,
    private readonly metrics: BridgeMetrics,
    private readonly log: Logger,
  ) {
    metrics.sessionStoreUp.set(0);
    for (const [name, conn] of Object.entries(connections)) {
      if (conn.status === 'ready') this.ready.add(name);
      conn.on('ready', () => this.mark(name, true));
      // 'close' as well as 'error': a Redis that shuts down cleanly closes without an error.
      conn.on('close', () => this.mark(name, false));
      conn.on('end', () => this.mark(name, false));
      conn.on('error', () => this.mark(name, conn.status === 'ready'));
    }
    this.update();
  }

  get up(): boolean {
    return this.ready.size === Object.keys(this.connections).length;
  }

  /** Called each time the store is back after an outage. */
  onBack(listener: () => void): void {
    this.backListeners.push(listener);
  }

  isReady(name: string): boolean {
    return this.ready.has(name);
  }

  private mark(name: string, ready: boolean): void {
    if (ready) this.ready.add(name);
    else this.ready.delete(name);
    this.update();
  }

  private update(): void {
    const up = this.up;
    if (up === this.wasUp) return;
    this.wasUp = up;
    this.metrics.sessionStoreUp.set(up ? 1 : 0);
    if (up) {
      this.log.info(this.everUp ? 'session store (Redis) is back' : 'session store (Redis) connected');
      if (this.everUp) for (const listener of this.backListeners) listener();
      this.everUp = true;
    } else {
      this.metrics.sessionStoreOutages.inc();
      this.log.error(
        { connections: Object.keys(this.connections).filter((n) => !this.ready.has(n)) },
        'session store (Redis) unreachable: not ready; persistent sessions refused, delivery on this pod only, downlink left in RocketMQ',
      );
    }
  }
}
