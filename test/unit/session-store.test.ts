import { EventEmitter } from 'node:events';
import { parseConfig } from '../../bridge/config/load.js';
import { redisKeyPrefixOf } from '../../bridge/config/schema.js';
import type { RedisClient } from '../../bridge/redis/connection.js';
import { clusterNodesOf, redisUrlOf } from '../../bridge/redis/connection.js';
import { createRedisEmitter, type EmittedPacket } from '../../bridge/redis/emitter.js';
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

/** Enough of an ioredis connection for mqemitter-redis: status, pub/sub calls, events. */
class FakeConn extends EventEmitter {
  status = 'ready';
  published: string[] = [];
  publish(channel: string) {
    if (this.status !== 'ready') return Promise.reject(new Error('down'));
    this.published.push(channel);
    return Promise.resolve(1);
  }
  subscribe(_c: string, cb?: () => void) {
    if (this.status === 'ready') cb?.();
  }
  psubscribe(_c: string, cb?: () => void) {
    if (this.status === 'ready') cb?.();
  }
  disconnect() {}
}

describe('Redis emitter while Redis is away', () => {
  function setup(pubStatus: string) {
    const pub = new FakeConn();
    const sub = new FakeConn();
    pub.status = pubStatus;
    sub.status = pubStatus;
    const localOnly: string[] = [];
    const mq = createRedisEmitter({
      prefix: 'p:',
      pub: pub as unknown as RedisClient,
      sub: sub as unknown as RedisClient,
      mustBeShared: (packet) => packet.clientId === 'rocketmq',
      onLocalOnly: (packet) => localOnly.push(packet.topic),
    });
    const seen: string[] = [];
    return { pub, mq, seen, localOnly };
  }

  const subscribe = (mq: ReturnType<typeof setup>['mq'], seen: string[]) =>
    new Promise<void>((resolve) => mq.on('a/#', (packet: EmittedPacket, done) => (seen.push(packet.topic), done()), resolve));
  const emit = (mq: ReturnType<typeof setup>['mq'], packet: EmittedPacket) => new Promise<Error | undefined>((resolve) => mq.emit(packet, resolve));

  test('up: the publish goes to Redis (prefixed), not delivered here directly', async () => {
    const { pub, mq, seen, localOnly } = setup('ready');
    await subscribe(mq, seen);
    expect(await emit(mq, { topic: 'a/b' })).toBeUndefined();
    expect(pub.published).toEqual(['p:a/b']);
    expect([seen, localOnly]).toEqual([[], []]);
  });

  test('down: subscribing does not wait; a device message reaches this pod only; a RocketMQ one fails', async () => {
    const { pub, mq, seen, localOnly } = setup('reconnecting');
    await subscribe(mq, seen);
    expect(await emit(mq, { topic: 'a/b' })).toBeUndefined();
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual(['a/b']);
    expect(localOnly).toEqual(['a/b']);
    expect(await emit(mq, { topic: 'a/c', clientId: 'rocketmq' })).toBeInstanceOf(Error);
    expect(seen).toEqual(['a/b']);
    expect(pub.published).toEqual([]);
  });
});
