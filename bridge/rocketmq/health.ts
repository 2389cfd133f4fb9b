import { connect } from 'node:net';
import type { BridgeMetrics } from '../observability/metrics.js';

/**
 * Whether RocketMQ answers. Real sends and receives report their outcome; while the bridge
 * is idle a TCP probe of the proxy endpoints keeps the answer fresh.
 */
export class RocketmqHealth {
  private reachable = false;
  private timer: NodeJS.Timeout | undefined;
  private lastOpAt = 0;

  constructor(
    private readonly endpoints: string,
    private readonly metrics: BridgeMetrics,
    private readonly probeEveryMs = 3_000,
  ) {}

  get up(): boolean {
    return this.reachable;
  }

  succeeded(): void {
    this.lastOpAt = Date.now();
    this.set(true);
  }

  failed(): void {
    this.lastOpAt = Date.now();
    this.set(false);
  }

  start(): void {
    this.timer = setInterval(() => void this.probeIfIdle(), this.probeEveryMs);
    this.timer.unref();
    void this.probeIfIdle();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async probeIfIdle(): Promise<void> {
    if (Date.now() - this.lastOpAt < this.probeEveryMs) return;
    const results = await Promise.all(parseEndpoints(this.endpoints).map(([h, p]) => tcpProbe(h, p, 1_000)));
    // A real operation may have reported meanwhile; it knows better than the probe.
    if (Date.now() - this.lastOpAt >= this.probeEveryMs) this.set(results.some(Boolean));
  }

  private set(up: boolean): void {
    this.reachable = up;
    this.metrics.rocketmqUp.set(up ? 1 : 0);
  }
}

export function parseEndpoints(endpoints: string): [string, number][] {
  return endpoints
    .split(/[;,]/)
    .map((e) => e.trim())
    .filter(Boolean)
    .map((e) => {
      const i = e.lastIndexOf(':');
      return i < 0 ? [e, 80] : [e.slice(0, i).replace(/^\[|\]$/g, ''), Number(e.slice(i + 1))];
    });
}

function tcpProbe(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    const finish = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => finish(true));
    socket.once('timeout', () => finish(false));
    socket.once('error', () => finish(false));
  });
}
