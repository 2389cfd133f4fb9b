import type { ClockAnchor } from '../lib/clock.js';
import type { HistogramData } from '../lib/histogram.js';

/** A process that speaks RocketMQ directly with rocketmq-client-nodejs (the baseline side). */
export interface RmqProduceConfig {
  role: 'produce';
  endpoints: string;
  topic: string;
  payloadBytes: number;
  /** Sends in flight at once (each a loop awaiting its send), like that many devices. */
  concurrency: number;
  anchor: ClockAnchor;
  /** User properties of every message; `{target}` in a value is replaced round-robin from targets. */
  properties?: Record<string, string>;
  targets?: string[];
}

export interface RmqConsumeConfig {
  role: 'consume';
  endpoints: string;
  topic: string;
  group: string;
  /** Like the bridge's receiversPerTopic, receiveBatchSize, longPollingMs and invisibleDurationMs. */
  receivers: number;
  batchSize: number;
  longPollingMs: number;
  invisibleDurationMs: number;
  anchor: ClockAnchor;
}

export type RmqConfig = RmqProduceConfig | RmqConsumeConfig;

export type RmqCommand =
  | { type: 'setup'; config: RmqConfig }
  /** Producers: rate = msgs/s for the whole process; 0 = as fast as the concurrency allows. */
  | { type: 'start'; rate: number }
  | { type: 'halt' }
  | { type: 'mark' }
  | { type: 'collect' }
  | { type: 'exit' };

export interface HistogramJson {
  buckets: HistogramData;
  min: number;
  max: number;
  sum: number;
}

export interface RmqStats {
  sent: number;
  received: number;
  elapsedUs: number;
  cpuUserUs: number;
  cpuSystemUs: number;
  /** Producers: send() call → SEND_OK. Consumers: body timestamp → receive. Microseconds. */
  latency: HistogramJson;
  errors: string[];
}

export type RmqReply = { type: 'ready' } | { type: 'halted' } | { type: 'stats'; stats: RmqStats } | { type: 'error'; message: string };
