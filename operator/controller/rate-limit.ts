/** Per-key exponential backoff: 1st retry after `baseMs`, doubling up to `maxMs`. */
export class ItemBackoff {
  private readonly failures = new Map<string, number>();

  constructor(
    private readonly baseMs = 200,
    private readonly maxMs = 300_000,
  ) {}

  when(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    return Math.min(this.maxMs, this.baseMs * 2 ** n);
  }

  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  forget(key: string): void {
    this.failures.delete(key);
  }
}

/** Token bucket for all retries together, so a storm of failures cannot flood the API server. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly perSecond = 10,
    private readonly burst = 100,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** Takes a token and says how long to wait before using it. */
  reserve(): number {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.perSecond);
    this.last = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.perSecond) * 1000);
  }
}
