/**
 * Time until a repeated probe first gets the answer it waits for, with attempts overlapping.
 *
 * A loop that awaits each attempt before the next (probe, sleep, probe) measures the probe as
 * well as the thing probed: one attempt that stalls until its timeout (a connection slowed by a
 * loaded machine) hides every answer the target would have given meanwhile, and the clock runs on
 * by up to that timeout. Here a new attempt starts every `everyMs` whatever the earlier ones are
 * doing (at most `maxInFlight` at once, so a dead target is not flooded), and the first attempt to
 * answer `true` ends the wait at the moment of its answer.
 */
export interface FirstAnswerOptions {
  everyMs: number;
  maxInFlight: number;
  /** Give up (reject) when no attempt has answered true by then. */
  deadlineMs: number;
  what: string;
}

export function firstAnswer(attempt: () => Promise<boolean>, opts: FirstAnswerOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    let inFlight = 0;
    let done = false;
    const finish = (error?: Error) => {
      if (done) return;
      done = true;
      clearInterval(ticker);
      clearTimeout(deadline);
      if (error) reject(error);
      else resolve();
    };
    const start = () => {
      if (done || inFlight >= opts.maxInFlight) return;
      inFlight++;
      attempt()
        .catch(() => false)
        .then((answered) => {
          inFlight--;
          if (answered) finish();
        });
    };
    const ticker = setInterval(start, opts.everyMs);
    const deadline = setTimeout(() => finish(new Error(`timed out after ${opts.deadlineMs / 1000} s waiting for ${opts.what}`)), opts.deadlineMs);
    start();
  });
}
