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
  /** Connections opened at a time (default 64). */
  connectConcurrency?: number;
}

export type Command =
  | { type: 'setup'; config: WorkerConfig }
  /** Publishers: start sending. rate = msgs/s for the whole worker; 0 = as fast as possible. */
  | { type: 'publish'; rate: number }
  | { type: 'halt' }
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
}

export type Reply = { type: 'ready' } | { type: 'stats'; stats: Stats } | { type: 'halted' } | { type: 'error'; message: string };
