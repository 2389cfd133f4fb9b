/** Parent side of the RocketMQ client processes (bench/rmq/worker.ts). */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { RmqCommand, RmqConfig, RmqReply, RmqStats } from './protocol.js';

const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url));

export class RmqClient {
  private readonly child: ChildProcess;
  private pending: Array<{ want: RmqReply['type']; resolve: (r: RmqReply) => void; reject: (e: Error) => void }> = [];
  private readonly exited: Promise<void>;

  constructor(readonly name: string) {
    this.child = fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (r: RmqReply) => {
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

  send(cmd: RmqCommand): void {
    this.child.send(cmd);
  }

  private request<T extends RmqReply['type']>(cmd: RmqCommand, want: T, timeoutMs = 60_000): Promise<Extract<RmqReply, { type: T }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no ${want} within ${timeoutMs} ms`)), timeoutMs);
      this.pending.push({
        want,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r as Extract<RmqReply, { type: T }>);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.send(cmd);
    });
  }

  async setup(config: RmqConfig): Promise<void> {
    await this.request({ type: 'setup', config }, 'ready');
  }

  async halt(): Promise<void> {
    await this.request({ type: 'halt' }, 'halted', 30_000);
  }

  async collect(): Promise<RmqStats> {
    return (await this.request({ type: 'collect' }, 'stats')).stats;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    if (this.child.connected) this.send({ type: 'exit' });
    const t = setTimeout(() => this.child.kill('SIGKILL'), 4000);
    await this.exited;
    clearTimeout(t);
  }
}
