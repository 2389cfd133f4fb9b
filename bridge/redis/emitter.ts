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

const require = createRequire(import.meta.url);
const createLocalEmitter = require('mqemitter') as (options: object) => Emitter;
const msgpack = require('msgpack-lite') as { encode(value: unknown): Buffer; decode(buffer: Buffer): unknown };

/** The one Redis channel every pod of a bridge publishes to and listens on. */
export function publishChannelOf(prefix: string): string {
  return `${prefix}publishes`;
}

/** A packet as it travels on the channel (msgpack keeps Buffers). */
export function encodePacket(packet: EmittedPacket): Buffer {
  return msgpack.encode(packet);
}

export function decodePacket(message: Buffer): EmittedPacket | undefined {
  const packet = msgpack.decode(message) as Partial<EmittedPacket> | null;
  return packet !== null && typeof packet === 'object' && typeof packet.topic === 'string' ? (packet as EmittedPacket) : undefined;
}

export interface EmitterOptions {
  /** Channel prefix, so that several bridges can share one Redis. */
  prefix: string;
  /** Subscriber connection: give it an offline queue, so the subscription is made once Redis answers. */
  sub: RedisClient;
  pub: RedisClient;
  /** Packets that must reach every pod or fail (RocketMQ downlink: it stays in RocketMQ and comes back). */
  mustBeShared: (packet: EmittedPacket) => boolean;
  /** A packet went to this pod's subscribers only, because Redis was away. */
  onLocalOnly: (packet: EmittedPacket) => void;
  /** Something on the channel that is not a packet of ours; it is dropped. */
  onUndecodable: (err: Error) => void;
}

/**
 * Every publish reaches every pod's aedes through one Redis channel per bridge; each pod
 * matches it against its own subscriptions in process (mqemitter). Redis' work per publish
 * is one delivery per pod, whatever the number of devices and filters: mqemitter-redis
 * subscribed a channel or pattern per distinct filter, and Redis matches every PUBLISH
 * against every pattern (one per persistent session's P2P inbox), so its cost grew with the
 * fleet. While Redis is away a publish reaches this pod's subscribers only instead of failing
 * (aedes would disconnect the publisher, whose PUBACK is already out), and closing never waits
 * for a Redis that does not answer.
 */
export function createRedisEmitter(options: EmitterOptions): Emitter {
  const { sub, pub, mustBeShared, onLocalOnly, onUndecodable } = options;
  const channel = publishChannelOf(options.prefix);
  const channelBytes = Buffer.from(channel);
  const local = createLocalEmitter({ concurrency: 100, matchEmptyLevels: true });
  let closed = false;

  sub.on('messageBuffer', (from: Buffer, message: Buffer) => {
    if (!from.equals(channelBytes)) return;
    const packet = decodeOrReport(message, onUndecodable);
    if (packet) local.emit(packet);
  });
  sub.subscribe(channel).catch(() => undefined); // the connection logs its errors and resubscribes when back

  function fallback(packet: EmittedPacket, done: (err?: Error) => void, err: Error): void {
    if (mustBeShared(packet)) return done(err);
    onLocalOnly(packet);
    local.emit(packet, done);
  }

  return {
    on: (topic, listener, done) => local.on(topic, listener, done),
    removeListener: (topic, listener, done) => local.removeListener(topic, listener, done),
    emit(packet, done = () => undefined) {
      if (closed) return done(new Error('the emitter is closed'));
      if (pub.status !== 'ready') return fallback(packet, done, new Error('Redis is unreachable'));
      pub.publish(channel, encodePacket(packet)).then(
        () => {
          // Our own subscriber connection is down: Redis will not bring the packet back to us.
          if (sub.status !== 'ready') return local.emit(packet, done);
          done();
        },
        (err: Error) => fallback(packet, done, err),
      );
    },
    close(done) {
      if (closed) return done();
      closed = true;
      sub.disconnect();
      pub.disconnect();
      local.close(done);
    },
  };
}

function decodeOrReport(message: Buffer, onUndecodable: (err: Error) => void): EmittedPacket | undefined {
  try {
    const packet = decodePacket(message);
    if (!packet) onUndecodable(new Error('not a packet'));
    return packet;
  } catch (err) {
    onUndecodable(err as Error);
    return undefined;
  }
}
