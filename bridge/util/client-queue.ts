/**
 * Runs the asynchronous steps of one client one after another, clients in parallel. The uplink
 * uses it for a device's sends (aedes authorizes the packets of one socket read concurrently,
 * but the contract promises each device's upstream order); the session persistence for a
 * client's subscription changes.
 */
export class PerClientQueue {
  private readonly tails = new Map<string, Promise<void>>();

  get active(): number {
    return this.tails.size;
  }

  run(clientId: string, task: () => Promise<void>): Promise<void> {
    const previous = this.tails.get(clientId) ?? Promise.resolve();
    const next = previous.then(task, task);
    const tail = next.catch(() => undefined);
    this.tails.set(clientId, tail);
    void tail.then(() => {
      if (this.tails.get(clientId) === tail) this.tails.delete(clientId);
    });
    return next;
  }

  /** Resolves when every queued task has settled (used by graceful shutdown). */
  async drain(): Promise<void> {
    while (this.tails.size > 0) await Promise.all(this.tails.values());
  }
}
