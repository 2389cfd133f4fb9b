import { firstAnswer } from '../../bench/lib/first-answer.js';

const opts = { everyMs: 2, maxInFlight: 4, deadlineMs: 2_000, what: 'the answer' };

describe('firstAnswer (the benchmarks’ probe loop)', () => {
  test('an attempt stalled on its timeout does not hide a later attempt’s answer', async () => {
    let calls = 0;
    let stalledSettled = false;
    const attempt = () => {
      calls++;
      if (calls === 1) return new Promise<boolean>((r) => setTimeout(() => ((stalledSettled = true), r(false)), 1_000));
      return Promise.resolve(calls >= 3);
    };
    await firstAnswer(attempt, opts);
    expect(stalledSettled).toBe(false);
  });

  test('never more than maxInFlight attempts at once; rejects at the deadline naming what it waited for', async () => {
    let inFlight = 0;
    let most = 0;
    const attempt = () => {
      inFlight++;
      most = Math.max(most, inFlight);
      return new Promise<boolean>((r) => setTimeout(() => (inFlight--, r(false)), 30));
    };
    await expect(firstAnswer(attempt, { ...opts, deadlineMs: 200 })).rejects.toThrow('timed out after 0.2 s waiting for the answer');
    expect(most).toBe(4);
  });

  test('a failed attempt counts as no answer, and nothing starts once answered', async () => {
    let calls = 0;
    const attempt = () => (++calls < 3 ? Promise.reject(new Error('ECONNREFUSED')) : Promise.resolve(true));
    await firstAnswer(attempt, opts);
    const atAnswer = calls;
    await new Promise((r) => setTimeout(r, 30));
    expect(atAnswer).toBe(3);
    expect(calls).toBe(3);
  });
});
