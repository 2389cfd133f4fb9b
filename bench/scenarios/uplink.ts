/**
 * uplink: devices → bridge → RocketMQ, QoS 1, 64-byte payloads. Max PUBACKs/s at saturation
 * and PUBACK latency at 50 % of it, against a direct rocketmq-client-nodejs producer with the
 * same concurrency (one send in flight per device: the bridge sends each device's messages
 * one after another to keep their order) on the same broker, at the same rates. The bridge
 * coalesces the devices' sends into batch requests; a second bridge sending one request per
 * message shows what that is worth.
 */
import { takeAnchor } from '../lib/clock.js';
import { Histogram } from '../lib/histogram.js';
import { fmt, fmtUs, latencySummary, machine, packageVersion, pct, printTable, round2, writeResult } from '../lib/output.js';
import { procCpuSeconds, settle, sleep } from '../lib/proc.js';
import { combine, loopbackHosts, Worker } from '../loadgen/index.js';
import { RmqClient } from '../rmq/index.js';
import { startBridge, type RunningBridge } from '../env/bridge.js';
import { rocketmq, type Rocketmq } from '../env/rocketmq.js';

const TOPIC = 'BENCH_UP';
const PORTS = { mqtt: 21101, http: 21102 };
const BRIDGE_NAME = 'bench-uplink';

interface Phase {
  side: 'bridge' | 'direct';
  rate: number; // asked msgs/s, 0 = max
  ackedPerSec: number;
  latencyUs: ReturnType<typeof latencySummary>;
  cpu: { bridge?: number; broker: number; loadgen: number[] };
  errors: string[];
}

export async function run(opts: { quick: boolean }): Promise<void> {
  const params = {
    devices: opts.quick ? 16 : 64,
    qos: 1 as const,
    payloadBytes: 64,
    mqttTopic: 'bench_up/dev',
    rocketmqTopic: TOPIC,
    mqttWindowPerDevice: 100,
    warmupMs: opts.quick ? 500 : 2000,
    measureMs: opts.quick ? 1500 : 8000,
    steadyFraction: 0.5,
  };
  const machineInfo = machine();
  const rmq = await rocketmq({ topics: [`${TOPIC}:NORMAL`] });
  const log = (p: Phase) =>
    process.stderr.write(`[uplink] ${p.side} rate ${p.rate || 'max'}: ${fmt(p.ackedPerSec)}/s p50 ${fmtUs(p.latencyUs.p50)} p99 ${fmtUs(p.latencyUs.p99)}\n`);
  // The broker JVM is cold after start-up (JIT, routes, page cache of a new topic): a short
  // unmeasured run first. The bridge as configured by default (batched sends) comes first.
  await direct(rmq, { ...params, measureMs: params.warmupMs }, 0);
  const batched = await withBridge(rmq, {}, async (bridge) => {
    await viaBridge(bridge, rmq, { ...params, measureMs: params.warmupMs }, 0);
    const bMax = log1(await viaBridge(bridge, rmq, params, 0));
    const dMax = log1(await direct(rmq, params, 0));
    // Latency side by side at a rate both sustain; and the bridge at half its own max.
    const rate = Math.max(10, Math.round(Math.min(bMax.ackedPerSec, dMax.ackedPerSec) * params.steadyFraction));
    const bSteady = log1(await viaBridge(bridge, rmq, params, rate));
    const dSteady = log1(await direct(rmq, params, rate));
    const ownRate = Math.max(10, Math.round(bMax.ackedPerSec * params.steadyFraction));
    const bOwnSteady = ownRate > rate * 1.2 ? log1(await viaBridge(bridge, rmq, params, ownRate)) : bSteady;
    return { bMax, dMax, bSteady, dSteady, bOwnSteady };
  });
  // The same bridge sending one request per message (`rocketmq.sendBatch.maxMessages: 1`).
  const single = await withBridge(rmq, { sendBatch: { maxMessages: 1 } }, (bridge) => viaBridge(bridge, rmq, params, 0).then(log1));

  const { bMax, dMax, bSteady, dSteady, bOwnSteady } = batched;
  const ratios = {
    throughput: round2(bMax.ackedPerSec / dMax.ackedPerSec),
    throughputSingleSends: round2(single.ackedPerSec / dMax.ackedPerSec),
    p99: round2(bSteady.latencyUs.p99 / dSteady.latencyUs.p99),
    p50: round2(bSteady.latencyUs.p50 / dSteady.latencyUs.p50),
  };
  const targets = { throughputRatioAtLeast: 0.8, p99RatioAtMost: 2, met: { throughput: ratios.throughput >= 0.8, p99: ratios.p99 <= 2 } };
  printTable(
    ['side', 'max msgs/s', 'CPU bridge / broker / client', 'steady msgs/s', 'p50', 'p99'],
    [
      [bMax, bSteady],
      [dMax, dSteady],
      [bMax, bOwnSteady],
      [single, undefined],
    ].map(([m, s], i) => [
      ['bridge', 'direct', 'bridge (own half)', 'bridge, single sends'][i]!,
      fmt(m!.ackedPerSec),
      `${m!.cpu.bridge === undefined ? '-' : pct(m!.cpu.bridge)} / ${pct(m!.cpu.broker)} / ${m!.cpu.loadgen.map(pct).join('+')}`,
      s ? fmt(s.ackedPerSec) : '-',
      s ? fmtUs(s.latencyUs.p50) : '-',
      s ? fmtUs(s.latencyUs.p99) : '-',
    ]),
  );
  console.log(`ratios bridge/direct: throughput ${ratios.throughput} (target ≥ 0.8; single sends ${ratios.throughputSingleSends}), p99 ${ratios.p99} (target ≤ 2)`);
  writeResult('uplink', opts.quick, {
    machine: machineInfo,
    versions: { rocketmq: rmq.version, rocketmqClient: packageVersion('rocketmq-client-nodejs'), aedes: packageVersion('aedes') },
    parameters: { ...params, bridgeConfig: BRIDGE_CONFIG },
    results: { phases: [bMax, dMax, bSteady, dSteady, bOwnSteady, single], ratios, targets },
  });

  function log1(p: Phase): Phase {
    log(p);
    return p;
  }
}

const BRIDGE_CONFIG = {
  name: BRIDGE_NAME,
  mqttPort: PORTS.mqtt,
  httpPort: PORTS.http,
  consumerGroup: 'BENCH_UPLINK_UNUSED',
  bindings: [{ mqttParentTopic: 'bench_up', rocketmqTopic: TOPIC, direction: 'MqttToRocketmq' as const }],
};

async function withBridge<T>(rmq: Rocketmq, rocketmqSettings: Record<string, unknown>, body: (bridge: RunningBridge) => Promise<T>): Promise<T> {
  const bridge = await startBridge({ ...BRIDGE_CONFIG, endpoints: rmq.endpoints, rocketmq: rocketmqSettings });
  try {
    return await body(bridge);
  } finally {
    await bridge.stop();
  }
}

async function viaBridge(bridge: RunningBridge, rmq: Rocketmq, params: { devices: number; qos: 1; payloadBytes: number; mqttTopic: string; mqttWindowPerDevice: number; warmupMs: number; measureMs: number }, rate: number): Promise<Phase> {
  const pub = new Worker('uplink-pub');
  try {
    await pub.setup({
      role: 'pub',
      port: bridge.mqttPort,
      hosts: loopbackHosts(8),
      connections: params.devices,
      clientIdPrefix: `up${rate}`,
      topic: params.mqttTopic,
      qos: params.qos,
      payloadBytes: params.payloadBytes,
      anchor: takeAnchor(),
      window: params.mqttWindowPerDevice,
    });
    pub.send({ type: 'publish', rate });
    await sleep(params.warmupMs);
    pub.send({ type: 'mark' });
    const c0 = [bridge.cpuSeconds(), procCpuSeconds(rmq.brokerPid)];
    await sleep(params.measureMs);
    const stats = combine([await pub.collect()]);
    const secs = stats.seconds;
    const cpu = { bridge: round2((bridge.cpuSeconds() - c0[0]!) / secs), broker: round2((procCpuSeconds(rmq.brokerPid) - c0[1]!) / secs), loadgen: stats.cpu.map(round2) };
    await pub.request({ type: 'halt' }, 'halted');
    return { side: 'bridge', rate, ackedPerSec: stats.ackLatency.count / secs, latencyUs: latencySummary(stats.ackLatency), cpu, errors: stats.errors };
  } finally {
    await pub.stop();
    await settle(bridge.pid);
  }
}

async function direct(rmq: Rocketmq, params: { devices: number; payloadBytes: number; warmupMs: number; measureMs: number }, rate: number): Promise<Phase> {
  const client = new RmqClient('uplink-direct');
  try {
    // The same messages the bridge produces: the contract's user properties (qoslevel,
    // cleansessionflag, mqttSecondTopic, clientId) and the bridge's origin mark. The broker
    // spends measurably more per message with them.
    const properties = { qoslevel: '1', cleansessionflag: 'true', mqttSecondTopic: '/dev', clientId: '{target}', mqbridgeOrigin: BRIDGE_NAME };
    const targets = Array.from({ length: params.devices }, (_, i) => `up-${i}`);
    await client.setup({ role: 'produce', endpoints: rmq.endpoints, topic: TOPIC, payloadBytes: params.payloadBytes, concurrency: params.devices, anchor: takeAnchor(), properties, targets });
    client.send({ type: 'start', rate });
    await sleep(params.warmupMs);
    client.send({ type: 'mark' });
    const b0 = procCpuSeconds(rmq.brokerPid);
    await sleep(params.measureMs);
    const s = await client.collect();
    const secs = s.elapsedUs / 1e6;
    const h = new Histogram();
    h.merge(s.latency);
    await client.halt();
    return {
      side: 'direct',
      rate,
      ackedPerSec: s.sent / secs,
      latencyUs: latencySummary(h),
      cpu: { broker: round2((procCpuSeconds(rmq.brokerPid) - b0) / secs), loadgen: [round2((s.cpuUserUs + s.cpuSystemUs) / s.elapsedUs)] },
      errors: s.errors,
    };
  } finally {
    await client.stop();
    await settle(rmq.brokerPid, 5000);
  }
}
