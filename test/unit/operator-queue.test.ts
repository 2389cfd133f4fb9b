import { WorkQueue } from '../../operator/controller/queue.js';
import { ItemBackoff, TokenBucket } from '../../operator/controller/rate-limit.js';

describe('WorkQueue', () => {
  test('a key added many times while waiting is handed out once', async () => {
    const q = new WorkQueue();
    for (let i = 0; i < 5; i++) q.add('a');
    q.add('b');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    expect(q.length).toBe(0);
  });

  test('a key added while being processed comes back once, after done', async () => {
    const q = new WorkQueue();
    q.add('a');
    const key = (await q.get())!;
    q.add('a');
    q.add('a');
    expect(q.length).toBe(0); // not handed out twice at once
    q.done(key);
    expect(q.length).toBe(1);
    expect(await q.get()).toBe('a');
  });

  test('a waiting worker gets the next key at once', async () => {
    const q = new WorkQueue();
    const next = q.get();
    q.add('x');
    expect(await next).toBe('x');
  });

  test('shutDown releases waiting workers with undefined', async () => {
    const q = new WorkQueue();
    const next = q.get();
    q.shutDown();
    expect(await next).toBeUndefined();
  });

  test('addRateLimited backs off per key and forget resets it', () => {
    const q = new WorkQueue(new ItemBackoff(100, 1_000), new TokenBucket(1_000, 1_000));
    expect([q.addRateLimited('a'), q.addRateLimited('a'), q.addRateLimited('a')]).toEqual([100, 200, 400]);
    expect(q.addRateLimited('b')).toBe(100);
    q.forget('a');
    expect(q.addRateLimited('a')).toBe(100);
    q.shutDown();
  });
});

describe('rate limits', () => {
  test.each([
    [0, 100],
    [1, 200],
    [4, 1_600],
    [20, 5_000],
  ])('after %i failures the delay is %i ms', (failures, delay) => {
    const b = new ItemBackoff(100, 5_000);
    for (let i = 0; i < failures; i++) b.when('k');
    expect(b.when('k')).toBe(delay);
  });

  test('the token bucket lets a burst through, then spaces retries at its rate', () => {
    let now = 0;
    const bucket = new TokenBucket(10, 3, () => now);
    expect([bucket.reserve(), bucket.reserve(), bucket.reserve()]).toEqual([0, 0, 0]);
    expect(bucket.reserve()).toBe(100);
    expect(bucket.reserve()).toBe(200);
    now = 10_000;
    expect(bucket.reserve()).toBe(0);
  });
});
