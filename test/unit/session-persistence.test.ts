import { pino } from 'pino';
import { MemoryIncomingRecords } from '../../bridge/mqtt/memory-persistence.js';
import { SessionPersistence, type InnerPersistence, type StoredSubscription } from '../../bridge/mqtt/session-persistence.js';
import { BridgeMetrics } from '../../bridge/observability/metrics.js';

/** A store that records the subscription writes it gets; each write takes `writeMs`. */
function fakeStore(writeMs = 5, depths: Record<string, number> = {}) {
  const writes: { op: string; clientId: string; topics: string[]; start: number; end: number }[] = [];
  const enqueued: string[] = [];
  let clock = 0;
  const write = (op: string) => async (client: { id: string }, subs: (StoredSubscription | string)[]) => {
    const start = ++clock;
    await new Promise((r) => setTimeout(r, writeMs));
    writes.push({ op, clientId: client.id, topics: subs.map((s) => (typeof s === 'string' ? s : s.topic)), start, end: ++clock });
  };
  const inner = {
    addSubscriptions: write('add'),
    removeSubscriptions: write('remove'),
    cleanSubscriptions: async () => undefined,
    subscriptionsByClient: async () => [{ topic: 'a/restored', qos: 1 }],
    queueDepths: async (ids: readonly string[]) => ids.map((id) => depths[id] ?? 0),
    outgoingEnqueueCombi: async (subs: { clientId: string }[]) => void enqueued.push(...subs.map((s) => s.clientId)),
    streamWill: async function* () {
      yield { topic: 'bound/will', clientId: 'c1', brokerId: 'b' };
      yield { topic: 'gone/will', clientId: 'c2', brokerId: 'b' };
    },
    delWill: async () => null,
  } as unknown as InnerPersistence;
  return { inner, writes, enqueued };
}

function persistence(inner: InnerPersistence, maxQueuedMessages = 10) {
  const metrics = new BridgeMetrics();
  const p = new SessionPersistence({
    inner,
    incoming: new MemoryIncomingRecords(2),
    maxQueuedMessages,
    willAllowed: (will) => (will.topic.startsWith('bound/') ? undefined : 'unbound'),
    metrics,
    log: pino({ level: 'silent' }),
  });
  return { p, metrics };
}

/** What aedes does for one SUBSCRIBE: authorize every filter in one loop, then store once per granted filter with the whole packet. */
async function subscribe(p: SessionPersistence, clientId: string, filters: { topic: string; granted: boolean }[]) {
  const subs = filters.map((f) => ({ topic: f.topic, qos: 1 }));
  const calls: Promise<void>[] = [];
  subs.forEach((sub, i) => {
    if (!filters[i]!.granted) return;
    p.grant(sub);
    calls.push(p.addSubscriptions({ id: clientId }, subs));
  });
  await Promise.all(calls);
}

describe('SessionPersistence: subscriptions', () => {
  test('stores only the granted filters of a SUBSCRIBE, in one write however many filters it has', async () => {
    const { inner, writes } = fakeStore();
    const { p } = persistence(inner);
    await subscribe(p, 'c', [
      { topic: 'a/1', granted: true },
      { topic: '$mqbridge/p2p/+/#', granted: false },
      { topic: 'a/2', granted: true },
      { topic: '$SYS/#', granted: false },
      { topic: 'a/3', granted: true },
    ]);
    expect(writes.map((w) => [w.op, w.topics])).toEqual([['add', ['a/1', 'a/2', 'a/3']]]);
  });

  test('a SUBSCRIBE whose filters are all refused writes nothing', async () => {
    const { inner, writes } = fakeStore();
    const { p } = persistence(inner);
    await subscribe(p, 'c', [{ topic: '$SYS/#', granted: false }]);
    expect(writes).toEqual([]);
  });

  test('changes of one client never overlap (the Redis store waits for each under one key); other clients run alongside', async () => {
    const { inner, writes } = fakeStore(10);
    const { p } = persistence(inner);
    await Promise.all([
      subscribe(p, 'c', [{ topic: 'a/1', granted: true }, { topic: 'a/2', granted: true }]),
      subscribe(p, 'c', [{ topic: 'a/1', granted: true }, { topic: 'a/3', granted: true }]),
      p.removeSubscriptions({ id: 'c' }, ['a/1']),
      subscribe(p, 'other', [{ topic: 'a/1', granted: true }]),
    ]);
    const mine = writes.filter((w) => w.clientId === 'c');
    expect(mine).toHaveLength(3);
    for (let i = 1; i < mine.length; i++) expect(mine[i]!.start).toBeGreaterThan(mine[i - 1]!.end);
    const other = writes.find((w) => w.clientId === 'other')!;
    expect(other.start).toBeLessThan(mine[mine.length - 1]!.end);
  });

  test('filters from the store are marked as restored', async () => {
    const { inner } = fakeStore();
    const { p } = persistence(inner);
    const [restored] = await p.subscriptionsByClient({ id: 'c' });
    expect(p.isRestored(restored!)).toBe(true);
    expect(p.isRestored({ topic: 'a/restored', qos: 1 })).toBe(false);
  });
});

describe('SessionPersistence: the P2P inbox of a persistent session', () => {
  const inboxOf = (id: string) => ({ topic: `$inbox/${id}/#`, qos: 2 });
  function withInbox(stored: StoredSubscription[], refuse = false) {
    const { inner, writes } = fakeStore(1);
    inner.subscriptionsByClient = async () => stored.map((s) => ({ ...s }));
    if (refuse) inner.addSubscriptions = async () => Promise.reject(new Error('OOM command not allowed'));
    const metrics = new BridgeMetrics();
    const p = new SessionPersistence({ inner, incoming: new MemoryIncomingRecords(2), maxQueuedMessages: 10, willAllowed: () => undefined, inboxOf, metrics, log: pino({ level: 'silent' }) });
    return { p, writes, metrics };
  }

  test.each([
    ['a new session', [], [['add', ['$inbox/c/#']]], []],
    ['a session with filters but no inbox', [{ topic: 'a/1', qos: 1 }], [['add', ['$inbox/c/#']]], ['a/1']],
    ['a session that has its inbox', [{ topic: '$inbox/c/#', qos: 2 }], [], ['$inbox/c/#']],
  ])('%s: the inbox is stored before aedes has the stored filters; only those are restored', async (_case, stored, wantWrites, wantRestored) => {
    const { p, writes } = withInbox(stored);
    const restored = await p.subscriptionsByClient({ id: 'c' });
    expect(writes.map((w) => [w.op, w.topics])).toEqual(wantWrites);
    // Returned as stored: a session of which nothing was stored stays new to the device (session present = 0).
    expect(restored.map((s) => s.topic)).toEqual(wantRestored);
  });

  test('an inbox the store refuses fails the CONNECT (the rejection), counted', async () => {
    const { p, metrics } = withInbox([], true);
    await expect(p.subscriptionsByClient({ id: 'c' })).rejects.toThrow('OOM');
    const counted = (await metrics.registry.getSingleMetric('mqbridge_session_store_degraded_total')!.get()).values;
    expect(counted).toEqual([expect.objectContaining({ labels: { operation: 'p2p_inbox_store' }, value: 1 })]);
  });
});

describe('SessionPersistence: offline queues, QoS 2 records, wills', () => {
  test('a full queue loses the message for that session only, counted', async () => {
    const { inner, enqueued } = fakeStore(5, { full: 10, half: 5 });
    const { p, metrics } = persistence(inner, 10);
    await p.outgoingEnqueueCombi(
      ['full', 'half', 'empty'].map((clientId) => ({ clientId, topic: 'a/#', qos: 1 })),
      { topic: 'a/x' },
    );
    expect(enqueued).toEqual(['half', 'empty']);
    expect((await metrics.offlineQueueDropped.get()).values[0]!.value).toBe(1);
  });

  test('QoS 2 records: one per open flow, bounded per client, gone with PUBREL or the session', async () => {
    const { inner } = fakeStore();
    const { p } = persistence(inner);
    const c = { id: 'c' };
    await p.incomingStorePacket(c, { topic: 't', messageId: 1 });
    await p.incomingStorePacket(c, { topic: 't', messageId: 2 });
    await expect(p.incomingStorePacket(c, { topic: 't', messageId: 3 })).rejects.toThrow(/awaiting PUBREL/);
    await expect(p.incomingGetPacket(c, { topic: 't', messageId: 1 })).resolves.toEqual({ messageId: 1 });
    await p.incomingDelPacket(c, { topic: 't', messageId: 1 });
    await expect(p.incomingGetPacket(c, { topic: 't', messageId: 1 })).rejects.toThrow('no such packet');
    await p.cleanIncoming(c);
    await expect(p.incomingGetPacket(c, { topic: 't', messageId: 2 })).rejects.toThrow('no such packet');
  });

  test('the dead-pod will sweep skips (and deletes) wills whose topic is no longer bound', async () => {
    const { inner } = fakeStore();
    const { p, metrics } = persistence(inner);
    const seen: unknown[] = [];
    for await (const will of p.streamWill({})) seen.push((will as { topic: string }).topic);
    expect(seen).toEqual(['bound/will']);
    const refused = (await metrics.refusals.get()).values.find((v) => v.labels.reason === 'will_not_allowed');
    expect(refused?.value).toBe(1);
  });
});
