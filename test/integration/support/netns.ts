import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { collectJsonLogs } from './process.js';

const run = promisify(execFile);

/**
 * A network namespace with its own address, reached from the host over a veth pair: a pod's
 * network without a kubelet. Needs root (as `npm test` runs here).
 */
export class PodNetwork {
  private constructor(
    readonly name: string,
    readonly podIp: string,
    private readonly hostLink: string,
  ) {}

  /** The host's address on this pod's link. */
  get hostIp(): string {
    return this.podIp.replace(/\.2$/, '.1');
  }

  /** `index` (1–250) picks the /30: host side 10.213.<index>.1, pod side .2. */
  static async create(index: number): Promise<PodNetwork> {
    const name = `mqbt-${process.pid}-${index}`;
    const host = `mqbh${process.pid % 10000}x${index}`;
    const pod = `mqbp${process.pid % 10000}x${index}`;
    const net = new PodNetwork(name, `10.213.${index}.2`, host);
    await net.destroy();
    const ip = (...args: string[]) => run('ip', args);
    const inNs = (...args: string[]) => run('ip', ['netns', 'exec', name, 'ip', ...args]);
    await ip('netns', 'add', name);
    await ip('link', 'add', host, 'type', 'veth', 'peer', 'name', pod);
    await ip('link', 'set', pod, 'netns', name);
    await ip('addr', 'add', `10.213.${index}.1/30`, 'dev', host);
    await ip('link', 'set', host, 'up');
    await inNs('addr', 'add', `${net.podIp}/30`, 'dev', pod);
    await inNs('link', 'set', pod, 'up');
    await inNs('link', 'set', 'lo', 'up');
    // The host's side of every pod network is reachable, as a node's services are from its pods.
    await inNs('route', 'add', '10.213.0.0/16', 'via', net.hostIp);
    return net;
  }

  /** Runs a command inside; its JSON log lines are collected. */
  spawn(command: string, args: string[]): { child: ChildProcess; logs: Record<string, unknown>[] } {
    const child = spawn('ip', ['netns', 'exec', this.name, command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    return { child, logs: collectJsonLogs(child) };
  }

  async destroy(): Promise<void> {
    await run('ip', ['netns', 'del', this.name]).catch(() => undefined);
    await run('ip', ['link', 'del', this.hostLink]).catch(() => undefined);
  }
}
