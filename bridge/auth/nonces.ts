/**
 * Nonces of signed token API requests seen in the timestamp window: a request is accepted once.
 * Several pods must share them (a replay may reach another pod), so with a session store they
 * live in Redis; without one, in this process (a single replica).
 */
export interface NonceStore {
  /** True the first time this access key uses this nonce within `ttlSeconds`; throws when it cannot tell. */
  firstUse(accessKeyId: string, nonce: string, ttlSeconds: number): Promise<boolean>;
}

/** Beyond this many remembered nonces a pod refuses new requests until old ones expire. */
const MAX_REMEMBERED = 1_000_000;

export class MemoryNonces implements NonceStore {
  private readonly seen = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  async firstUse(accessKeyId: string, nonce: string, ttlSeconds: number): Promise<boolean> {
    const key = `${accessKeyId}\n${nonce}`;
    const now = this.now();
    const until = this.seen.get(key);
    if (until !== undefined && until > now) return false;
    if (this.seen.size >= MAX_REMEMBERED) this.sweep(now);
    if (this.seen.size >= MAX_REMEMBERED) throw new Error('too many requests in the replay window');
    this.seen.set(key, now + ttlSeconds * 1000);
    return true;
  }

  /** Insertion order is expiry order (one ttl for all), so the expired ones are at the front. */
  private sweep(now: number): void {
    for (const [key, until] of this.seen) {
      if (until > now) return;
      this.seen.delete(key);
    }
  }
}
