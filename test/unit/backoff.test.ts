import { retryWhile } from '../../bridge/util/backoff.js';

/** Work that fails `failures` times, then succeeds. */
function failing(failures: number) {
  let calls = 0;
  return {
    work: async () => {
      calls++;
      if (calls <= failures) throw new Error(`refused ${calls}`);
    },
    calls: () => calls,
  };
}

describe('retryWhile', () => {
  test('retries refused work until it is done, reporting each retry', async () => {
    const { work, calls } = failing(3);
    const retries: string[] = [];
    const result = await retryWhile(work, { stillWanted: () => true, giveUpAfterMs: 10_000, initialMs: 1, maxMs: 2, onRetry: (err) => retries.push(err.message) });
    expect(result).toEqual({ outcome: 'done' });
    expect(calls()).toBe(4);
    expect(retries).toEqual(['refused 1', 'refused 2', 'refused 3']);
  });

  test('stops as soon as the work is no longer wanted, with the last error', async () => {
    const { work, calls } = failing(100);
    let wanted = true;
    const result = await retryWhile(work, { stillWanted: () => wanted, giveUpAfterMs: 10_000, initialMs: 1, maxMs: 2, onRetry: () => (wanted = calls() < 2) });
    expect(result.outcome).toBe('not-wanted');
    expect(result.error?.message).toBe('refused 2');
    expect(calls()).toBe(2);
  });

  test('gives up when the next try would come after the deadline', async () => {
    const { work } = failing(Number.POSITIVE_INFINITY);
    const result = await retryWhile(work, { stillWanted: () => true, giveUpAfterMs: 0, initialMs: 50, maxMs: 50 });
    expect(result.outcome).toBe('gave-up');
    expect(result.error?.message).toBe('refused 1');
  });

  test('a non-Error rejection becomes an Error', async () => {
    const result = await retryWhile(() => Promise.reject('nope'), { stillWanted: () => false, giveUpAfterMs: 0 });
    expect(result).toEqual({ outcome: 'not-wanted', error: new Error('nope') });
  });
});
