import type { ClockAnchor } from '../lib/clock.js';
import type { Histogram } from '../lib/histogram.js';

export interface WorkerConfig {
  role: 'pub' | 'sub';
  port: number;
  /** Loopback destinations; connection i goes to hosts[i % hosts.length]. Never a localAddress. */
  hosts: string[];
  connections: number;
  clientIdPrefix: string;
  topic: string;
  qos: 0 | 1;
  payloadBytes: number;
  anchor: ClockAnchor;
  /** Unacknowledged QoS 1 PUBLISHes allowed per publishing connection in max-rate mode. */
  window: number;
  /** Subscribers: SUBSCRIBE to topic (default true); false = connect only (P2P targets, idle). */
  subscribe?: boolean;
  /** CONNECT keep-alive in seconds (default 300); the worker sends PINGREQ at half of it. */
  keepalive?: number;
  /** CONNECT clean session flag (default true); false opens persistent sessions. */
  clean?: boolean;
  /** The first this many connections open persistent sessions, the others clean ones (instead of `clean`). */
  persistent?: number;
  /** Connections opened at a time (default 64). */
  connectConcurrency?: number;
  /**
   * Subscribers: these filters instead of `topic`, in one SUBSCRIBE; `{clientId}` stands for the
   * connection's client id; a filter with `connections` only on the first that many connections.
   * A persistent session that the server still has (CONNACK session present) does not subscribe again.
   */
  subscriptions?: Array<{ topic: string; connections?: number }>;
  /** Publishers: a non-zero tag makes every payload traceable (see `tracedId`), and acknowledged ids are reported. */
  tag?: number;
  /** Subscribers: report the ids of traced payloads received. */
  trace?: boolean;
  /** A connection the server closes is opened again after a random delay in [min, max] ms (doubling on failure). */
  reconnect?: { minDelayMs: number; maxDelayMs: number };
}

/**
 * A traced payload: bytes 0..8 the send time, 8..12 a tag (non-zero: traced), 12..16 a sequence
 * number; its id is one exact double, tag × 2^32 + seq, for tags below 2^21.
 */
export function tracedId(payload: Buffer): number | undefined {
  if (payload.length < 16) return undefined;
  const tag = payload.readUInt32LE(8);
  return tag === 0 ? undefined : tag * 2 ** 32 + payload.readUInt32LE(12);
}

export function writeTrace(payload: Buffer, tag: number, seq: number): void {
  payload.writeUInt32LE(tag, 8);
  payload.writeUInt32LE(seq >>> 0, 12);
}

export type Command =
  | { type: 'setup'; config: WorkerConfig }
  /** Publishers: start sending. rate = msgs/s for the whole worker; 0 = as fast as possible. */
  | { type: 'publish'; rate: number }
  | { type: 'halt' }
  /** Reconnections go to these ports from now on (a load balancer's view of the live pods). */
  | { type: 'retarget'; ports: number[] }
  /** Start a measurement window: zero counters, histogram and CPU baseline. */
  | { type: 'mark' }
  /** End the window and report. */
  | { type: 'collect' }
  | { type: 'exit' };

export interface Stats {
  sent: number;
  received: number;
  elapsedUs: number;
  cpuUserUs: number;
  cpuSystemUs: number;
  latency: ReturnType<Histogram['toJSON']>;
  /** QoS 1 publishers: PUBLISH write → PUBACK, microseconds. */
  ackLatency: ReturnType<Histogram['toJSON']>;
  /** Connections open and wall time the worker took to open them (CONNACK/SUBACK of the last). */
  connections: number;
  setupUs: number;
  errors: string[];
  /** Connections the server closed, ones opened again, and when (microseconds on the shared clock) the first closed and the last came back. */
  reconnects: { closed: number; reopened: number; failedAttempts: number; firstClosedUs: number; lastReopenedUs: number };
  /** With `tag`: ids of the PUBLISHes acknowledged in the window; with `trace`: ids of traced payloads received. */
  ackedIds?: number[];
  receivedIds?: number[];
}

export type Reply = { type: 'ready' } | { type: 'stats'; stats: Stats } | { type: 'halted' } | { type: 'error'; message: string };
