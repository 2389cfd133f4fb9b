/**
 * mqtt-engine: the bridge's MQTT engine (aedes as the bridge configures it, no auth, no
 * RocketMQ) against Mosquitto. For 1→1 and 1→N fan-out, QoS 0 and 1, 64-byte payloads:
 * delivered msgs/s at max rate, then p50/p99 end-to-end latency at 50 % of that rate.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { takeAnchor } from '../lib/clock.js';
import { machine } from '../lib/output.js';
import { combine, loopbackHosts, Worker, type GroupStats } from '../loadgen/index.js';
import type { WorkerConfig } from '../loadgen/protocol.js';
import { startAedes, startMosquitto, type RunningBroker } from './brokers.js';

export interface Options {
  quick: boolean;
}

interface Case {
  pattern: '1-to-1' | 'fan-out';
  subscribers: number;
  qos: 0 | 1;
}

interface PhaseResult {
  publisherRate: number; // msgs/s asked of the publisher (0 = max)
  sentPerSec: number;
  deliveredPerSec: number;
  deliveredRatio: number; // received / (sent × subscribers)
  latencyUs: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number; count: number };
  loadgenCpu: { publisher: number[]; subscribers: number[] };
  brokerCpu: number;
  errors: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function run(opts: Options): Promise<void> {
  const params = {
    payloadBytes: 64,
    fanOutSubscribers: opts.quick ? 100 : 1000,
    warmupMs: opts.quick ? 300 : 1000,
    measureMs: opts.quick ? 1000 : 5000,
    steadyFraction: 0.5,
    loopbackDestinations: 8,
    subscriberWorkers: { '1-to-1': 1, 'fan-out': 2 },
    publisherConnections: 1,
    qos1PublisherWindow: 100,
    workerKind: 'child_process.fork',
  };
  const cases: Case[] = [];
  for (const pattern of ['1-to-1', 'fan-out'] as const) {
    for (const qos of [0, 1] as const) cases.push({ pattern, qos, subscribers: pattern === '1-to-1' ? 1 : params.fanOutSubscribers });
  }

  const machineInfo = machine();
  const results: Array<{ broker: string; version: string; case: Case; max: PhaseResult; steady: PhaseResult }> = [];
  const brokerInfo: Record<string, unknown> = {};
  for (const start of [startAedes, startMosquitto]) {
    const broker = await start();
    brokerInfo[broker.name] = { version: broker.version, config: broker.config };
    try {
      for (const c of cases) {
        process.stderr.write(`[mqtt-engine] ${broker.name} ${c.pattern} QoS ${c.qos} (${c.subscribers} subs)…\n`);
        const r = await runCase(broker, c, params);
        results.push({ broker: broker.name, version: broker.version, case: c, ...r });
        process.stderr.write(
          `  max ${fmt(r.max.deliveredPerSec)} delivered/s; steady ${fmt(r.steady.deliveredPerSec)}/s p50 ${r.steady.latencyUs.p50} µs p99 ${r.steady.latencyUs.p99} µs\n`,
        );
      }
    } finally {
      await broker.stop();
    }
  }

  printTable(results);
  const out = {
    scenario: 'mqtt-engine',
    date: new Date().toISOString(),
    quick: opts.quick,
    machine: machineInfo,
    brokers: brokerInfo,
    parameters: params,
    results,
  };
  const dir = fileURLToPath(new URL('../../../bench/results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = `${dir}mqtt-engine${opts.quick ? '.quick' : ''}.json`;
  writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
  process.stderr.write(`[mqtt-engine] wrote ${file}\n`);
}

async function runCase(
  broker: RunningBroker,
  c: Case,
  params: { payloadBytes: number; warmupMs: number; measureMs: number; steadyFraction: number; loopbackDestinations: number; subscriberWorkers: Record<Case['pattern'], number>; qos1PublisherWindow: number },
): Promise<{ max: PhaseResult; steady: PhaseResult }> {
  const anchor = takeAnchor();
  const topic = `bench/${c.pattern}/q${c.qos}`;
  const base: Omit<WorkerConfig, 'role' | 'connections' | 'clientIdPrefix'> = {
    port: broker.port,
    hosts: loopbackHosts(params.loopbackDestinations),
    topic,
    qos: c.qos,
    payloadBytes: params.payloadBytes,
    anchor,
    window: params.qos1PublisherWindow,
  };
  const nSubWorkers = params.subscriberWorkers[c.pattern];

  // Each phase gets fresh connections: a max-rate QoS 0 run leaves a backlog in socket buffers
  // and broker queues that would otherwise show up as latency in the next phase.
  const phase = async (publisherRate: number): Promise<PhaseResult> => {
    const subs: Worker[] = [];
    const pub = new Worker('pub');
    try {
      for (let w = 0; w < nSubWorkers; w++) subs.push(new Worker(`sub${w}`));
      const per = Math.ceil(c.subscribers / nSubWorkers);
      await Promise.all(
        subs.map((s, w) => s.setup({ ...base, role: 'sub', connections: Math.min(per, c.subscribers - w * per), clientIdPrefix: `s${c.pattern[0]}${c.qos}w${w}` })),
      );
      await pub.setup({ ...base, role: 'pub', connections: 1, clientIdPrefix: `p${c.pattern[0]}${c.qos}` });
      pub.send({ type: 'publish', rate: publisherRate });
      await sleep(params.warmupMs);
      for (const w of [pub, ...subs]) w.send({ type: 'mark' });
      const cpu0 = broker.cpuSeconds();
      await sleep(params.measureMs);
      const [p, ...s] = await Promise.all([pub.collect(), ...subs.map((w) => w.collect())]);
      const brokerCpu = (broker.cpuSeconds() - cpu0) / (p!.elapsedUs / 1e6);
      await pub.request({ type: 'halt' }, 'halted');
      return summarize(combine([p!]), combine(s), c.subscribers, publisherRate, brokerCpu);
    } finally {
      await Promise.all([pub, ...subs].map((w) => w.stop()));
      await settle(broker);
    }
  };
  const max = await phase(0);
  const steadyRate = Math.max(1, Math.round((max.deliveredPerSec * params.steadyFraction) / c.subscribers));
  const steady = await phase(steadyRate);
  return { max, steady };
}

/** Waits until the broker is idle again (under 5 % of a core over 200 ms, at most 15 s). */
async function settle(broker: RunningBroker): Promise<void> {
  for (let i = 0; i < 75; i++) {
    const c0 = broker.cpuSeconds();
    await sleep(200);
    if (broker.cpuSeconds() - c0 < 0.01) return;
  }
}

function summarize(pub: GroupStats, subs: GroupStats, subscribers: number, publisherRate: number, brokerCpu: number): PhaseResult {
  const h = subs.latency;
  return {
    publisherRate,
    sentPerSec: pub.sent / pub.seconds,
    deliveredPerSec: subs.received / subs.seconds,
    deliveredRatio: pub.sent ? subs.received / (pub.sent * subscribers) : 0,
    latencyUs: { p50: h.percentile(50), p90: h.percentile(90), p99: h.percentile(99), p999: h.percentile(99.9), max: h.max, mean: Math.round(h.mean()), count: h.count },
    loadgenCpu: { publisher: pub.cpu.map(round2), subscribers: subs.cpu.map(round2) },
    brokerCpu: round2(brokerCpu),
    errors: [...pub.errors, ...subs.errors],
  };
}

const round2 = (x: number) => Math.round(x * 100) / 100;

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function fmtUs(us: number): string {
  if (!Number.isFinite(us)) return '-';
  return us >= 10_000 ? `${(us / 1000).toFixed(0)} ms` : us >= 1000 ? `${(us / 1000).toFixed(1)} ms` : `${Math.round(us)} µs`;
}

function printTable(results: Array<{ broker: string; case: Case; max: PhaseResult; steady: PhaseResult }>): void {
  const head = ['broker', 'case', 'QoS', 'max delivered/s', 'broker CPU', 'steady delivered/s', 'p50', 'p99', 'loadgen CPU pub/sub (max)'];
  const rows = results.map((r) => [
    r.broker,
    `${r.case.pattern} (${r.case.subscribers})`,
    String(r.case.qos),
    fmt(r.max.deliveredPerSec),
    `${Math.round(r.max.brokerCpu * 100)} %`,
    fmt(r.steady.deliveredPerSec),
    fmtUs(r.steady.latencyUs.p50),
    fmtUs(r.steady.latencyUs.p99),
    `${r.max.loadgenCpu.publisher.map((x) => `${Math.round(x * 100)}%`).join('+')} / ${r.max.loadgenCpu.subscribers.map((x) => `${Math.round(x * 100)}%`).join('+')}`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  console.log(line(head));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const r of rows) console.log(line(r));
}
