/** How far sends to one topic are coalesced. */
export interface BatchLimits {
  /** Batch requests of one topic in flight at once; a message arriving below it goes at once. */
  maxInFlight: number;
  maxMessages: number;
  maxBytes: number;
}

interface Pending<M> {
  message: M;
  bytes: number;
  resolve(): void;
  reject(err: unknown): void;
}

interface Lane<M> {
  pending: Pending<M>[];
  inFlight: number;
}

/**
 * Coalesces sends to one key (a RocketMQ topic) into batch requests, Nagle-free: a message is
 * sent at once while fewer than `maxInFlight` batches of its key are out, so an idle bridge
 * adds no delay; under load, what queued meanwhile goes in the next batch. One request per
 * batch instead of one per message is what saves the client's and the broker's CPU. A batch
 * succeeds or fails as a whole (the broker stores it atomically), and so do its messages.
 */
export class SendBatcher<M> {
  private readonly lanes = new Map<string, Lane<M>>();

  constructor(
    private readonly sendBatch: (key: string, messages: M[]) => Promise<void>,
    private readonly sizeOf: (message: M) => number,
    private readonly limits: BatchLimits,
    private readonly onBatch: (size: number) => void = () => undefined,
    /** A batch refused for good is sent again message by message, so that only the bad message fails. */
    private readonly isPermanent: (err: unknown) => boolean = () => false,
  ) {}

  send(key: string, message: M): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let lane = this.lanes.get(key);
      if (!lane) this.lanes.set(key, (lane = { pending: [], inFlight: 0 }));
      lane.pending.push({ message, bytes: this.sizeOf(message), resolve, reject });
      this.pump(key, lane);
    });
  }

  private pump(key: string, lane: Lane<M>): void {
    while (lane.inFlight < this.limits.maxInFlight && lane.pending.length > 0) {
      const batch = this.take(lane);
      lane.inFlight++;
      this.onBatch(batch.length);
      this.dispatch(key, batch).finally(() => {
        lane.inFlight--;
        if (lane.inFlight === 0 && lane.pending.length === 0) this.lanes.delete(key);
        else this.pump(key, lane);
      });
    }
  }

  /** The oldest pending messages within the limits; always at least one. */
  private take(lane: Lane<M>): Pending<M>[] {
    let count = 0;
    let bytes = 0;
    for (const p of lane.pending) {
      if (count > 0 && (count === this.limits.maxMessages || bytes + p.bytes > this.limits.maxBytes)) break;
      count++;
      bytes += p.bytes;
    }
    return lane.pending.splice(0, count);
  }

  private async dispatch(key: string, batch: Pending<M>[]): Promise<void> {
    try {
      await this.sendBatch(key, batch.map((p) => p.message));
      for (const p of batch) p.resolve();
    } catch (err) {
      if (batch.length > 1 && this.isPermanent(err)) return this.oneByOne(key, batch);
      for (const p of batch) p.reject(err);
    }
  }

  private async oneByOne(key: string, batch: Pending<M>[]): Promise<void> {
    await Promise.all(
      batch.map((p) =>
        this.sendBatch(key, [p.message]).then(
          () => p.resolve(),
          (err: unknown) => p.reject(err),
        ),
      ),
    );
  }
}
