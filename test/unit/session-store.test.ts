import { EventEmitter } from 'node:events';
import { parseConfig } from '../../bridge/config/load.js';
import { redisKeyPrefixOf } from '../../bridge/config/schema.js';
import type { RedisClient } from '../../bridge/redis/connection.js';
import { clusterNodesOf, redisUrlOf } from '../../bridge/redis/connection.js';
import { channelOf } from '../../bridge/redis/channels.js';
import { isP2pInboxFilter, p2pTargetOfInternal } from '../../bridge/mapping/p2p.js';
import { createRedisEmitter, decodeEnvelope, encodeEnvelope, type EmittedPacket } from '../../bridge/redis/emitter.js';
import { podKey, presenceKey } from '../../bridge/redis/presence.js';
import { expiryStep } from '../../bridge/redis/session-expiry.js';

describe('session expiry', () => {
  test.each([
    [undefined, false, 'expire'],
    ['pod-a', true, 'reschedule'],
    ['pod-a', false, 'forget-dead-pod'],
  ] as const)('client on pod %j (alive: %j) → %s', (pod, alive, step) => {
    expect(expiryStep(pod, alive)).toBe(step);
  });
});

describe('session store config', () => {
  test.each([
    [{}, undefined, undefined],
    [{ redis: { url: 'redis://r:6379' } }, undefined, 'redis://r:6379'],
    [{ redis: { url: 'redis://r:6379' } }, 'redis://:secret@s:6379', 'redis://:secret@s:6379'],
    [{ redis: {} }, 'redis://s:6379', 'redis://s:6379'],
  ])('sessionStore %j with MQBRIDGE_REDIS_URL=%j → %j', (sessionStore, env, url) => {
    const cfg = parseConfig({ sessionStore });
    expect(redisUrlOf(cfg, env ? { MQBRIDGE_REDIS_URL: env } : {})).toBe(url);
  });

  test('key prefix defaults to the bridge name', () => {
    expect(redisKeyPrefixOf(parseConfig({ bridge: { name: 'b1' }, sessionStore: { redis: {} } }))).toBe('mqbridge:b1:');
    expect(redisKeyPrefixOf(parseConfig({ sessionStore: { redis: { keyPrefix: 'x:' } } }))).toBe('x:');
  });

  test.each([
    ['redis://a:7000,redis://b:7001', [{ host: 'a', port: 7000 }, { host: 'b', port: 7001 }]],
    ['redis://:pw@a:7000,b:7001,c', [{ host: 'a', port: 7000 }, { host: 'b', port: 7001 }, { host: 'c', port: 6379 }]],
  ])('Cluster seeds of %s', (url, nodes) => {
    expect(clusterNodesOf(url)).toEqual(nodes);
  });

  test('presence keys keep a client id in one key segment', () => {
    expect(presenceKey('GID_a@@@x/y')).toBe('presence:GID_a%40%40%40x%2Fy');
    expect(podKey('pod-1')).toBe('pod:pod-1');
  });
});

/** Enough of an ioredis connection for the emitter: status, pub/sub calls, events. */
class FakeConn extends EventEmitter {
  status = 'ready';
  published: string[] = [];
  subscribed = new Set<string>();
  calls: string[] = [];
  publish(channel: string) {
    if (this.status !== 'ready') return Promise.reject(new Error('down'));
    this.published.push(channel);
    return Promise.resolve(1);
  }
  private record(call: string, channel: string, on: boolean) {
    this.calls.push(`${call} ${channel}`);
    if (on) this.subscribed.add(channel);
    else this.subscribed.delete(channel);
    return Promise.resolve(1);
  }
  failSubscribes = 0;
  subscribe = (channel: string) => {
    if (this.failSubscribes > 0 && this.failSubscribes--) return Promise.reject(new Error('refused'));
    return this.record('subscribe', channel, true);
  };
  unsubscribe = (channel: string) => this.record('unsubscribe', channel, false);
  psubscribe = (pattern: string) => this.record('psubscribe', pattern, true);
  punsubscribe = (pattern: string) => this.record('punsubscribe', pattern, false);
  disconnect() {}
}

describe('Redis emitter', () => {
  /** Which pod holds which client, as presence would say; a client named `unknowable` makes the lookup fail. */
  const podsOf = new Map([['dev-b', 'pod-b'], ['dev-a', 'pod-a']]);
  const routes = {
    podId: 'pod-a',
    targetOf: p2pTargetOfInternal,
    coversFilter: isP2pInboxFilter,
    podOf: (clientId: string) => (clientId === 'unknowable' ? Promise.reject(new Error('Redis timeout')) : Promise.resolve(podsOf.get(clientId))),
  };
  function setup(pubStatus: string) {
    const pub = new FakeConn();
    const sub = new FakeConn();
    pub.status = pubStatus;
    sub.status = pubStatus;
    const localOnly: string[] = [];
    const undecodable: string[] = [];
    const failed: string[] = [];
    const mq = createRedisEmitter({
      prefix: 'p:',
      pub: pub as unknown as RedisClient,
      sub: sub as unknown as RedisClient,
      mustBeShared: (packet) => packet.clientId === 'rocketmq',
      onLocalOnly: (packet) => localOnly.push(packet.topic),
      onUndecodable: (err) => undecodable.push(err.message),
      onSubscribeFailed: (channel) => failed.push(channel),
      routes,
    });
    const seen: string[] = [];
    return { pub, sub, mq, seen, localOnly, undecodable, failed };
  }
  type Mq = ReturnType<typeof setup>['mq'];
  const listen = (mq: Mq, filter: string, seen: string[] = []) => {
    const listener = (packet: EmittedPacket, done: () => void) => (seen.push(packet.topic), done());
    return new Promise<typeof listener>((resolve) => mq.on(filter, listener, () => resolve(listener)));
  };
  const emit = (mq: Mq, packet: EmittedPacket) => new Promise<Error | undefined>((resolve) => mq.emit(packet, resolve));
  let ids = 0;
  const envelope = (topic: string, id = `other-pod:${ids++}`) => encodeEnvelope({ id, packet: { topic } });
  const fromRedis = (sub: FakeConn, topic: string, id?: string) => sub.emit('messageBuffer', Buffer.from(channelOf('p:', topic)), envelope(topic, id));
  const tick = () => new Promise((r) => setImmediate(r));

  test.each([
    ['bnch/d2d', 'p:t:bnch'],
    ['bnch', 'p:t:bnch'],
    ['$SYS/pod-1/heartbeat', 'p:t:$SYS'],
    ['$mqbridge/p2p/dev-1/bnch/x', 'p:t:$mqbridge'],
    ['/leading', 'p:t:'],
  ])('a publish to %s travels on %s', (topic, channel) => {
    expect(channelOf('p:', topic)).toBe(channel);
  });

  test('one Redis subscription per first level, however many filters; P2P inboxes need none but the pod\'s own channel', async () => {
    const { sub, mq } = setup('ready');
    const inboxes = await Promise.all(Array.from({ length: 10_000 }, (_, i) => listen(mq, `$mqbridge/p2p/dev-${i}/#`)));
    await listen(mq, '$mqbridge/p2p/#');
    const parent = await listen(mq, 'bnch/+/x');
    await listen(mq, 'bnch/#');
    expect([...sub.subscribed].sort()).toEqual(['p:p:pod-a', 'p:t:bnch']);
    // A channel stays until its last filter is gone; the pod's own one for good.
    inboxes.forEach((listener, i) => mq.removeListener(`$mqbridge/p2p/dev-${i}/#`, listener));
    mq.removeListener('bnch/+/x', parent);
    expect([...sub.subscribed].sort()).toEqual(['p:p:pod-a', 'p:t:bnch']);
  });

  test.each([
    ['on another pod: to that pod\'s channel only', 'dev-b', ['p:p:pod-b'], []],
    ['here: delivered here, Redis not used', 'dev-a', [], ['$mqbridge/p2p/dev-a/bnch/p2p/dev-a']],
    ['connected nowhere: to nobody (the offline queue has it)', 'dev-z', [], []],
  ])('a P2P publish to a target %s', async (_case, target, published, seenHere) => {
    const { pub, mq, seen } = setup('ready');
    await listen(mq, '$mqbridge/p2p/#', seen);
    expect(await emit(mq, { topic: `$mqbridge/p2p/${target}/bnch/p2p/${target}` })).toBeUndefined();
    await tick();
    expect([pub.published, seen]).toEqual([published, seenHere]);
  });

  test('a P2P publish whose target cannot be looked up: a device\'s goes to this pod only, RocketMQ\'s fails (it is redelivered)', async () => {
    const { pub, mq, seen, localOnly } = setup('ready');
    await listen(mq, '$mqbridge/p2p/#', seen);
    const topic = '$mqbridge/p2p/unknowable/bnch/p2p/unknowable';
    expect(await emit(mq, { topic, clientId: 'dev-1' })).toBeUndefined();
    expect((await emit(mq, { topic, clientId: 'rocketmq' }))?.message).toBe('Redis timeout');
    await tick();
    expect([pub.published, seen, localOnly]).toEqual([[], [topic], [topic]]);
  });

  test('a packet on the pod\'s channel reaches the inbox listeners here', async () => {
    const { sub, mq, seen } = setup('ready');
    await listen(mq, '$mqbridge/p2p/dev-a/#', seen);
    sub.emit('messageBuffer', Buffer.from('p:p:pod-a'), envelope('$mqbridge/p2p/dev-a/bnch/p2p/dev-a'));
    await tick();
    expect(seen).toEqual(['$mqbridge/p2p/dev-a/bnch/p2p/dev-a']);
  });

  test('up: the publish goes to its channel, and is delivered here when Redis brings it back', async () => {
    const { pub, sub, mq, seen, localOnly } = setup('ready');
    await listen(mq, 'a/#', seen);
    expect(await emit(mq, { topic: 'a/b', payload: Buffer.from('x') })).toBeUndefined();
    expect(pub.published).toEqual(['p:t:a']);
    expect([seen, localOnly]).toEqual([[], []]);
    fromRedis(sub, 'a/b');
    fromRedis(sub, 'z/b');
    await tick();
    expect(seen).toEqual(['a/b']);
  });

  test('a filter with a wildcard first level hears every channel through one pattern, each packet once', async () => {
    const { sub, mq, seen } = setup('ready');
    await listen(mq, 'a/#', seen);
    await listen(mq, '#', seen);
    await listen(mq, '+/b', seen);
    expect(sub.calls).toEqual(['subscribe p:p:pod-a', 'subscribe p:t:a', 'psubscribe p:t:*']);
    fromRedis(sub, 'a/b', 'pod-x:1'); // the channel's copy…
    sub.emit('pmessageBuffer', Buffer.from('p:t:*'), Buffer.from('p:t:a'), envelope('a/b', 'pod-x:1')); // …and the pattern's
    fromRedis(sub, 'a/c', 'pod-x:2');
    await tick();
    // Once per matching listener (a/b: three, a/c: two); the second copy of a/b is dropped.
    expect(seen.sort()).toEqual(['a/b', 'a/b', 'a/b', 'a/c', 'a/c']);
  });

  test('a pair removed more often than added (an UNSUBSCRIBE naming a filter twice) keeps the channel of the others', async () => {
    const { sub, mq } = setup('ready');
    const mine = await listen(mq, 'a/x');
    await listen(mq, 'a/y');
    mq.removeListener('a/x', mine);
    mq.removeListener('a/x', mine);
    mq.removeListener('a/y', mine); // a listener that never held a/y
    expect(sub.subscribed.has('p:t:a')).toBe(true);
  });

  test('a filter added while its channel is being subscribed waits for it; a refused SUBSCRIBE is tried again', async () => {
    const { sub, mq, failed } = setup('ready');
    sub.failSubscribes = 1;
    await Promise.all([listen(mq, 'a/x'), listen(mq, 'a/y')]);
    expect(failed).toEqual(['p:t:a']);
    expect(sub.subscribed.has('p:t:a')).toBe(false);
    await new Promise((r) => setTimeout(r, 1_100));
    expect(sub.subscribed.has('p:t:a')).toBe(true);
  });

  test('a key prefix with glob characters is escaped in the pattern', async () => {
    const sub = new FakeConn();
    const mq = createRedisEmitter({ prefix: 'b[1]*:', pub: new FakeConn() as unknown as RedisClient, sub: sub as unknown as RedisClient, mustBeShared: () => false, onLocalOnly: () => undefined, onUndecodable: () => undefined, onSubscribeFailed: () => undefined, routes });
    await new Promise<void>((resolve) => mq.on('#', (_p, done) => done(), resolve));
    expect([...sub.subscribed]).toEqual(['b[1]*:p:pod-a', 'b\\[1\\]\\*:t:*']);
  });

  test('something on a channel that is not a packet is reported and dropped; the next one is delivered', async () => {
    const { sub, mq, seen, undecodable } = setup('ready');
    await listen(mq, 'a/#', seen);
    const garbage = [Buffer.from([0xc1]), Buffer.from('plain text'), encodeEnvelope({ id: 'x', packet: { topic: 7 } as unknown as EmittedPacket }), encodeEnvelope({ id: 7, packet: { topic: 'a/b' } } as unknown as { id: string; packet: EmittedPacket })];
    for (const message of garbage) sub.emit('messageBuffer', Buffer.from('p:t:a'), message);
    fromRedis(sub, 'a/ok');
    await tick();
    expect(undecodable).toHaveLength(4);
    expect(seen).toEqual(['a/ok']);
  });

  test('packets keep their Buffers and fields through the channel encoding', () => {
    const packet = { topic: 'a/b', payload: Buffer.from([0, 1, 255]), qos: 1, brokerId: 'pod-1', brokerCounter: 42, clientId: 'c' };
    expect(decodeEnvelope(encodeEnvelope({ id: 'pod-1:0', packet }))).toEqual({ id: 'pod-1:0', packet });
  });

  test('down: subscribing does not wait; a device message reaches this pod only; a RocketMQ one fails', async () => {
    const { pub, mq, seen, localOnly } = setup('reconnecting');
    await listen(mq, 'a/#', seen);
    expect(await emit(mq, { topic: 'a/b' })).toBeUndefined();
    await tick();
    expect(seen).toEqual(['a/b']);
    expect(localOnly).toEqual(['a/b']);
    expect(await emit(mq, { topic: 'a/c', clientId: 'rocketmq' })).toBeInstanceOf(Error);
    expect(seen).toEqual(['a/b']);
    expect(pub.published).toEqual([]);
  });
});
