import type { Duplex } from 'node:stream';

export interface ConnectPacing {
  /** New connections handed to the MQTT server per second at most; 0: no pacing. */
  connectsPerSecond: number;
  /** Connections waiting for their turn at most; one more is closed at once. */
  maxWaiting: number;
}

interface Waiting {
  stream: Duplex;
  start: () => void;
  onError: () => void;
}

/**
 * Hands new connections to the MQTT server at most `connectsPerSecond` (a burst of one second's
 * worth), the rest in arrival order, their bytes left unread meanwhile. When a pod dies its devices
 * come back all at once to the others; each CONNECT costs authentication and, for a persistent
 * session, several Redis round trips. Paced, the connections already served keep their CPU, and
 * a returning device waits a little longer for its CONNACK instead of every device waiting.
 * Past `maxWaiting` a connection is closed at once: the device retries with its backoff.
 */
export class ConnectPacer {
  private tokens: number;
  private refilledAt = Date.now();
  private readonly queue: Waiting[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pacing: ConnectPacing,
    private readonly onRefused: () => void,
    private readonly onWaitingChanged: (waiting: number) => void = () => undefined,
  ) {
    this.tokens = pacing.connectsPerSecond;
  }

  get waiting(): number {
    return this.queue.length;
  }

  /** Calls `start` now or once the connection's turn comes; never if it closed meanwhile. */
  admit(stream: Duplex, start: () => void): void {
    if (this.pacing.connectsPerSecond <= 0) return start();
    this.refill();
    if (this.queue.length === 0 && this.tokens >= 1) {
      this.tokens--;
      return start();
    }
    if (this.queue.length >= this.pacing.maxWaiting) {
      stream.destroy();
      return this.onRefused();
    }
    // Nobody else listens yet: a reset while waiting would be an unhandled 'error'.
    const onError = () => stream.destroy();
    stream.on('error', onError);
    this.queue.push({ stream, start, onError });
    this.onWaitingChanged(this.queue.length);
    this.timer ??= setInterval(() => this.drain(), Math.max(1, Math.floor(1000 / this.pacing.connectsPerSecond)));
  }

  /** On shutdown: the waiting connections are closed (a listener's close would wait for them). */
  close(): void {
    this.stopTimer();
    for (const { stream } of this.queue.splice(0)) stream.destroy();
    this.onWaitingChanged(0);
  }

  private stopTimer(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private drain(): void {
    this.refill();
    while (this.tokens >= 1 && this.queue.length > 0) {
      const next = this.queue.shift()!;
      next.stream.off('error', next.onError);
      if (next.stream.destroyed) continue; // the device gave up waiting
      this.tokens--;
      next.start();
    }
    this.onWaitingChanged(this.queue.length);
    if (this.queue.length === 0) this.stopTimer();
  }

  private refill(): void {
    const now = Date.now();
    const { connectsPerSecond } = this.pacing;
    this.tokens = Math.min(connectsPerSecond, this.tokens + ((now - this.refilledAt) * connectsPerSecond) / 1000);
    this.refilledAt = now;
  }
}
