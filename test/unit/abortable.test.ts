import { unlessAborted } from '../../bridge/util/abortable.js';

const never = () => new Promise<string>(() => undefined);

describe('unlessAborted', () => {
  test('gives the work’s result while the signal is not aborted', async () => {
    await expect(unlessAborted(Promise.resolve('batch'), new AbortController().signal)).resolves.toBe('batch');
  });

  test('passes the work’s error on while the signal is not aborted', async () => {
    await expect(unlessAborted(Promise.reject(new Error('UNAVAILABLE')), new AbortController().signal)).rejects.toThrow('UNAVAILABLE');
  });

  test('ends with undefined when the signal aborts, though the work never settles (a long poll in flight)', async () => {
    const stop = new AbortController();
    const pending = unlessAborted(never(), stop.signal);
    stop.abort();
    await expect(pending).resolves.toBeUndefined();
  });

  test('ends at once when the signal was aborted before', async () => {
    const stop = new AbortController();
    stop.abort();
    await expect(unlessAborted(never(), stop.signal)).resolves.toBeUndefined();
  });

  test('drops a result or an error that comes after the abort', async () => {
    const stop = new AbortController();
    let fail!: (e: Error) => void;
    const late = new Promise<string>((_, reject) => (fail = reject));
    const pending = unlessAborted(late, stop.signal);
    stop.abort();
    fail(new Error('late'));
    await expect(pending).resolves.toBeUndefined();
  });

  test('leaves no listener on the signal once the work settled', async () => {
    const stop = new AbortController();
    let removed = 0;
    const remove = stop.signal.removeEventListener.bind(stop.signal);
    stop.signal.removeEventListener = ((...args: Parameters<typeof remove>) => (removed++, remove(...args))) as typeof remove;
    await unlessAborted(Promise.resolve(1), stop.signal);
    expect(removed).toBe(1);
  });
});
