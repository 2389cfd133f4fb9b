/**
 * pile-up: what cross-pod traffic costs as a fleet of persistent sessions piles up. Two bridge
 * processes of one bridge on one Redis and RocketMQ; 40 devices on pod B publish QoS 1 to a
 * subscriber on pod A, first with no other device connected, then with idle persistent
 * sessions connected to pod A (each has its P2P inbox subscription, as every persistent
 * session does). Per row: the same traffic as fast as it goes (delivered/s), then at a fixed
 * rate for latency and for the CPU each process spends per delivered message. Nothing in
 * the per-message path may grow with the number of connected devices: the table shows the
 * ratio of each cost to the row without idle sessions.
 */
import { Redis } from 'ioredis';
import { takeAnchor } from '../lib/clock.js';
import { fmt, fmtUs, machine, printTable, round2, writeResult } from '../lib/output.js';
import { procCpuSeconds, procRssBytes, sleep } from '../lib/proc.js';
import { combine, loopbackHosts, Worker } from '../loadgen/index.js';
import type { WorkerConfig } from '../loadgen/protocol.js';
import { drained, flow, type Flow } from './scale-out.js';
import { REDIS_URL, startBackends, startPod, stopBackends, type Pod } from './scale-out-env.js';

const PARENT = 'bnch';
const PUBLISHERS = 40;
/** Idle connections per load-generator process. */
const PER_WORKER = 5_000;
const log = (s: string) => process.stderr.write(`[pile-up] ${s}\n`);

interface Row {
  idleSessions: number;
  /** Idle persistent sessions connected per second while they were added (this row's ones). */
  sessionConnectsPerSec: number;
  redisPatterns: number;
  redisChannels: number;
  redisMemoryBytes: number;
  podRssBytes: number[];
  max: Flow;
  steady: Flow;
  /** CPU used with no traffic, in % of a core: the part not counted per message. */
  idleCpuPercent: { redis: number; pods: number[] };
  /** CPU milliseconds per 1,000 delivered messages in the steady phase, beyond the idle CPU. */
  cpuMsPer1kMessages: { redis: number; podA: number; podB: number };
  /** A third pod started now, with this many persistent sessions in Redis: seconds until /readyz is 200. */
  newPodReadySeconds?: number;
  errors: string[];
}

type Params = { sessionSteps: number[]; steadyRate: number; warmupMs: number; measureMs: number; window: number; payloadBytes: number };

export async function run(opts: { quick: boolean }): Promise<void> {
  const params: Params = {
    sessionSteps: opts.quick ? [0, 1_000] : [0, 5_000, 10_000],
    steadyRate: 200,
    warmupMs: opts.quick ? 500 : 3_000,
    measureMs: opts.quick ? 2_000 : 10_000,
    window: 4,
    payloadBytes: 64,
  };
  await startBackends(log);
  const redis = new Redis(REDIS_URL);
  const rows: Row[] = [];
  const workers: Worker[] = [];
  const pods = await Promise.all([startPod('bench-pile-up', { device: PARENT, app: 'bnfa' }), startPod('bench-pile-up', { device: PARENT, app: 'bnfa' })]);
  try {
    const [podA, podB] = pods as [Pod, Pod];
    const anchor = takeAnchor();
    const base = { hosts: loopbackHosts(4), qos: 1 as const, payloadBytes: params.payloadBytes, anchor, window: params.window, topic: `${PARENT}/d2d` };
    const start = async (cfg: Omit<WorkerConfig, 'anchor' | 'hosts' | 'qos' | 'payloadBytes' | 'window' | 'topic'> & { topic?: string }, tag: string) => {
      const w = new Worker(tag);
      workers.push(w);
      await w.setup({ ...base, ...cfg });
      return w;
    };
    const sub = await start({ role: 'sub', port: podA.mqttPort, connections: 1, clientIdPrefix: 'GID_pile@@@sub' }, 'sub');
    const pub = await start({ role: 'pub', port: podB.mqttPort, connections: PUBLISHERS, clientIdPrefix: 'GID_pile@@@pub' }, 'pub');
    // The broker's JVM and the pods' JIT warm up on the first traffic: not in the first row.
    pub.send({ type: 'publish', rate: 0 });
    await sleep(params.warmupMs * 4);
    await pub.request({ type: 'halt' }, 'halted');
    await drained([sub]);
    let idle = 0;
    for (const target of params.sessionSteps) {
      const t0 = Date.now();
      for (let w = 0; idle < target; w++) {
        const n = Math.min(PER_WORKER, target - idle);
        await start({ role: 'sub', subscribe: false, clean: false, port: podA.mqttPort, connections: n, clientIdPrefix: `GID_pile@@@idle${idle}`, connectConcurrency: 128 }, `idle${idle}`);
        idle += n;
      }
      const added = target - (rows.at(-1)?.idleSessions ?? 0);
      const sessionConnectsPerSec = added > 0 ? added / ((Date.now() - t0) / 1000) : 0;
      log(`${fmt(idle)} idle persistent sessions on pod A (${fmt(sessionConnectsPerSec)}/s while adding)`);
      await sleep(2_000);
      const row = await measureRow(idle, sessionConnectsPerSec, { redis, pods, sub, pub }, params);
      row.newPodReadySeconds = await newPodReadySeconds();
      rows.push(row);
      const r = rows.at(-1)!;
      log(`  max ${fmt(r.max.deliveredPerSec)}/s; at ${params.steadyRate}/s p50 ${fmtUs(r.steady.p50Us)} p99 ${fmtUs(r.steady.p99Us)}; Redis ${round2(r.cpuMsPer1kMessages.redis)} ms CPU per 1k`);
    }
  } finally {
    await Promise.all(workers.map((w) => w.stop().catch(() => undefined)));
    await Promise.all(pods.map((p) => p.stop()));
    await redis.quit().catch(() => undefined);
    await stopBackends();
  }
  report(rows, params, opts.quick);
}

async function measureRow(idleSessions: number, sessionConnectsPerSec: number, env: { redis: Redis; pods: Pod[]; sub: Worker; pub: Worker }, params: Params): Promise<Row> {
  const { redis, pods, sub, pub } = env;
  // What Redis and the pods spend without traffic (timers, key expiry, keep-alives) is not the messages' cost.
  const idle = await cpuPerSecond(redis, pods, params.measureMs);
  const phase = async (rate: number) => {
    pub.send({ type: 'publish', rate });
    await sleep(params.warmupMs);
    const cpu0 = await cpuNow(redis, pods);
    const t0 = Date.now();
    for (const w of [pub, sub]) w.send({ type: 'mark' });
    await sleep(params.measureMs);
    const published = combine([await pub.collect()]);
    const delivered = flow(combine([await sub.collect()]));
    const cpu1 = await cpuNow(redis, pods);
    const seconds = (Date.now() - t0) / 1000;
    await pub.request({ type: 'halt' }, 'halted');
    await drained([sub]);
    const perK = (a: number, b: number, idlePerSec: number) => ((b - a - idlePerSec * seconds) * 1e6) / Math.max(1, delivered.count);
    const cpu = { redis: perK(cpu0.redis, cpu1.redis, idle.redis), podA: perK(cpu0.pods[0]!, cpu1.pods[0]!, idle.pods[0]!), podB: perK(cpu0.pods[1]!, cpu1.pods[1]!, idle.pods[1]!) };
    return { delivered, errors: published.errors, cpu };
  };
  const max = await phase(0);
  const steady = await phase(params.steadyRate);
  const pubsub = { patterns: Number(await redis.call('PUBSUB', 'NUMPAT')), channels: ((await redis.call('PUBSUB', 'CHANNELS')) as string[]).length };
  const memory = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? NaN);
  return {
    idleSessions,
    sessionConnectsPerSec,
    redisPatterns: pubsub.patterns,
    redisChannels: pubsub.channels,
    redisMemoryBytes: memory,
    podRssBytes: pods.map((p) => procRssBytes(p.child.pid!)),
    idleCpuPercent: { redis: idle.redis * 100, pods: idle.pods.map((x) => x * 100) },
    max: max.delivered,
    steady: steady.delivered,
    cpuMsPer1kMessages: steady.cpu,
    errors: [...max.errors, ...steady.errors],
  };
}

async function cpuPerSecond(redis: Redis, pods: Pod[], ms: number): Promise<{ redis: number; pods: number[] }> {
  const a = await cpuNow(redis, pods);
  const t0 = Date.now();
  await sleep(ms);
  const b = await cpuNow(redis, pods);
  const seconds = (Date.now() - t0) / 1000;
  return { redis: (b.redis - a.redis) / seconds, pods: b.pods.map((x, i) => (x - a.pods[i]!) / seconds) };
}

async function newPodReadySeconds(): Promise<number> {
  const t0 = Date.now();
  const pod = await startPod('bench-pile-up', { device: PARENT, app: 'bnfa' });
  const seconds = (Date.now() - t0) / 1000;
  await pod.stop();
  return seconds;
}

/** CPU seconds used so far by Redis (its own INFO) and by each pod process. */
async function cpuNow(redis: Redis, pods: Pod[]): Promise<{ redis: number; pods: number[] }> {
  const info = await redis.info('cpu');
  const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? NaN);
  return { redis: field('used_cpu_user') + field('used_cpu_sys'), pods: pods.map((p) => procCpuSeconds(p.child.pid!)) };
}

function report(rows: Row[], params: Params, quick: boolean): void {
  const first = rows[0]!;
  const ratio = (x: number, base: number) => (base > 0 ? `${round2(x / base)}×` : '-');
  printTable(
    ['idle persistent sessions', 'new pod ready', 'max delivered/s', `p50 / p99 at ${params.steadyRate}/s`, 'Redis CPU ms per 1k msgs', 'pod A / pod B CPU ms per 1k', 'idle CPU Redis / A / B', 'Redis patterns / channels', 'vs no sessions (max, p99, Redis CPU)'],
    rows.map((r) => [
      fmt(r.idleSessions),
      `${round2(r.newPodReadySeconds ?? NaN)} s`,
      fmt(r.max.deliveredPerSec),
      `${fmtUs(r.steady.p50Us)} / ${fmtUs(r.steady.p99Us)}`,
      String(round2(r.cpuMsPer1kMessages.redis)),
      `${round2(r.cpuMsPer1kMessages.podA)} / ${round2(r.cpuMsPer1kMessages.podB)}`,
      [r.idleCpuPercent.redis, ...r.idleCpuPercent.pods].map((x) => `${round2(x)} %`).join(' / '),
      `${fmt(r.redisPatterns)} / ${fmt(r.redisChannels)}`,
      r === first ? '' : `${ratio(r.max.deliveredPerSec, first.max.deliveredPerSec)}, ${ratio(r.steady.p99Us, first.steady.p99Us)}, ${ratio(r.cpuMsPer1kMessages.redis, first.cpuMsPer1kMessages.redis)}`,
    ]),
  );
  writeResult('pile-up', quick, { machine: machine(), parameters: params, rows });
}
