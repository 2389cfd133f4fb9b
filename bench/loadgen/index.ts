/** Parent side of the load generator: forks worker processes and drives them over IPC. */
import { fileURLToPath } from 'node:url';
import { Forked } from '../lib/forked.js';
import { Histogram } from '../lib/histogram.js';
import type { Command, Reply, Stats, WorkerConfig } from './protocol.js';

const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url));

/** 127.0.0.1 … 127.0.0.n: each destination address has its own ephemeral-port space. */
export function loopbackHosts(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `127.0.0.${i + 1}`);
}

export class Worker extends Forked<Command, Reply> {
  constructor(name: string) {
    super(name, WORKER, 3_000);
  }

  async setup(config: WorkerConfig): Promise<void> {
    await this.request({ type: 'setup', config }, 'ready');
  }

  async collect(): Promise<Stats> {
    return (await this.request({ type: 'collect' }, 'stats')).stats;
  }

  stop(): Promise<void> {
    return this.stopWith({ type: 'exit' });
  }
}

export interface GroupStats {
  sent: number;
  received: number;
  seconds: number;
  latency: Histogram;
  ackLatency: Histogram;
  connections: number;
  /** Longest time a worker took to open its connections (they open in parallel). */
  setupSeconds: number;
  /** Per worker: CPU seconds used / wall seconds (1.0 = one full core). */
  cpu: number[];
  errors: string[];
}

export function combine(stats: Stats[]): GroupStats {
  const latency = new Histogram();
  const ackLatency = new Histogram();
  let connections = 0;
  let setupSeconds = 0;
  let sent = 0;
  let received = 0;
  let seconds = 0;
  const cpu: number[] = [];
  const errors: string[] = [];
  for (const s of stats) {
    sent += s.sent;
    received += s.received;
    seconds = Math.max(seconds, s.elapsedUs / 1e6);
    latency.merge(s.latency);
    ackLatency.merge(s.ackLatency);
    connections += s.connections;
    setupSeconds = Math.max(setupSeconds, s.setupUs / 1e6);
    cpu.push((s.cpuUserUs + s.cpuSystemUs) / s.elapsedUs);
    errors.push(...s.errors);
  }
  return { sent, received, seconds, latency, ackLatency, connections, setupSeconds, cpu, errors };
}
