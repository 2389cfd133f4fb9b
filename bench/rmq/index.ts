/** Parent side of the RocketMQ client processes (bench/rmq/worker.ts). */
import { fileURLToPath } from 'node:url';
import { Forked } from '../lib/forked.js';
import type { RmqCommand, RmqConfig, RmqReply, RmqStats } from './protocol.js';

const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url));

export class RmqClient extends Forked<RmqCommand, RmqReply> {
  constructor(name: string) {
    super(name, WORKER, 4_000);
  }

  async setup(config: RmqConfig): Promise<void> {
    await this.request({ type: 'setup', config }, 'ready', 60_000);
  }

  async halt(): Promise<void> {
    await this.request({ type: 'halt' }, 'halted', 30_000);
  }

  async collect(): Promise<RmqStats> {
    return (await this.request({ type: 'collect' }, 'stats', 60_000)).stats;
  }

  stop(): Promise<void> {
    return this.stopWith({ type: 'exit' });
  }
}
