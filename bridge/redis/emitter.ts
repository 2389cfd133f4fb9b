import type { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import type { RedisClient } from './connection.js';

/** The part of an mqemitter that aedes uses. */
export interface Emitter {
  on(topic: string, listener: Listener, done?: () => void): unknown;
  removeListener(topic: string, listener: Listener, done?: () => void): unknown;
  emit(packet: EmittedPacket, done?: (err?: Error) => void): void;
  close(done: () => void): void;
}

export interface EmittedPacket {
  topic: string;
  clientId?: string;
  [key: string]: unknown;
}

type Listener = (packet: EmittedPacket, done: () => void) => void;

interface RedisEmitterInternals extends Emitter {
  state: EventEmitter;
  closed?: boolean;
  closing?: boolean;
  /** mqemitter's own, in-process emit and close (mqemitter-redis keeps them under these names). */
  _emit(packet: EmittedPacket, done: (err?: Error) => void): void;
  _close(done: () => void): void;
}

const require = createRequire(import.meta.url);
const { MQEmitterRedisPrefix } = require('mqemitter-redis') as {
  MQEmitterRedisPrefix: new (prefix: string, options: object) => RedisEmitterInternals;
};

export interface EmitterOptions {
  /** Channel prefix, so that several bridges can share one Redis. */
  prefix: string;
  /** Subscriber connection: give it an offline queue, so subscriptions made while Redis is away are sent when it is back. */
  sub: RedisClient;
  pub: RedisClient;
  /** Packets that must reach every pod or fail (RocketMQ downlink: it stays in RocketMQ and comes back). */
  mustBeShared: (packet: EmittedPacket) => boolean;
  /** A packet went to this pod's subscribers only, because Redis was away. */
  onLocalOnly: (packet: EmittedPacket) => void;
}

/**
 * mqemitter-redis (every pod's aedes sees every publish, through Redis pub/sub) made to keep a
 * pod useful while Redis is away: a publish then reaches this pod's subscribers only instead of
 * failing (aedes would disconnect the publisher, whose PUBACK is already out), subscribing
 * does not wait for Redis, and closing never waits for a Redis that does not answer.
 */
export function createRedisEmitter(options: EmitterOptions): Emitter {
  const { prefix, sub, pub, mustBeShared, onLocalOnly } = options;
  const mq = new MQEmitterRedisPrefix(prefix, { subConn: sub, pubConn: pub, concurrency: 100, matchEmptyLevels: true });
  // Connection errors are the connections' own (logged there); unheard, this one would throw.
  mq.state.on('error', () => undefined);
  const shared = { emit: mq.emit.bind(mq), on: mq.on.bind(mq) };

  // Listeners are registered under the prefixed topic; an in-process emit must use it too.
  const emitHere = (packet: EmittedPacket, done: (err?: Error) => void) => mq._emit({ ...packet, topic: prefix + packet.topic }, done);

  mq.emit = (packet, done = () => undefined) => {
    if (pub.status !== 'ready') return fallback(packet, done, new Error('Redis is unreachable'));
    shared.emit(packet, (err?: Error) => {
      if (err) return fallback(packet, done, err);
      // Our own subscriber connection is down: Redis will not bring the packet back to us.
      if (sub.status !== 'ready') return emitHere(packet, done);
      done();
    });
  };

  function fallback(packet: EmittedPacket, done: (err?: Error) => void, err: Error) {
    if (mustBeShared(packet)) return done(err);
    onLocalOnly(packet);
    emitHere(packet, done);
  }

  mq.on = (topic, listener, done) => {
    if (sub.status === 'ready') return shared.on(topic, listener, done);
    shared.on(topic, listener); // local at once; the Redis subscription waits in the offline queue
    if (done) setImmediate(done);
    return mq;
  };

  mq.close = (done) => {
    if (mq.closed || mq.closing) return done();
    mq.closing = true;
    sub.disconnect();
    pub.disconnect();
    mq._close(done);
  };
  return mq;
}
