/** Parent side of the load generator: forks worker processes and drives them over IPC. */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Histogram } from '../lib/histogram.js';
import type { Command, Reply, Stats, WorkerConfig } from './protocol.js';

const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url));

/** 127.0.0.1 … 127.0.0.n: each destination address has its own ephemeral-port space. */
export function loopbackHosts(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `127.0.0.${i + 1}`);
}

export class Worker {
  private readonly child: ChildProcess;
  private pending: Array<{ want: Reply['type']; resolve: (r: Reply) => void; reject: (e: Error) => void }> = [];
  readonly exited: Promise<void>;

  constructor(readonly name: string) {
    this.child = fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (r: Reply) => {
      if (r.type === 'error') {
        for (const p of this.pending.splice(0)) p.reject(new Error(`${name}: ${r.message}`));
        return;
      }
      const i = this.pending.findIndex((p) => p.want === r.type);
      if (i >= 0) this.pending.splice(i, 1)[0]!.resolve(r);
    });
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
    void this.exited.then(() => {
      for (const p of this.pending.splice(0)) p.reject(new Error(`${name} exited`));
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  send(cmd: Command): void {
    this.child.send(cmd);
  }

  request<T extends Reply['type']>(cmd: Command, want: T): Promise<Extract<Reply, { type: T }>> {
    return new Promise((resolve, reject) => {
      this.pending.push({ want, resolve: resolve as (r: Reply) => void, reject });
      this.send(cmd);
    });
  }

  async setup(config: WorkerConfig): Promise<void> {
    await this.request({ type: 'setup', config }, 'ready');
  }

  async collect(): Promise<Stats> {
    return (await this.request({ type: 'collect' }, 'stats')).stats;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    if (this.child.connected) this.send({ type: 'exit' });
    const t = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await this.exited;
    clearTimeout(t);
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
