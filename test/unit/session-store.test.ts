import { EventEmitter } from 'node:events';
import { parseConfig } from '../../bridge/config/load.js';
import { redisKeyPrefixOf } from '../../bridge/config/schema.js';
import type { RedisClient } from '../../bridge/redis/connection.js';
import { clusterNodesOf, redisUrlOf } from '../../bridge/redis/connection.js';
import { createRedisEmitter, decodePacket, encodePacket, publishChannelOf, type EmittedPacket } from '../../bridge/redis/emitter.js';
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
  subscribed: string[] = [];
  publish(channel: string) {
    if (this.status !== 'ready') return Promise.reject(new Error('down'));
    this.published.push(channel);
    return Promise.resolve(1);
  }
  subscribe(channel: string) {
    this.subscribed.push(channel);
    return Promise.resolve(1);
  }
  disconnect() {}
}

describe('Redis emitter', () => {
  function setup(pubStatus: string) {
    const pub = new FakeConn();
    const sub = new FakeConn();
    pub.status = pubStatus;
    sub.status = pubStatus;
    const localOnly: string[] = [];
    const undecodable: string[] = [];
    const mq = createRedisEmitter({
      prefix: 'p:',
      pub: pub as unknown as RedisClient,
      sub: sub as unknown as RedisClient,
      mustBeShared: (packet) => packet.clientId === 'rocketmq',
      onLocalOnly: (packet) => localOnly.push(packet.topic),
      onUndecodable: (err) => undecodable.push(err.message),
    });
    const seen: string[] = [];
    return { pub, sub, mq, seen, localOnly, undecodable };
  }

  const subscribe = (mq: ReturnType<typeof setup>['mq'], seen: string[]) =>
    new Promise<void>((resolve) => mq.on('a/#', (packet: EmittedPacket, done) => (seen.push(packet.topic), done()), resolve));
  const emit = (mq: ReturnType<typeof setup>['mq'], packet: EmittedPacket) => new Promise<Error | undefined>((resolve) => mq.emit(packet, resolve));
  const tick = () => new Promise((r) => setImmediate(r));

  test('one channel per bridge, subscribed once, whatever the subscriptions', async () => {
    const { sub, mq, seen } = setup('ready');
    await subscribe(mq, seen);
    await new Promise<void>((resolve) => mq.on('$mqbridge/p2p/dev-1/#', (_p, done) => done(), resolve));
    expect(sub.subscribed).toEqual([publishChannelOf('p:')]);
  });

  test('up: the publish goes to the channel, and is delivered here when Redis brings it back', async () => {
    const { pub, sub, mq, seen, localOnly } = setup('ready');
    await subscribe(mq, seen);
    expect(await emit(mq, { topic: 'a/b', payload: Buffer.from('x') })).toBeUndefined();
    expect(pub.published).toEqual(['p:publishes']);
    expect([seen, localOnly]).toEqual([[], []]);
    sub.emit('messageBuffer', Buffer.from('p:publishes'), encodePacket({ topic: 'a/b', payload: Buffer.from('x') }));
    sub.emit('messageBuffer', Buffer.from('p:publishes'), encodePacket({ topic: 'z/b' }));
    sub.emit('messageBuffer', Buffer.from('other:publishes'), encodePacket({ topic: 'a/other-bridge' }));
    await tick();
    expect(seen).toEqual(['a/b']);
  });

  test('something on the channel that is not a packet is reported and dropped; the next one is delivered', async () => {
    const { sub, mq, seen, undecodable } = setup('ready');
    await subscribe(mq, seen);
    for (const garbage of [Buffer.from([0xc1]), Buffer.from('plain text'), encodePacket({ topic: 7 } as unknown as EmittedPacket)]) {
      sub.emit('messageBuffer', Buffer.from('p:publishes'), garbage);
    }
    sub.emit('messageBuffer', Buffer.from('p:publishes'), encodePacket({ topic: 'a/ok' }));
    await tick();
    expect(undecodable).toHaveLength(3);
    expect(seen).toEqual(['a/ok']);
  });

  test('packets keep their Buffers and fields through the channel encoding', () => {
    const packet = { topic: 'a/b', payload: Buffer.from([0, 1, 255]), qos: 1, brokerId: 'pod-1', brokerCounter: 42, clientId: 'c' };
    expect(decodePacket(encodePacket(packet))).toEqual(packet);
  });

  test('down: subscribing does not wait; a device message reaches this pod only; a RocketMQ one fails', async () => {
    const { pub, mq, seen, localOnly } = setup('reconnecting');
    await subscribe(mq, seen);
    expect(await emit(mq, { topic: 'a/b' })).toBeUndefined();
    await tick();
    expect(seen).toEqual(['a/b']);
    expect(localOnly).toEqual(['a/b']);
    expect(await emit(mq, { topic: 'a/c', clientId: 'rocketmq' })).toBeInstanceOf(Error);
    expect(seen).toEqual(['a/b']);
    expect(pub.published).toEqual([]);
  });
});
