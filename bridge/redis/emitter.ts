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

/**
 * The Redis channel a publish travels on: one per first topic level (a binding's parent topic,
 * `$SYS`, the P2P inboxes), so a pod hears only the parents it has subscribers for, and Redis'
 * subscriptions are bounded by the bindings, not by the devices.
 */
export function channelOf(prefix: string, topic: string): string {
  const end = topic.indexOf('/');
  return `${prefix}t:${end < 0 ? topic : topic.slice(0, end)}`;
}

/** A filter whose first level is a wildcard hears every channel of the bridge, through one pattern. */
function everyChannelOf(prefix: string): string {
  return `${prefix}t:*`;
}

function firstLevelIsWildcard(filter: string): boolean {
  return filter === '#' || filter === '+' || filter.startsWith('+/');
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
  /** Subscriber connection: give it an offline queue, so subscriptions made while Redis is away are sent when it is back. */
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
 * Every publish reaches the aedes of every pod that has a subscriber for its first topic level,
 * through one Redis channel per first level; each pod matches it against its own
 * subscriptions in process (mqemitter). Redis' work per publish is one delivery per interested
 * pod, whatever the number of devices and filters: mqemitter-redis subscribed a channel or
 * pattern per distinct filter, and Redis matches every PUBLISH against every pattern (one per
 * persistent session's P2P inbox), so its cost grew with the fleet. While Redis is away a
 * publish reaches this pod's subscribers only instead of failing (aedes would disconnect the
 * publisher, whose PUBACK is already out), and closing never waits for a Redis that does not
 * answer.
 */
export function createRedisEmitter(options: EmitterOptions): Emitter {
  const { prefix, sub, pub, mustBeShared, onLocalOnly, onUndecodable } = options;
  const local = createLocalEmitter({ concurrency: 100, matchEmptyLevels: true });
  const channels = new RedisInterest(sub, prefix);
  let closed = false;

  const deliver = (message: Buffer) => {
    const packet = decodeOrReport(message, onUndecodable);
    if (packet) local.emit(packet);
  };
  // With the every-channel pattern on, a channel's own copy would be a second one.
  sub.on('messageBuffer', (_channel: Buffer, message: Buffer) => channels.everyChannel || deliver(message));
  sub.on('pmessageBuffer', (_pattern: Buffer, _channel: Buffer, message: Buffer) => deliver(message));

  function fallback(packet: EmittedPacket, done: (err?: Error) => void, err: Error): void {
    if (mustBeShared(packet)) return done(err);
    onLocalOnly(packet);
    local.emit(packet, done);
  }

  return {
    on(topic, listener, done) {
      local.on(topic, listener);
      channels.add(topic, done);
    },
    removeListener(topic, listener, done) {
      local.removeListener(topic, listener, done);
      channels.remove(topic);
    },
    emit(packet, done = () => undefined) {
      if (closed) return done(new Error('the emitter is closed'));
      if (pub.status !== 'ready') return fallback(packet, done, new Error('Redis is unreachable'));
      pub.publish(channelOf(prefix, packet.topic), encodePacket(packet)).then(
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

/**
 * The Redis channels this pod listens on, counted by the local filters that need them: the
 * first filter of a first level subscribes its channel, the last one gone unsubscribes it.
 */
class RedisInterest {
  private readonly counts = new Map<string, number>();

  constructor(
    private readonly sub: RedisClient,
    private readonly prefix: string,
  ) {}

  get everyChannel(): boolean {
    return this.counts.has(everyChannelOf(this.prefix));
  }

  /** `done` once Redis has the subscription (at once while it is away: the offline queue sends it later). */
  add(filter: string, done?: () => void): void {
    const channel = this.channelFor(filter);
    const count = this.counts.get(channel) ?? 0;
    this.counts.set(channel, count + 1);
    const finish = () => {
      if (done) setImmediate(done);
    };
    if (count > 0) return finish();
    const subscribed = channel === everyChannelOf(this.prefix) ? this.sub.psubscribe(channel) : this.sub.subscribe(channel);
    // The connection logs its errors and subscribes again when it is back.
    if (this.sub.status !== 'ready') {
      subscribed.catch(() => undefined);
      return finish();
    }
    subscribed.then(finish, finish);
  }

  remove(filter: string): void {
    const channel = this.channelFor(filter);
    const count = this.counts.get(channel) ?? 0;
    if (count > 1) {
      this.counts.set(channel, count - 1);
      return;
    }
    this.counts.delete(channel);
    const unsubscribed = channel === everyChannelOf(this.prefix) ? this.sub.punsubscribe(channel) : this.sub.unsubscribe(channel);
    unsubscribed.catch(() => undefined);
  }

  private channelFor(filter: string): string {
    return firstLevelIsWildcard(filter) ? everyChannelOf(this.prefix) : channelOf(this.prefix, filter);
  }
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
