/**
 * Revoked token ids (RevokeToken). A token is self-contained, so revoking it means every pod
 * must learn its id and refuse it until it would have expired anyway; after that the entry is
 * dropped. `isRevoked` answers from memory, because it runs on every CONNECT.
 */
export interface RevocationList {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Whether the list has been read at least once; until then, revocations are unknown. */
  readonly synced: boolean;
  isRevoked(id: string): boolean;
  /** Records a revocation for every pod; `expiresAt` (unix seconds) bounds how long it is kept. */
  revoke(id: string, expiresAt: number): Promise<void>;
  /** Called once for each id newly known as revoked, whichever pod revoked it. */
  onRevoked(listener: (id: string) => void): void;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** Revoked ids and their expiry, in memory: what a pod knows. */
export class RevokedIds {
  private readonly ids = new Map<string, number>();
  private readonly listeners: ((id: string) => void)[] = [];

  has(id: string): boolean {
    return this.ids.has(id);
  }

  get size(): number {
    return this.ids.size;
  }

  /** Adds an id; tells the listeners when it is new. */
  add(id: string, expiresAt: number): void {
    if (this.ids.has(id)) return;
    this.ids.set(id, expiresAt);
    for (const listener of this.listeners) listener(id);
  }

  /** Drops ids whose tokens have expired: they are refused as expired from now on. */
  prune(now = nowSeconds()): void {
    for (const [id, exp] of this.ids) if (exp <= now) this.ids.delete(id);
  }

  onAdded(listener: (id: string) => void): void {
    this.listeners.push(listener);
  }
}

/** A single pod's list: enough without a session store, since there is no other pod to tell. */
export class MemoryRevocationList implements RevocationList {
  private readonly ids = new RevokedIds();
  private timer: NodeJS.Timeout | undefined;
  readonly synced = true;

  start(): Promise<void> {
    this.timer = setInterval(() => this.ids.prune(), 60_000);
    this.timer.unref();
    return Promise.resolve();
  }

  stop(): Promise<void> {
    clearInterval(this.timer);
    return Promise.resolve();
  }

  isRevoked(id: string): boolean {
    return this.ids.has(id);
  }

  revoke(id: string, expiresAt: number): Promise<void> {
    this.ids.add(id, expiresAt);
    return Promise.resolve();
  }

  onRevoked(listener: (id: string) => void): void {
    this.ids.onAdded(listener);
  }
}
