import { FailureLimiter } from '../../bridge/auth/failure-limiter.js';

test('a source is over its budget after perMinute failures in the sliding minute, and recovers', () => {
  let t = 0;
  const limiter = new FailureLimiter(3, () => t);
  for (let i = 0; i < 3; i++) limiter.fail('a');
  expect([limiter.blocked('a'), limiter.blocked('b')]).toEqual([true, false]);
  t = 90_000; // half of the last minute still in the window: 1.5 failures
  expect(limiter.blocked('a')).toBe(false);
  limiter.fail('a');
  limiter.fail('a');
  expect(limiter.blocked('a')).toBe(true); // 1.5 + 2
  t = 250_000;
  expect(limiter.recent('a')).toBe(0);
});

test('memory stays bounded however many addresses fail; past the bound new ones share one budget', () => {
  let t = 0;
  const limiter = new FailureLimiter(10, () => t);
  for (let i = 0; i < 300_000; i++) limiter.fail(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`);
  expect(limiter.addresses).toBeLessThanOrEqual(200_001);
  expect(limiter.blocked('192.0.2.1')).toBe(true); // an address past the bound: the shared budget is spent
  t = 130_000;
  limiter.fail('x');
  expect(limiter.addresses).toBe(1);
});
