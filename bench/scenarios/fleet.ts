/**
 * fleet: a fleet of devices across bridge pods on one Redis and RocketMQ, at the scale the
 * product is for (full run: 100,000 devices on 6 pods; `--quick`: a few thousand on 3).
 * Half the devices have persistent sessions; each subscribes its own command topic, and has
 * its P2P inbox. Three rows of the same steady traffic, so that what grows with the fleet or
 * with the pods shows as a ratio: few devices on 2 pods, the same devices on all pods, then the
 * whole fleet. Per row and flow: delivered/s, p50/p99, CPU per message of Redis and of the pods
 * beyond their idle CPU, the load average. Then, with the whole fleet: kill -9 of one pod under
 * traffic (its devices come back on the others; nothing acknowledged may be lost), and the
 * start of a new pod with every persistent session in Redis.
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import { Cluster, Redis } from 'ioredis';
import { takeAnchor } from '../lib/clock.js';
import { fmt, fmtUs, machine, printTable, round2, writeResult } from '../lib/output.js';
import { procCpuSeconds, procRssBytes, sleep } from '../lib/proc.js';
import { combine, loopbackHosts, Worker } from '../loadgen/index.js';
import { tracedId } from '../loadgen/protocol.js';
import { APP_PARENT, commandTopicOf, DEVICE_PARENT, FAN_OUT_SECOND, Fleet, type Ramp } from './fleet-devices.js';
import { AppSide, drained, flow, type Flow } from './scale-out.js';
import { REDIS_CLUSTER_PORTS, REDIS_URL, startBackends, startPod, stopBackends, type Pod } from './scale-out-env.js';

const log = (s: string) => process.stderr.write(`[fleet] ${s}\n`);
const BRIDGE = 'bench-fleet';
const PARENTS = { device: DEVICE_PARENT, app: APP_PARENT };
/**
 * A process here may hold 20,000 files: a pod refuses sockets beyond this, keeping room for its
 * own. Five pods cannot hold 100,000 devices, so after a kill -9 the rest wait for the
 * replacement pod, as on Kubernetes, where the ReplicaSet starts one at once.
 */
const msgpack = createRequire(import.meta.url)('msgpack-lite') as { decode(buffer: Buffer): unknown };
const POD_LIMITS = { maxConnections: 19_500, ...connectPacing() };

/** BENCH_FLEET_CONNECTS_PER_SECOND: the pods' mqtt.connectsPerSecond (unset: the bridge's default). */
/** BENCH_FLEET_REDIS=cluster: the session store is a 3-node Redis Cluster instead of one Redis. */
const ON_CLUSTER = process.env.BENCH_FLEET_REDIS === 'cluster';

function connectPacing(): { connectsPerSecond?: number } {
  const value = process.env.BENCH_FLEET_CONNECTS_PER_SECOND;
  return value === undefined ? {} : { connectsPerSecond: Number(value) };
}
/** Device → RocketMQ publishers per pod (apart from the fleet). */
const PUBLISHERS_PER_POD = 4;
/** Traced ids: the kill phase's device publishes and application P2P sends. */
const KILL_UPLINK_TAG = 1;
const KILL_P2P_TAG = 2;

export interface Params {
  slots: number;
  /** The rows: pods, and devices connected. */
  small: { pods: number; devices: number };
  large: { pods: number; devices: number };
  persistentShare: number;
  fanOut: number;
  rates: { uplink: number; p2p: number; command: number; fanOut: number; killUplink: number; killP2p: number };
  warmupMs: number;
  measureMs: number;
  payloadBytes: number;
}

export interface FlowResult {
  flow: Flow;
  sentPerSec: number;
  /** CPU ms per 1,000 delivered messages beyond the idle CPU: Redis, and the pods together. */
  cpuMsPer1k: { redis: number; pods: number };
  /** CPU in % of a core during the flow, and the 1-minute load average after it. */
  cpuPercent: { redis: number; pods: number[]; loadgen: number };
  loadAverage: number;
}

export interface Row {
  label: string;
  pods: number;
  devices: number;
  idleCpuPercent: { redis: number; pods: number };
  flows: Record<'uplink' | 'p2p' | 'command' | 'fanOut', FlowResult>;
}

export interface KillResult {
  devicesOnKilledPod: number;
  /** From the kill until the replacement pod is ready (it loads every persistent session meanwhile). */
  replacementReadySeconds: number;
  reconnectSeconds: number;
  reconnectsPerSec: number;
  failedAttempts: number;
  /** The others' P2P latency before and during the storm; the uplink's, at the application. */
  before: { p2p: Flow; uplink: Flow };
  during: { p2p: Flow; uplink: Flow };
  uplink: { acked: number; lost: number };
  p2pToPersistent: { sent: number; lost: number };
}

export async function run(opts: { quick: boolean }): Promise<void> {
  const params: Params = opts.quick
    ? { slots: 3, small: { pods: 2, devices: 600 }, large: { pods: 3, devices: 3_000 }, persistentShare: 0.5, fanOut: 300, rates: { uplink: 100, p2p: 100, command: 100, fanOut: 1, killUplink: 50, killP2p: 50 }, warmupMs: 500, measureMs: 1_500, payloadBytes: 64 }
    : { slots: 6, small: { pods: 2, devices: 10_000 }, large: { pods: 6, devices: 100_000 }, persistentShare: 0.5, fanOut: 10_000, rates: { uplink: 100, p2p: 200, command: 200, fanOut: 0.3, killUplink: 100, killP2p: 100 }, warmupMs: 3_000, measureMs: 10_000, payloadBytes: 64 };
  await startBackends(log, undefined, { redisCluster: ON_CLUSTER });
  const env = new FleetEnv(params);
  try {
    await env.run();
  } finally {
    await env.stop();
    await stopBackends();
  }
  report(env.result(), params, opts.quick);
}

class FleetEnv {
  readonly anchor = takeAnchor();
  readonly fleet: Fleet;
  /** Every Redis node: CPU and memory are summed over them. */
  readonly redis = ON_CLUSTER ? REDIS_CLUSTER_PORTS.map((port) => new Redis(port, '127.0.0.1')) : [new Redis(REDIS_URL)];
  pods: Pod[] = [];
  app!: AppSide;
  publishers: Worker[] = [];
  rows: Row[] = [];
  ramps: Array<Ramp & { label: string; redisBytesPerDevice: number; rssBytesPerDevice: number }> = [];
  kill?: KillResult;
  newPodReadySeconds?: number;
  /** A pod's RSS before any device, and that of the new pod once it loaded every session. */
  emptyPodRssBytes = NaN;
  newPodRssBytes = NaN;
  persistentSessionsInRedis = 0;

  constructor(private readonly params: Params) {
    this.fleet = new Fleet(this.anchor, params.payloadBytes);
  }

  async run(): Promise<void> {
    const { small, large, slots, persistentShare, fanOut } = this.params;
    this.app = await AppSide.start(this.anchor);
    await this.addPods(small.pods);
    this.emptyPodRssBytes = procRssBytes(this.pods[0]!.child.pid!);
    const perSlot = Math.round(small.devices / slots);
    const first = { persistent: Math.round(perSlot * persistentShare), fanOut: Math.ceil(fanOut / slots) };
    await this.connect(`${fmt(perSlot * slots)} devices on ${small.pods} pods`, 'a', perSlot, first);
    // RocketMQ's JVM and the pods' JIT warm up on the first traffic: not in the first row.
    await this.uplinkPhase(this.params.rates.uplink, this.params.warmupMs * 3);
    await this.appPhase(() => `/p2p/${this.fleet.randomDevice()}`, this.params.rates.p2p);
    await this.measureRow(`${fmt(this.fleet.devices)} devices, ${small.pods} pods`);

    await this.fleet.disconnectAll();
    await this.addPods(large.pods - small.pods);
    await this.connect(`the same ${fmt(perSlot * slots)} again, on ${large.pods} pods`, 'a', perSlot, first);
    await this.measureRow(`${fmt(this.fleet.devices)} devices, ${large.pods} pods`);

    // BENCH_FLEET_ONLY=pods: the two rows that compare pod counts, no more (a before/after of P2P routing).
    if (process.env.BENCH_FLEET_ONLY === 'pods') return;
    const more = Math.round((large.devices - small.devices) / slots);
    const half = Math.round(more * persistentShare);
    await this.connect(`+${fmt((more - half) * slots)} clean sessions`, 'b', more - half, { persistent: 0, fanOut: 0 });
    await this.connect(`+${fmt(half * slots)} persistent sessions`, 'c', half, { persistent: half, fanOut: 0 });
    await this.measureRow(`${fmt(this.fleet.devices)} devices, ${large.pods} pods`);

    this.kill = await this.killOnePod();
    this.persistentSessionsInRedis = this.fleet.groups.reduce((n, g) => n + g.persistent, 0);
    await this.settled();
    this.newPodReadySeconds = await this.newPodReady();
  }

  /** Until Redis and the pods are back near idle after the storm (its backlog done), at most 90 s: the new pod starts on a quiet service. */
  private async settled(): Promise<void> {
    const t0 = Date.now();
    for (;;) {
      const cpu = await this.cpuPerSecond(2_000);
      const busy = cpu.redis + cpu.pods.reduce((a, b) => a + b, 0);
      if (busy < 0.3 || Date.now() - t0 > 90_000) {
        log(`after the storm: ${round2((Date.now() - t0) / 1000)} s until Redis and the pods use ${round2(busy * 100)} % of a core`);
        return;
      }
    }
  }

  private async addPods(n: number): Promise<void> {
    this.pods.push(...(await Promise.all(Array.from({ length: n }, () => startPod(BRIDGE, PARENTS, POD_LIMITS)))));
    await Promise.all(this.publishers.splice(0).map((w) => w.stop()));
    this.publishers = await Promise.all(this.pods.map((pod, i) => this.publisher(pod.mqttPort, `up${this.pods.length}p${i}`)));
  }

  private async publisher(port: number, name: string, tag?: number): Promise<Worker> {
    const w = new Worker(name);
    await w.setup({ role: 'pub', port, hosts: loopbackHosts(2), connections: PUBLISHERS_PER_POD, clientIdPrefix: `GID_fleet@@@${name}`, topic: `${DEVICE_PARENT}/up`, qos: 1, payloadBytes: this.params.payloadBytes, anchor: this.anchor, window: 4, ...(tag ? { tag, reconnect: { minDelayMs: 500, maxDelayMs: 5_000 } } : {}) });
    return w;
  }

  /** Connects a batch of devices (slot s on pod s mod pods) and books what it cost. */
  private async connect(label: string, chunk: string, perSlot: number, opts: { persistent: number; fanOut: number }): Promise<void> {
    const [mem0, rss0] = [await this.redisMemory(), this.podsRss()];
    const ramp = await this.fleet.connect(chunk, this.params.slots, perSlot, { ...opts, podOf: (s) => s % this.pods.length, ports: this.pods.map((p) => p.mqttPort) });
    await sleep(2_000); // presence and expiry writes settle
    const [mem1, rss1] = [await this.redisMemory(), this.podsRss()];
    this.ramps.push({ label, ...ramp, redisBytesPerDevice: (mem1 - mem0) / ramp.devices, rssBytesPerDevice: (rss1 - rss0) / ramp.devices });
    log(`${label}: ${fmt(ramp.devices)} in ${round2(ramp.seconds)} s (${fmt(ramp.perSecond)}/s; per pod ${ramp.perPodPerSecond.map(fmt).join(', ')}/s)`);
  }

  private async measureRow(label: string): Promise<void> {
    // BENCH_FLEET_ONLY=kill: the fleet is connected and a pod killed, no traffic rows (a before/after of connect pacing).
    if (process.env.BENCH_FLEET_ONLY === 'kill') return;
    const idle = await this.cpuPerSecond(this.params.measureMs);
    const { rates, measureMs } = this.params;
    const uplink = await this.flowOf(idle, () => this.uplinkPhase(rates.uplink, measureMs));
    const p2p = await this.flowOf(idle, () => this.appPhase((_n) => `/p2p/${this.fleet.randomDevice()}`, rates.p2p));
    const command = await this.flowOf(idle, () => this.appPhase((_n) => commandTopicOf(this.fleet.randomDevice()), rates.command));
    const fanOut = await this.flowOf(idle, () => this.appPhase(() => FAN_OUT_SECOND, rates.fanOut, 1));
    this.rows.push({ label, pods: this.pods.length, devices: this.fleet.devices, idleCpuPercent: { redis: idle.redis * 100, pods: idle.pods.reduce((a, b) => a + b, 0) * 100 }, flows: { uplink, p2p, command, fanOut } });
    const f = (x: FlowResult) => `${fmt(x.flow.deliveredPerSec)}/s p99 ${fmtUs(x.flow.p99Us)} Redis ${round2(x.cpuMsPer1k.redis)} ms/1k`;
    log(`${label}: uplink ${f(uplink)}; P2P ${f(p2p)}; command ${f(command)}; fan-out ${f(fanOut)}`);
  }

  /** Runs one phase between two CPU readings; the idle CPU is taken off. */
  private async flowOf(idle: Cpu, phase: () => Promise<{ flow: Flow; sentPerSec: number; seconds: number; loadgen: number; between: [Cpu, Cpu] }>): Promise<FlowResult> {
    const r = await phase();
    const [a, b] = r.between;
    const perK = (used: number, idlePerSec: number) => ((used - idlePerSec * r.seconds) * 1e6) / Math.max(1, r.flow.count);
    const podsUsed = b.pods.reduce((s, x, i) => s + (x - a.pods[i]!), 0);
    return {
      flow: r.flow,
      sentPerSec: r.sentPerSec,
      cpuMsPer1k: { redis: perK(b.redis - a.redis, idle.redis), pods: perK(podsUsed, idle.pods.reduce((s, x) => s + x, 0)) },
      cpuPercent: { redis: ((b.redis - a.redis) / r.seconds) * 100, pods: b.pods.map((x, i) => ((x - a.pods[i]!) / r.seconds) * 100), loadgen: r.loadgen * 100 },
      loadAverage: os.loadavg()[0]!,
    };
  }

  private async uplinkPhase(rate: number, measureMs: number) {
    this.publishers.forEach((w) => w.send({ type: 'publish', rate: rate / this.publishers.length }));
    await sleep(this.params.warmupMs);
    this.app.mark('/up');
    for (const w of this.publishers) w.send({ type: 'mark' });
    const cpu0 = await this.cpuNow();
    const t0 = Date.now();
    await sleep(measureMs);
    const cpu1 = await this.cpuNow();
    const seconds = (Date.now() - t0) / 1000;
    const got = this.app.collect();
    const sent = combine(await Promise.all(this.publishers.map((w) => w.collect())));
    await Promise.all(this.publishers.map((w) => w.request({ type: 'halt' }, 'halted')));
    await drained([], this.app);
    return { flow: got, sentPerSec: sent.sent / seconds, seconds, loadgen: sent.cpu.reduce((a, b) => a + b, 0), between: [cpu0, cpu1] as [Cpu, Cpu] };
  }

  private async appPhase(second: (n: number) => string, rate: number, inFlight = 16) {
    const sending = this.app.send(second, inFlight, this.params.payloadBytes, rate);
    await sleep(this.params.warmupMs);
    this.fleet.mark();
    const sent0 = this.app.sent;
    const cpu0 = await this.cpuNow();
    const t0 = Date.now();
    await sleep(this.params.measureMs);
    const cpu1 = await this.cpuNow();
    const seconds = (Date.now() - t0) / 1000;
    const { all } = await this.fleet.collect();
    const sentPerSec = (this.app.sent - sent0) / seconds;
    await this.app.stopSending(sending);
    await drained(this.fleet.workers());
    return { flow: flow(all), sentPerSec, seconds, loadgen: all.cpu.reduce((a, b) => a + b, 0), between: [cpu0, cpu1] as [Cpu, Cpu] };
  }

  /**
   * kill -9 of the last pod while devices publish to RocketMQ on every pod and the application
   * sends P2P to persistent sessions: its devices reconnect to the others (jittered), and every
   * acknowledged message must arrive (the app's P2P, on the device's next connection at the latest).
   */
  private async killOnePod(): Promise<KillResult> {
    const victim = this.pods.length - 1;
    const traced = await Promise.all(this.pods.map((pod, i) => this.publisher(pod.mqttPort, `kill${i}`, KILL_UPLINK_TAG * 100 + i)));
    const rate = this.params.rates.killUplink / traced.length;
    traced.forEach((w) => w.send({ type: 'publish', rate }));
    const targets = new Map<number, string>();
    const target = (n: number) => {
      const device = this.fleet.randomDevice(true);
      targets.set(n, device);
      return `/p2p/${device}`;
    };
    // cleansessionflag=false: kept for the target while it is offline (the default, true, is online targets only).
    const sending = this.app.send(target, 16, this.params.payloadBytes, this.params.rates.killP2p, KILL_P2P_TAG, { cleansessionflag: 'false' });
    const others = (p: number) => p !== victim;
    const window = async (during: () => Promise<void>) => {
      this.fleet.mark();
      this.app.mark('/up');
      await during();
      return { p2p: flow((await this.fleet.collect(others)).all), uplink: this.app.collect() };
    };
    const before = await window(() => sleep(this.params.measureMs));
    const movers = [...this.fleet.workers(victim), traced[victim]!];
    const devicesOnKilledPod = this.fleet.groups.filter((g) => g.pod === victim).reduce((n, g) => n + g.connections, 0);
    let storm = { seconds: NaN, failedAttempts: 0 };
    let replacementReadySeconds = NaN;
    let replacement: Promise<Pod> | undefined;
    const during = await window(async () => {
      const t0 = Date.now();
      const live = this.pods.slice(0, victim);
      this.pods[victim]!.child.kill('SIGKILL');
      const endpoints = new Endpoints(live, movers);
      replacement = startPod(BRIDGE, PARENTS, POD_LIMITS).then((pod) => {
        replacementReadySeconds = (Date.now() - t0) / 1000;
        endpoints.add(pod);
        return pod;
      });
      storm = await reconnected(this.fleet.workers(victim), devicesOnKilledPod);
      endpoints.stop();
    });
    const killed = this.pods[victim]!;
    this.pods[victim] = await replacement!;
    await killed.stop();
    log(`kill -9: ${fmt(devicesOnKilledPod)} devices back in ${round2(storm.seconds)} s (replacement ready after ${round2(replacementReadySeconds)} s); others' P2P p99 ${fmtUs(before.p2p.p99Us)} → ${fmtUs(during.p2p.p99Us)}`);
    traced.forEach((w) => w.send({ type: 'halt' }));
    await this.app.stopSending(sending);
    const losses = await this.losses(traced, targets, victim);
    await Promise.all(traced.map((w) => w.stop()));
    return { devicesOnKilledPod, replacementReadySeconds, reconnectSeconds: storm.seconds, reconnectsPerSec: devicesOnKilledPod / storm.seconds, failedAttempts: storm.failedAttempts, before, during, ...losses };
  }

  /** Waits until every acknowledged message arrived, or 90 s (RocketMQ redelivers what the dead pod held after its invisible duration). */
  private async losses(traced: Worker[], targets: Map<number, string>, victim: number) {
    const acked = combineIds((await Promise.all(traced.map((w) => w.collect()))).map((s) => s.ackedIds ?? []));
    const sentP2p = new Set(this.app.sentIds.filter((id) => Math.floor(id / 2 ** 32) === KILL_P2P_TAG));
    let lost = { uplink: acked.size, p2p: sentP2p.size };
    let missingP2p: number[] = [...sentP2p];
    for (let i = 0; i < 90 && (lost.uplink > 0 || lost.p2p > 0); i++) {
      await sleep(1_000);
      const atApp = new Set(this.app.receivedIds);
      const atDevices = combineIds((await this.fleet.collect()).raw.map((s) => s.receivedIds ?? []));
      missingP2p = [...sentP2p].filter((id) => !atDevices.has(id));
      lost = { uplink: [...acked].filter((id) => !atApp.has(id)).length, p2p: missingP2p.length };
    }
    log(`kill -9: uplink ${fmt(acked.size)} acknowledged, ${lost.uplink} lost; P2P to persistent sessions ${fmt(sentP2p.size)} sent, ${lost.p2p} lost`);
    log(`kill -9: session store writes the live pods had refused (mqbridge_session_store_degraded_total): ${JSON.stringify(await this.storeRefusals())}`);
    if (lost.p2p > 0) {
      log(`kill -9: where the lost P2P messages are: ${JSON.stringify(await this.whereLost(missingP2p, targets, victim))}`);
      // The same look at a few delivered ones: what a healthy target looks like in Redis.
      const delivered = [...sentP2p].filter((id) => !missingP2p.includes(id)).slice(0, 5);
      log(`kill -9: for comparison, delivered ones: ${JSON.stringify(await this.whereLost(delivered, targets, victim))}`);
      // Devices that never were on the killed pod should not have lost their connection at all.
      const stayers = (await this.fleet.collect((p) => p !== victim)).raw;
      const closed = stayers.reduce((n, st) => n + st.reconnects.closed, 0);
      const reopened = stayers.reduce((n, st) => n + st.reconnects.reopened, 0);
      log(`kill -9: devices of the other pods: ${fmt(closed)} connections closed, ${fmt(reopened)} reopened`);
    }
    return { uplink: { acked: acked.size, lost: lost.uplink }, p2pToPersistent: { sent: sentP2p.size, lost: lost.p2p } };
  }

  /** mqbridge_session_store_degraded_total of the pods that run now, summed by operation. */
  private async storeRefusals(): Promise<Record<string, number>> {
    const sums: Record<string, number> = {};
    for (const pod of this.pods) {
      const text = await fetch(`http://127.0.0.1:${pod.httpPort}/metrics`).then((r) => r.text(), () => '');
      for (const m of text.matchAll(/^mqbridge_session_store_degraded_total\{operation="([^"]+)"\} (\S+)$/gm)) sums[m[1]!] = (sums[m[1]!] ?? 0) + Number(m[2]);
    }
    return sums;
  }

  /** For P2P messages that did not arrive: the target's pod, presence and offline queue in Redis. */
  private async whereLost(ids: number[], targets: Map<number, string>, victim: number): Promise<Record<string, number>> {
    const db = ON_CLUSTER ? new Cluster(REDIS_CLUSTER_PORTS.map((port) => ({ host: '127.0.0.1', port }))) : this.redis[0]!;
    const prefix = `mqbridge:${BRIDGE}:`;
    const counts: Record<string, number> = {};
    for (const id of ids.slice(0, 300)) {
      const device = targets.get(id % 2 ** 32)!;
      const group = this.fleet.groups.find((g) => device.startsWith(`${g.prefix}-`));
      const key = encodeURIComponent(device);
      const presence = await db.get(`${prefix}presence:${key}`);
      const alive = presence !== null && (await db.exists(`${prefix}pod:${presence}`)) === 1;
      const queue = await db.lrange(`${prefix}outgoing:${key}`, 0, -1);
      // aedes-persistence-redis keeps a persistent session's subscriptions in `client:<id>`.
      const session = (await db.exists(`${prefix}client:${key}`)) === 1;
      let queued = false;
      for (const packetKey of queue) {
        const buf = await db.getBuffer(prefix + packetKey);
        const packet = buf && (msgpack.decode(buf) as { payload?: Buffer });
        if (packet?.payload && Buffer.isBuffer(packet.payload) && tracedId(packet.payload) === id) queued = true;
      }
      const bucket = `${group?.pod === victim ? 'was on killed pod' : 'other pod'}, presence ${presence === null ? 'none' : alive ? 'live' : 'dead'}, session ${session ? 'stored' : 'none'}, ${queued ? 'in its queue' : 'not in its queue'} (queue ${queue.length > 0 ? 'not empty' : 'empty'})`;
      counts[bucket] = (counts[bucket] ?? 0) + 1;
    }
    if (db !== this.redis[0]) db.disconnect();
    return counts;
  }

  private async newPodReady(): Promise<number> {
    const t0 = Date.now();
    const pod = await startPod(BRIDGE, PARENTS, POD_LIMITS);
    const seconds = (Date.now() - t0) / 1000;
    await sleep(2_000);
    this.newPodRssBytes = procRssBytes(pod.child.pid!);
    await pod.stop();
    log(`a new pod with ${fmt(this.persistentSessionsInRedis)} persistent sessions in Redis: ready in ${round2(seconds)} s`);
    return seconds;
  }

  private async redisMemory(): Promise<number> {
    const infos = await Promise.all(this.redis.map((node) => node.info('memory')));
    return infos.reduce((sum, info) => sum + Number(/used_memory:(\d+)/.exec(info)?.[1] ?? NaN), 0);
  }

  private podsRss(): number {
    return this.pods.reduce((n, p) => n + procRssBytes(p.child.pid!), 0);
  }

  private async cpuNow(): Promise<Cpu> {
    const infos = await Promise.all(this.redis.map((node) => node.info('cpu')));
    const field = (info: string, name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? NaN);
    const redis = infos.reduce((sum, info) => sum + field(info, 'used_cpu_user') + field(info, 'used_cpu_sys'), 0);
    return { redis, pods: this.pods.map((p) => procCpuSeconds(p.child.pid!)) };
  }

  private async cpuPerSecond(ms: number): Promise<Cpu> {
    const a = await this.cpuNow();
    const t0 = Date.now();
    await sleep(ms);
    const b = await this.cpuNow();
    const seconds = (Date.now() - t0) / 1000;
    return { redis: (b.redis - a.redis) / seconds, pods: b.pods.map((x, i) => (x - a.pods[i]!) / seconds) };
  }

  result() {
    return { rows: this.rows, ramps: this.ramps, kill: this.kill, newPod: { persistentSessionsInRedis: this.persistentSessionsInRedis, readySeconds: this.newPodReadySeconds, rssBytes: this.newPodRssBytes, emptyPodRssBytes: this.emptyPodRssBytes } };
  }

  async stop(): Promise<void> {
    await this.fleet.disconnectAll().catch(() => undefined);
    await Promise.all(this.publishers.map((w) => w.stop().catch(() => undefined)));
    await this.app?.stop();
    await Promise.all(this.pods.map((p) => p.stop()));
    await Promise.all(this.redis.map((node) => node.quit().catch(() => undefined)));
  }
}

type Cpu = { redis: number; pods: number[] };

/**
 * What a Kubernetes Service does for reconnecting devices: new connections go to ready pods
 * only (a full pod is not ready). Polls every pod's /readyz each second and tells the
 * reconnecting load generators which ports to use.
 */
class Endpoints {
  private readonly timer: NodeJS.Timeout;
  private last = '';

  constructor(
    private readonly pods: Pod[],
    private readonly workers: Worker[],
  ) {
    this.timer = setInterval(() => void this.update(), 1_000);
    void this.update();
  }

  add(pod: Pod): void {
    this.pods.push(pod);
    void this.update();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async update(): Promise<void> {
    const ready = await Promise.all(this.pods.map((p) => fetch(`http://127.0.0.1:${p.httpPort}/readyz`).then((r) => r.ok, () => false)));
    // None ready: keep trying them all, as a Service with no ready endpoint would refuse anyway.
    const ports = this.pods.filter((_, i) => ready[i]).map((p) => p.mqttPort);
    const chosen = ports.length > 0 ? ports : this.pods.map((p) => p.mqttPort);
    if (chosen.join() === this.last) return;
    this.last = chosen.join();
    for (const w of this.workers) w.send({ type: 'retarget', ports: chosen });
  }
}

function combineIds(lists: number[][]): Set<number> {
  const ids = new Set<number>();
  for (const list of lists) for (const id of list) ids.add(id);
  return ids;
}

/** Polls the killed pod's device workers until all of its devices are connected again (at most 120 s). */
async function reconnected(workers: Worker[], devices: number): Promise<{ seconds: number; failedAttempts: number }> {
  for (let i = 0; i < 1_200; i++) {
    await sleep(100);
    const stats = await Promise.all(workers.map((w) => w.collect()));
    const closed = stats.reduce((n, s) => n + s.reconnects.closed, 0);
    const reopened = stats.reduce((n, s) => n + s.reconnects.reopened, 0);
    if (closed >= devices && reopened >= closed) {
      const first = Math.min(...stats.map((s) => s.reconnects.firstClosedUs));
      const last = Math.max(...stats.map((s) => s.reconnects.lastReopenedUs));
      return { seconds: (last - first) / 1e6, failedAttempts: stats.reduce((n, s) => n + s.reconnects.failedAttempts, 0) };
    }
  }
  return { seconds: NaN, failedAttempts: NaN };
}

function report(result: ReturnType<FleetEnv['result']>, params: Params, quick: boolean): void {
  const { rows, ramps, kill, newPod } = result;
  printTable(
    ['connect', 'devices', 'seconds', 'connects/s', 'per pod /s', 'bridge RSS per device', 'Redis memory per device'],
    ramps.map((r) => [r.label, fmt(r.devices), String(round2(r.seconds)), fmt(r.perSecond), r.perPodPerSecond.map(fmt).join(', '), `${round2(r.rssBytesPerDevice / 1024)} KB`, `${round2(r.redisBytesPerDevice / 1024)} KB`]),
  );
  // The same traffic with 10× the devices (rows 2 → 3), and on 3× the pods (rows 1 → 2): what grows shows here.
  const [fewPods, samePods, whole] = rows;
  const names = { uplink: 'device → RocketMQ', p2p: 'app → one device (P2P)', command: 'app → one device (command topic)', fanOut: `app → ${fmt(params.fanOut)} devices` } as const;
  const ratio = (r: Row, base: Row | undefined, k: keyof typeof names, of: 'redis' | 'pods') => (base ? `${round2(r.flows[k].cpuMsPer1k[of] / base.flows[k].cpuMsPer1k[of])}×` : '');
  printTable(
    ['row', 'flow', 'delivered/s', 'p50 / p99', 'Redis / pods CPU ms per 1k', 'CPU % Redis / pods / load gen.', 'load avg', 'Redis / pods CPU vs row before'],
    rows.flatMap((r) =>
      (Object.keys(names) as Array<keyof typeof names>).map((k) => {
        const f = r.flows[k];
        const base = r === whole ? samePods : r === samePods ? fewPods : undefined;
        return [r.label, names[k], fmt(f.flow.deliveredPerSec), `${fmtUs(f.flow.p50Us)} / ${fmtUs(f.flow.p99Us)}`, `${round2(f.cpuMsPer1k.redis)} / ${round2(f.cpuMsPer1k.pods)}`, `${Math.round(f.cpuPercent.redis)} / ${Math.round(f.cpuPercent.pods.reduce((a, b) => a + b, 0))} / ${Math.round(f.cpuPercent.loadgen)}`, String(round2(f.loadAverage)), base ? `${ratio(r, base, k, 'redis')} / ${ratio(r, base, k, 'pods')}` : ''];
      }),
    ),
  );
  if (kill) {
    printTable(
      ['kill -9', 'devices', 'replacement ready', 'all back in', 'reconnects/s', 'others P2P p99 before / during', 'uplink p99 before / during', 'uplink acked / lost', 'P2P to persistent sent / lost'],
      [['one pod', fmt(kill.devicesOnKilledPod), `${round2(kill.replacementReadySeconds)} s`, `${round2(kill.reconnectSeconds)} s`, fmt(kill.reconnectsPerSec), `${fmtUs(kill.before.p2p.p99Us)} / ${fmtUs(kill.during.p2p.p99Us)}`, `${fmtUs(kill.before.uplink.p99Us)} / ${fmtUs(kill.during.uplink.p99Us)}`, `${fmt(kill.uplink.acked)} / ${kill.uplink.lost}`, `${fmt(kill.p2pToPersistent.sent)} / ${kill.p2pToPersistent.lost}`]],
    );
  }
  console.log(`new pod with ${fmt(newPod.persistentSessionsInRedis)} persistent sessions in Redis: ready in ${round2(newPod.readySeconds ?? NaN)} s`);
  const variant = `${process.env.BENCH_FLEET_ONLY ? `.${process.env.BENCH_FLEET_ONLY}` : ''}${ON_CLUSTER ? '.redis-cluster' : ''}${POD_LIMITS.connectsPerSecond !== undefined ? `.paced-${POD_LIMITS.connectsPerSecond}` : ''}`;
  writeResult(`fleet${variant}`, quick, { machine: machine(), parameters: params, redis: ON_CLUSTER ? '3-node Cluster' : 'single node', connectsPerSecond: POD_LIMITS.connectsPerSecond ?? 'default', ...result });
}
