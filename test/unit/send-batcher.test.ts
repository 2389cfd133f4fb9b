import { SendBatcher } from '../../bridge/rocketmq/send-batcher.js';

interface Call {
  key: string;
  messages: string[];
  settle(err?: Error): void;
}

/** A batch sender whose requests stay open until the test settles them. */
function harness(limits = { maxInFlight: 2, maxMessages: 3, maxBytes: 100 }) {
  const calls: Call[] = [];
  const sizes: number[] = [];
  const batcher = new SendBatcher<string>(
    (key, messages) =>
      new Promise<void>((resolve, reject) => {
        calls.push({ key, messages, settle: (err) => (err ? reject(err) : resolve()) });
      }),
    (m) => m.length,
    limits,
    (n) => sizes.push(n),
  );
  const outcomes = new Map<string, string>();
  const send = (key: string, m: string) =>
    batcher.send(key, m).then(
      () => void outcomes.set(m, 'ok'),
      (err: Error) => void outcomes.set(m, err.message),
    );
  return { calls, sizes, outcomes, send };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('send batcher', () => {
  test('below the in-flight limit every message goes at once, alone', () => {
    const h = harness();
    void h.send('T', 'a');
    void h.send('T', 'b');
    expect(h.calls.map((c) => c.messages)).toEqual([['a'], ['b']]);
  });

  test('what queues while the limit is reached goes in the next batch, oldest first, up to maxMessages', async () => {
    const h = harness();
    for (const m of ['a', 'b', 'c', 'd', 'e', 'f', 'g']) void h.send('T', m);
    expect(h.calls).toHaveLength(2);
    h.calls[0]!.settle();
    await tick();
    expect(h.calls.map((c) => c.messages)).toEqual([['a'], ['b'], ['c', 'd', 'e']]);
    h.calls[1]!.settle();
    await tick();
    expect(h.calls[3]!.messages).toEqual(['f', 'g']);
    expect(h.sizes).toEqual([1, 1, 3, 2]);
    expect([...h.outcomes]).toEqual([['a', 'ok'], ['b', 'ok']]);
  });

  test('a batch never exceeds maxBytes, but a single larger message still goes', async () => {
    const h = harness({ maxInFlight: 1, maxMessages: 10, maxBytes: 10 });
    void h.send('T', 'first');
    for (const m of ['aaaa', 'bbbb', 'cccc', 'x'.repeat(30)]) void h.send('T', m);
    h.calls[0]!.settle();
    await tick();
    expect(h.calls[1]!.messages).toEqual(['aaaa', 'bbbb']);
    h.calls[1]!.settle();
    await tick();
    expect(h.calls[2]!.messages).toEqual(['cccc']);
    h.calls[2]!.settle();
    await tick();
    expect(h.calls[3]!.messages).toEqual(['x'.repeat(30)]);
  });

  test('a failed batch fails each of its messages, and only those', async () => {
    const h = harness({ maxInFlight: 1, maxMessages: 10, maxBytes: 100 });
    void h.send('T', 'a');
    void h.send('T', 'b');
    void h.send('T', 'c');
    h.calls[0]!.settle();
    await tick();
    h.calls[1]!.settle(new Error('broker busy'));
    await tick();
    expect(Object.fromEntries(h.outcomes)).toEqual({ a: 'ok', b: 'broker busy', c: 'broker busy' });
    void h.send('T', 'd');
    expect(h.calls[2]!.messages).toEqual(['d']);
  });

  test('topics are batched apart and never wait for each other', () => {
    const h = harness({ maxInFlight: 1, maxMessages: 10, maxBytes: 100 });
    void h.send('T', 'a');
    void h.send('U', 'b');
    void h.send('T', 'c');
    expect(h.calls.map((c) => [c.key, c.messages])).toEqual([
      ['T', ['a']],
      ['U', ['b']],
    ]);
  });
});

test('a batch refused for good is sent again message by message: only the bad message fails', async () => {
  class Permanent extends Error {}
  const sent: string[][] = [];
  const batcher = new SendBatcher<string>(
    async (_key, messages) => {
      sent.push(messages);
      if (messages.some((m) => m.includes('\u0001'))) throw new Permanent('the value of property cannot contain control character');
    },
    (m) => m.length,
    { maxInFlight: 1, maxMessages: 10, maxBytes: 1000 },
    () => undefined,
    (err) => err instanceof Permanent,
  );
  const outcomes = await Promise.all(['first', 'a', 'bad\u0001', 'b'].map((m) => batcher.send('T', m).then(() => 'ok', (err: Error) => err.message)));
  expect(outcomes).toEqual(['ok', 'ok', 'the value of property cannot contain control character', 'ok']);
  expect(sent).toEqual([['first'], ['a', 'bad\u0001', 'b'], ['a'], ['bad\u0001'], ['b']]);
});
