/** Exponential backoff with full jitter, so many pods reconnecting do not retry in lock step. */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly initialMs = 100,
    private readonly maxMs = 5_000,
  ) {}

  next(): number {
    const ceiling = Math.min(this.maxMs, this.initialMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  }

  reset(): void {
    this.attempt = 0;
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}

export type RetryOutcome = 'done' | 'not-wanted' | 'gave-up';

export interface RetryWhileOptions {
  /** Checked before every retry: once false, the work is no longer needed (its client left). */
  stillWanted: () => boolean;
  giveUpAfterMs: number;
  initialMs?: number;
  maxMs?: number;
  /** A failed attempt that will be tried again after `retryInMs`. */
  onRetry?: (err: Error, retryInMs: number) => void;
}

/**
 * Runs `work` until it succeeds, with jittered backoff, while it is still wanted: for a store
 * write that a connected client's routing depends on, where a refusal (a Redis node reconnecting,
 * out of memory for a moment) would otherwise leave the client connected but unreachable.
 * The last error of a `gave-up` is in `error`.
 */
export async function retryWhile(work: () => Promise<unknown>, options: RetryWhileOptions): Promise<{ outcome: RetryOutcome; error?: Error }> {
  const backoff = new Backoff(options.initialMs ?? 50, options.maxMs ?? 2_000);
  const giveUpAt = Date.now() + options.giveUpAfterMs;
  for (;;) {
    try {
      await work();
      return { outcome: 'done' };
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      const wait = backoff.next();
      if (!options.stillWanted()) return { outcome: 'not-wanted', error };
      if (Date.now() + wait > giveUpAt) return { outcome: 'gave-up', error };
      options.onRetry?.(error, wait);
      await sleep(wait);
      if (!options.stillWanted()) return { outcome: 'not-wanted', error };
    }
  }
}
