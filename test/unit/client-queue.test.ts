import { PerClientQueue } from '../../bridge/util/client-queue.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('PerClientQueue', () => {
  test('runs one client in order, even when later tasks are faster', async () => {
    const q = new PerClientQueue();
    const done: number[] = [];
    await Promise.all([30, 1, 10].map((ms, i) => q.run('a', async () => { await tick(ms); done.push(i); })));
    expect(done).toEqual([0, 1, 2]);
  });

  test('clients do not wait for each other', async () => {
    const q = new PerClientQueue();
    const done: string[] = [];
    const slow = q.run('a', async () => { await tick(40); done.push('a'); });
    const fast = q.run('b', async () => { await tick(1); done.push('b'); });
    await Promise.all([slow, fast]);
    expect(done).toEqual(['b', 'a']);
  });

  test('a failed task rejects its own caller only and forgets idle clients', async () => {
    const q = new PerClientQueue();
    const failing = q.run('a', async () => { throw new Error('boom'); });
    const next = q.run('a', async () => undefined);
    await expect(failing).rejects.toThrow('boom');
    await expect(next).resolves.toBeUndefined();
    await q.drain();
    expect(q.active).toBe(0);
  });
});
