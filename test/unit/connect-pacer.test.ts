import { jest } from '@jest/globals';
import { PassThrough } from 'node:stream';
import { ConnectPacer } from '../../bridge/mqtt/connect-pacer.js';

beforeEach(() => jest.useFakeTimers({ now: 0 }));
afterEach(() => jest.useRealTimers());

function setup(connectsPerSecond: number, maxWaiting = 100) {
  const started: number[] = [];
  const waiting: number[] = [];
  let refused = 0;
  const pacer = new ConnectPacer({ connectsPerSecond, maxWaiting }, () => refused++, (n) => waiting.push(n));
  const streams: PassThrough[] = [];
  const arrive = (n: number) => {
    for (let i = 0; i < n; i++) {
      const id = streams.length;
      const stream = new PassThrough();
      streams.push(stream);
      pacer.admit(stream, () => started.push(id));
    }
  };
  return { pacer, started, waiting, streams, arrive, refused: () => refused };
}

test('without a rate every connection starts at once', () => {
  const { started, arrive } = setup(0);
  arrive(5_000);
  expect(started).toHaveLength(5_000);
});

test('a burst of one second\'s worth starts at once; the rest follow at the rate, in arrival order', () => {
  const { started, waiting, arrive, pacer } = setup(100, 1_000);
  arrive(250);
  expect(started).toHaveLength(100);
  expect(pacer.waiting).toBe(150);
  jest.advanceTimersByTime(500);
  expect(started.length).toBeGreaterThanOrEqual(149);
  expect(started.length).toBeLessThanOrEqual(151);
  jest.advanceTimersByTime(1_000);
  expect(started).toEqual(Array.from({ length: 250 }, (_, i) => i));
  expect([pacer.waiting, waiting.at(-1)]).toEqual([0, 0]);
});

test('past maxWaiting a connection is closed at once and counted', () => {
  const { started, streams, arrive, refused } = setup(10, 5);
  arrive(20);
  expect([started.length, refused()]).toEqual([10, 5]);
  expect(streams.slice(15).every((s) => s.destroyed)).toBe(true);
  expect(streams.slice(0, 15).some((s) => s.destroyed)).toBe(false);
});

test('a connection that closes or fails while waiting is never started, and its error is handled', () => {
  const { started, streams, arrive } = setup(1);
  arrive(3);
  streams[1]!.destroy();
  streams[2]!.emit('error', new Error('ECONNRESET')); // no other listener: would throw if unhandled
  jest.advanceTimersByTime(3_000);
  expect(started).toEqual([0]);
});

test('closing the pacer closes the waiting connections', () => {
  const { pacer, started, streams, arrive } = setup(1);
  arrive(3);
  pacer.close();
  jest.advanceTimersByTime(3_000);
  expect(started).toEqual([0]);
  expect(streams.slice(1).every((s) => s.destroyed)).toBe(true);
});
