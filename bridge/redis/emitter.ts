import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { ChannelInterest, channelOf, podChannelOf } from './channels.js';
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
 * A packet as it travels on a channel, with an id unique to its publish (msgpack keeps
 * Buffers): a pod that also listens through the every-channel pattern gets it twice.
 */
export interface Envelope {
  id: string;
  packet: EmittedPacket;
}

export function encodeEnvelope(envelope: Envelope): Buffer {
  return msgpack.encode([envelope.id, envelope.packet]);
}

export function decodeEnvelope(message: Buffer): Envelope | undefined {
  const decoded = msgpack.decode(message) as unknown;
  if (!Array.isArray(decoded) || typeof decoded[0] !== 'string') return undefined;
  const packet = decoded[1] as Partial<EmittedPacket> | null;
  return packet !== null && typeof packet === 'object' && typeof packet.topic === 'string' ? { id: decoded[0], packet: packet as EmittedPacket } : undefined;
}

/** The ids of the last packets delivered, to drop the second copy of one (insertion order is age). */
class RecentIds {
  private readonly ids = new Set<string>();
  constructor(private readonly max: number) {}

  /** Whether the id was seen; remembers it. */
  seen(id: string): boolean {
    if (this.ids.has(id)) return true;
    this.ids.add(id);
    if (this.ids.size > this.max) this.ids.delete(this.ids.values().next().value as string);
    return false;
  }
}

/**
 * Packets meant for one client (P2P) go to the pod holding it, not to every pod with a
 * subscriber under their first level: otherwise each P2P message costs every pod with a
 * persistent session (each holds its inbox filter) a delivery and a match.
 */
export interface PodRoutes {
  /** This pod: packets for its clients arrive on its own channel. */
  podId: string;
  /** The client a topic is meant for, if it is sent to that client's pod only. */
  targetOf(topic: string): string | undefined;
  /** Whether every topic a filter matches is sent to its target's pod: the filter needs no channel. */
  coversFilter(filter: string): boolean;
  /** The live pod holding a client, undefined if none; rejects when Redis does not answer. */
  podOf(clientId: string): Promise<string | undefined>;
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
  /** Something on a channel that is not a packet of ours; it is dropped. */
  onUndecodable: (err: Error) => void;
  /** Redis refused a SUBSCRIBE; it is tried again every second while the channel is wanted. */
  onSubscribeFailed: (channel: string, err: Error) => void;
  routes: PodRoutes;
}

/**
 * Every publish reaches the aedes of every pod that has a subscriber for its first topic level,
 * through one Redis channel per first level; each pod matches it against its own
 * subscriptions in process (mqemitter). Redis' work per publish is one delivery per interested
 * pod, whatever the number of devices and filters: mqemitter-redis subscribed a channel or
 * pattern per distinct filter, and Redis matches every PUBLISH against every pattern (one per
 * persistent session's P2P inbox), so its cost grew with the fleet. A P2P packet goes to the
 * channel of its target's pod only (`PodRoutes`), or nowhere when the target is offline. While Redis is away a
 * publish reaches this pod's subscribers only instead of failing (aedes would disconnect the
 * publisher, whose PUBACK is already out), and closing never waits for a Redis that does not
 * answer.
 */
export function createRedisEmitter(options: EmitterOptions): Emitter {
  const { prefix, sub, pub, mustBeShared, onLocalOnly, onUndecodable, routes } = options;
  const local = createLocalEmitter({ concurrency: 100, matchEmptyLevels: true });
  const channels = new ChannelInterest(sub, prefix, options.onSubscribeFailed, (filter) => routes.coversFilter(filter));
  void channels.hold(podChannelOf(prefix, routes.podId));
  const recent = new RecentIds(10_000);
  const idPrefix = `${randomBytes(6).toString('base64url')}:`;
  let published = 0;
  let closed = false;

  const deliver = (message: Buffer) => {
    const envelope = decodeOrReport(message, onUndecodable);
    if (!envelope || (channels.patternUsed && recent.seen(envelope.id))) return;
    local.emit(envelope.packet);
  };
  sub.on('messageBuffer', (_channel: Buffer, message: Buffer) => deliver(message));
  sub.on('pmessageBuffer', (_pattern: Buffer, _channel: Buffer, message: Buffer) => deliver(message));

  function fallback(packet: EmittedPacket, done: (err?: Error) => void, err: Error): void {
    if (mustBeShared(packet)) return done(err);
    onLocalOnly(packet);
    local.emit(packet, done);
  }

  function send(channel: string, packet: EmittedPacket, done: (err?: Error) => void): void {
    if (pub.status !== 'ready') return fallback(packet, done, new Error('Redis is unreachable'));
    const message = encodeEnvelope({ id: idPrefix + (published++).toString(36), packet });
    pub.publish(channel, message).then(
      () => {
        // Our own subscriber connection is down: Redis will not bring the packet back to us.
        if (sub.status !== 'ready') return local.emit(packet, done);
        done();
      },
      (err: Error) => fallback(packet, done, err),
    );
  }

  return {
    on(topic, listener, done) {
      local.on(topic, listener);
      channels.add(topic, listener, done);
    },
    removeListener(topic, listener, done) {
      local.removeListener(topic, listener, done);
      channels.remove(topic, listener);
    },
    emit(packet, done = () => undefined) {
      if (closed) return done(new Error('the emitter is closed'));
      const target = routes.targetOf(packet.topic);
      if (target === undefined) return send(channelOf(prefix, packet.topic), packet, done);
      routes.podOf(target).then(
        (pod) => {
          // Nowhere connected: a persistent session's offline queue already has it (aedes writes it before emitting).
          if (pod === undefined) return done();
          if (pod === routes.podId) return local.emit(packet, done);
          send(podChannelOf(prefix, pod), packet, done);
        },
        (err: Error) => fallback(packet, done, err),
      );
    },
    close(done) {
      if (closed) return done();
      closed = true;
      channels.close();
      sub.disconnect();
      pub.disconnect();
      local.close(done);
    },
  };
}

function decodeOrReport(message: Buffer, onUndecodable: (err: Error) => void): Envelope | undefined {
  try {
    const envelope = decodeEnvelope(message);
    if (!envelope) onUndecodable(new Error('not a packet'));
    return envelope;
  } catch (err) {
    onUndecodable(err as Error);
    return undefined;
  }
}
