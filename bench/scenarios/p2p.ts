/**
 * p2p: an application sends RocketMQ messages with mqttSecondTopic=/p2p/<clientId>, each to
 * one device among 10,000 connected ones (round-robin), at 1,000 msgs/s; the devices never
 * subscribe (the bridge routes P2P to each client's private inbox). Latency: body timestamp
 * → PUBLISH read by the device.
 */
import { takeAnchor } from '../lib/clock.js';
import { fmt, fmtUs, latencySummary, machine, packageVersion, pct, printTable, round2, writeResult } from '../lib/output.js';
import { procCpuSeconds, sleep } from '../lib/proc.js';
import { combine, loopbackHosts, Worker } from '../loadgen/index.js';
import { RmqClient } from '../rmq/index.js';
import { startBridge } from '../env/bridge.js';
import { rocketmq } from '../env/rocketmq.js';

const PORTS = { mqtt: 21301, http: 21302 };

export async function run(opts: { quick: boolean }): Promise<void> {
  const params = {
    devices: opts.quick ? 1000 : 10_000,
    deviceWorkers: 2,
    rate: 1000,
    payloadBytes: 64,
    qos: 1,
    producerConcurrency: 64,
    // The bridge's default; four made no difference the noise would show (docs/benchmarks.md).
    bridgeReceiversPerTopic: Number(process.env.BENCH_P2P_RECEIVERS ?? 2),
    warmupMs: opts.quick ? 1000 : 2000,
    measureMs: opts.quick ? 2000 : 10_000,
  };
  const topic = `BENCH_P2P_${Date.now().toString(36).slice(-4).toUpperCase()}`;
  const parent = topic.toLowerCase();
  const machineInfo = machine();
  const rmq = await rocketmq({ topics: [`${topic}:NORMAL`], groups: ['BENCH_P2P_BRIDGE'] });
  const bridge = await startBridge({
    name: 'bench-p2p',
    mqttPort: PORTS.mqtt,
    httpPort: PORTS.http,
    endpoints: rmq.endpoints,
    consumerGroup: 'BENCH_P2P_BRIDGE',
    rocketmq: { receiversPerTopic: params.bridgeReceiversPerTopic },
    bindings: [{ mqttParentTopic: parent, rocketmqTopic: topic, direction: 'RocketmqToMqtt' }],
  });
  const anchor = takeAnchor();
  const devices: Worker[] = [];
  const producer = new RmqClient('p2p-producer');
  let result: Record<string, unknown>;
  try {
    const per = Math.ceil(params.devices / params.deviceWorkers);
    const ids: string[] = [];
    for (let w = 0; w < params.deviceWorkers; w++) {
      devices.push(new Worker(`p2p-dev${w}`));
      const n = Math.min(per, params.devices - w * per);
      for (let i = 0; i < n; i++) ids.push(`GID_bench@@@d${w}-${i}`);
    }
    const rss0 = bridge.rssBytes();
    const t0 = Date.now();
    await Promise.all(
      devices.map((d, w) =>
        d.setup({ role: 'sub', subscribe: false, port: PORTS.mqtt, hosts: loopbackHosts(8), connections: Math.min(per, params.devices - w * per), clientIdPrefix: `GID_bench@@@d${w}`, topic: '', qos: 1, payloadBytes: params.payloadBytes, anchor, window: 1 }),
      ),
    );
    const connectSeconds = (Date.now() - t0) / 1000;
    const rss1 = bridge.rssBytes();
    await producer.setup({ role: 'produce', endpoints: rmq.endpoints, topic, payloadBytes: params.payloadBytes, concurrency: params.producerConcurrency, anchor, properties: { mqttSecondTopic: '/p2p/{target}' }, targets: ids });
    await sleep(1000);
    producer.send({ type: 'start', rate: params.rate });
    await sleep(params.warmupMs);
    producer.send({ type: 'mark' });
    for (const d of devices) d.send({ type: 'mark' });
    const c0 = { bridge: bridge.cpuSeconds(), broker: procCpuSeconds(rmq.brokerPid) };
    await sleep(params.measureMs);
    const p = await producer.collect();
    const s = combine(await Promise.all(devices.map((d) => d.collect())));
    const secs = p.elapsedUs / 1e6;
    await producer.halt();
    result = {
      connected: s.connections,
      connectSeconds: round2(connectSeconds),
      bridgeRssBytes: { beforeConnect: rss0, connected: rss1 },
      producedPerSec: p.sent / secs,
      deliveredPerSec: s.received / s.seconds,
      latencyUs: latencySummary(s.latency),
      cpu: { bridge: round2((bridge.cpuSeconds() - c0.bridge) / secs), broker: round2((procCpuSeconds(rmq.brokerPid) - c0.broker) / secs), producer: round2((p.cpuUserUs + p.cpuSystemUs) / p.elapsedUs), devices: s.cpu.map(round2) },
      errors: [...p.errors, ...s.errors],
    };
  } finally {
    await Promise.all([producer.stop(), ...devices.map((d) => d.stop())]);
    await bridge.stop();
  }
  const lat = result.latencyUs as ReturnType<typeof latencySummary>;
  const cpu = result.cpu as { bridge: number; broker: number };
  const targets = { p99AtMostUs: 20_000, met: { p99: lat.p99 <= 20_000 } };
  printTable(
    ['devices', 'produced/s', 'delivered/s', 'p50', 'p99', 'CPU bridge / broker'],
    [[fmt(result.connected as number), fmt(result.producedPerSec as number), fmt(result.deliveredPerSec as number), fmtUs(lat.p50), fmtUs(lat.p99), `${pct(cpu.bridge)} / ${pct(cpu.broker)}`]],
  );
  writeResult('p2p', opts.quick, {
    machine: machineInfo,
    versions: { rocketmq: rmq.version, rocketmqClient: packageVersion('rocketmq-client-nodejs'), aedes: packageVersion('aedes') },
    parameters: { ...params, topic, bridgeConfig: bridge.config },
    results: { ...result, targets },
  });
}
