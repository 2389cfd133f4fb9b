/** Addresses counted at most; past it, failures of new addresses share one count (they are only ever failures). */
const MAX_ADDRESSES = 200_000;
const OVERFLOW = '(overflow)';
const WINDOW_MS = 60_000;

/**
 * Counts failed logins per source address over a sliding minute, approximated from this
 * minute's count and the last one's, weighted by how much of the last one the sliding window
 * still covers: constant work per failure, memory for the addresses of two minutes (the
 * previous list-of-timestamps design swept every address past 100,000 of them).
 * The caller refuses only *failing* logins of a source over its budget: valid credentials
 * always pass, so one bad device behind a NAT locks out nobody else.
 */
export class FailureLimiter {
  private current = new Map<string, number>();
  private previous = new Map<string, number>();
  private windowStart: number;

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {
    this.windowStart = now();
  }

  blocked(address: string): boolean {
    return this.recent(address) >= this.perMinute;
  }

  fail(address: string): void {
    this.rotate();
    const key = this.current.has(address) || this.current.size < MAX_ADDRESSES ? address : OVERFLOW;
    this.current.set(key, (this.current.get(key) ?? 0) + 1);
  }

  /** Failures of the last minute (an estimate at the edges of the window). */
  recent(address: string): number {
    this.rotate();
    const key = this.current.has(address) || this.previous.has(address) ? address : this.current.size >= MAX_ADDRESSES ? OVERFLOW : address;
    const covered = 1 - (this.now() - this.windowStart) / WINDOW_MS;
    return (this.previous.get(key) ?? 0) * covered + (this.current.get(key) ?? 0);
  }

  get addresses(): number {
    return this.current.size + this.previous.size;
  }

  private rotate(): void {
    const elapsed = this.now() - this.windowStart;
    if (elapsed < WINDOW_MS) return;
    this.previous = elapsed < 2 * WINDOW_MS ? this.current : new Map();
    this.current = new Map();
    this.windowStart += Math.floor(elapsed / WINDOW_MS) * WINDOW_MS;
  }
}
