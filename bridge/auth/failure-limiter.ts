/**
 * Counts failed logins per source address in a sliding minute. Past the limit an address is
 * refused without checking its credentials, so guessing secrets is slow and cheap to refuse.
 */
export class FailureLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {}

  blocked(address: string): boolean {
    return this.recent(address).length >= this.perMinute;
  }

  fail(address: string): void {
    const list = this.recent(address);
    list.push(this.now());
    this.failures.set(address, list);
    if (this.failures.size > 100_000) this.sweep();
  }

  private recent(address: string): number[] {
    const since = this.now() - 60_000;
    return (this.failures.get(address) ?? []).filter((t) => t > since);
  }

  private sweep(): void {
    for (const address of this.failures.keys()) if (this.recent(address).length === 0) this.failures.delete(address);
  }
}
