/**
 * The devices of the fleet scenario: load-generator processes grouped in slots, each slot's
 * devices on one pod. A device has its own command topic and, when persistent, a session that
 * outlives its connection; the first few of each group also hear a fan-out topic.
 */
import type { ClockAnchor } from '../lib/clock.js';
import { combine, loopbackHosts, Worker, type GroupStats } from '../loadgen/index.js';
import type { Stats } from '../loadgen/protocol.js';

export const DEVICE_PARENT = 'bnch';
export const APP_PARENT = 'bnfa';
/** What the application sends to one device, and to many. */
export const commandTopicOf = (clientId: string) => `/cmd/${clientId}`;
export const FAN_OUT_SECOND = '/fan';
/** A device that loses its pod comes back through the Service after 0.5–5 s, as SDKs with jittered backoff do. */
const RECONNECT = { minDelayMs: 500, maxDelayMs: 5_000 };
/** Load-generator processes stay well below the per-process file limit. */
const MAX_PER_WORKER = 9_000;

export interface Group {
  worker: Worker;
  slot: number;
  pod: number;
  prefix: string;
  connections: number;
  persistent: number;
}

/** How long one batch of devices took to connect, overall and per pod. */
export interface Ramp {
  devices: number;
  persistent: number;
  seconds: number;
  perSecond: number;
  perPodPerSecond: number[];
}

export class Fleet {
  readonly groups: Group[] = [];

  constructor(
    private readonly anchor: ClockAnchor,
    private readonly payloadBytes: number,
  ) {}

  /**
   * Connects `perSlot` devices in every slot (named `<chunk><slot>-<i>`), the first `persistent`
   * of each with a persistent session; `fanOut` of each slot also subscribe the fan-out topic.
   */
  async connect(chunk: string, slots: number, perSlot: number, opts: { persistent: number; fanOut: number; podOf: (slot: number) => number; ports: number[] }): Promise<Ramp> {
    const t0 = Date.now();
    const added = await Promise.all(
      Array.from({ length: slots }, async (_, slot) => {
        const parts: Group[] = [];
        for (let first = 0; first < perSlot; first += MAX_PER_WORKER) {
          const connections = Math.min(MAX_PER_WORKER, perSlot - first);
          const persistent = Math.max(0, Math.min(connections, opts.persistent - first));
          const fanOut = Math.max(0, Math.min(connections, opts.fanOut - first));
          parts.push(await this.start(`${chunk}${slot}x${first}`, slot, opts.podOf(slot), opts.ports[opts.podOf(slot)]!, connections, persistent, fanOut));
        }
        return parts;
      }),
    );
    const seconds = (Date.now() - t0) / 1000;
    const groups = added.flat();
    this.groups.push(...groups);
    const byPod = new Map<number, { devices: number; seconds: number }>();
    for (const g of groups) {
      const s = await g.worker.collect();
      const pod = byPod.get(g.pod) ?? { devices: 0, seconds: 0 };
      byPod.set(g.pod, { devices: pod.devices + g.connections, seconds: Math.max(pod.seconds, s.setupUs / 1e6) });
    }
    const devices = groups.reduce((n, g) => n + g.connections, 0);
    return {
      devices,
      persistent: groups.reduce((n, g) => n + g.persistent, 0),
      seconds,
      perSecond: devices / seconds,
      perPodPerSecond: [...byPod.entries()].sort(([a], [b]) => a - b).map(([, p]) => p.devices / p.seconds),
    };
  }

  private async start(prefix: string, slot: number, pod: number, port: number, connections: number, persistent: number, fanOut: number): Promise<Group> {
    const worker = new Worker(`dev-${prefix}`);
    await worker.setup({
      role: 'sub',
      port,
      hosts: loopbackHosts(8),
      connections,
      clientIdPrefix: `GID_fleet@@@${prefix}`,
      topic: '',
      subscriptions: [{ topic: `${APP_PARENT}${commandTopicOf('{clientId}')}` }, { topic: `${APP_PARENT}${FAN_OUT_SECOND}`, connections: fanOut }],
      persistent,
      qos: 1,
      payloadBytes: this.payloadBytes,
      anchor: this.anchor,
      window: 1,
      keepalive: 600,
      connectConcurrency: 64,
      trace: true,
      reconnect: RECONNECT,
    });
    return { worker, slot, pod, prefix: `GID_fleet@@@${prefix}`, connections, persistent };
  }

  get devices(): number {
    return this.groups.reduce((n, g) => n + g.connections, 0);
  }

  /** A random connected device's client id (persistent ones only, if asked). */
  randomDevice(persistentOnly = false): string {
    const pool = persistentOnly ? this.groups.filter((g) => g.persistent > 0) : this.groups;
    const weights = pool.map((g) => (persistentOnly ? g.persistent : g.connections));
    let pick = Math.random() * weights.reduce((a, b) => a + b, 0);
    for (let k = 0; k < pool.length; k++) {
      if (pick < weights[k]!) return `${pool[k]!.prefix}-${Math.floor(pick)}`;
      pick -= weights[k]!;
    }
    return `${pool[0]!.prefix}-0`;
  }

  workers(pod?: number): Worker[] {
    return this.groups.filter((g) => pod === undefined || g.pod === pod).map((g) => g.worker);
  }

  mark(): void {
    for (const w of this.workers()) w.send({ type: 'mark' });
  }

  async collect(pod?: (p: number) => boolean): Promise<{ all: GroupStats; raw: Stats[] }> {
    const groups = this.groups.filter((g) => !pod || pod(g.pod));
    const raw = await Promise.all(groups.map((g) => g.worker.collect()));
    return { all: combine(raw), raw };
  }

  /** Devices move to other pods (they leave this fleet's books; their sessions stay in Redis). */
  async disconnectAll(): Promise<void> {
    await Promise.all(this.groups.splice(0).map((g) => g.worker.stop()));
  }
}
