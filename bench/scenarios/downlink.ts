/**
 * downlink: a RocketMQ producer → bridge → MQTT subscribers (QoS 1, 64-byte bodies), against a
 * direct SimpleConsumer with the bridge's receive settings on the same broker. Each phase has
 * its own topic and a fresh bridge bound to it only, so a backlog left by a max-rate phase
 * never reaches the next one.
 */
import { takeAnchor } from '../lib/clock.js';
import { Histogram } from '../lib/histogram.js';
import { fmt, fmtUs, latencySummary, machine, packageVersion, pct, printTable, round2, writeResult } from '../lib/output.js';
import { procCpuSeconds, sleep } from '../lib/proc.js';
import { combine, loopbackHosts, Worker } from '../loadgen/index.js';
import { RmqClient } from '../rmq/index.js';
import { startBridge, type RunningBridge } from '../env/bridge.js';
import { rocketmq, type Rocketmq } from '../env/rocketmq.js';

const PORTS = { mqtt: 21201, http: 21202 };
// The bridge's defaults (bridge/config/schema.ts), used by the direct consumer too.
const RECEIVE = { receivers: 2, batchSize: 32, longPollingMs: 20_000, invisibleDurationMs: 30_000 };

interface PhaseSpec {
  name: string;
  topic: string;
  side: 'bridge' | 'direct';
  subscribers: number;
  /** RocketMQ msgs/s the producer sends; 0 = max. */
  rate: number;
}

interface Phase extends PhaseSpec {
  producedPerSec: number;
  /** Messages taken from RocketMQ per second (bridge: deliveries ÷ subscribers). */
  consumedPerSec: number;
  deliveredPerSec: number;
  latencyUs: ReturnType<typeof latencySummary>;
  cpu: { bridge?: number; broker: number; producer: number; consumers: number[] };
  errors: string[];
}

type Params = { payloadBytes: number; producerConcurrency: number; warmupMs: number; measureMs: number };

export async function run(opts: { quick: boolean }): Promise<void> {
  const fanOut = opts.quick ? 100 : 1000;
  const steadyRate = 1000;
  const params = {
    payloadBytes: 64,
    qos: 1,
    producerConcurrency: 64,
    fanOutSubscribers: fanOut,
    steadyDeliveredPerSec: steadyRate,
    receiveSettings: RECEIVE,
    warmupMs: opts.quick ? 1000 : 2000,
    measureMs: opts.quick ? 1500 : 8000,
  };
  // A suffix per run keeps phases apart even on a RocketMQ kept across runs.
  const run = Date.now().toString(36).slice(-4).toUpperCase();
  const specs: PhaseSpec[] = [
    { name: 'direct max', topic: `BD_DIRECT_MAX_${run}`, side: 'direct', subscribers: 0, rate: 0 },
    { name: 'bridge max, 1 subscriber', topic: `BD_ONE_MAX_${run}`, side: 'bridge', subscribers: 1, rate: 0 },
    { name: `bridge max, ${fanOut} subscribers`, topic: `BD_FAN_MAX_${run}`, side: 'bridge', subscribers: fanOut, rate: 0 },
    { name: `direct at ${steadyRate}/s`, topic: `BD_DIRECT_STEADY_${run}`, side: 'direct', subscribers: 0, rate: steadyRate },
    { name: `bridge at ${steadyRate}/s, 1 subscriber`, topic: `BD_ONE_STEADY_${run}`, side: 'bridge', subscribers: 1, rate: steadyRate },
    // The same delivered rate spread over the fan-out: one RocketMQ message reaches every subscriber.
    { name: `bridge at ${steadyRate} delivered/s, ${fanOut} subscribers`, topic: `BD_FAN_STEADY_${run}`, side: 'bridge', subscribers: fanOut, rate: steadyRate / fanOut },
  ];
  const machineInfo = machine();
  const rmq = await rocketmq({ topics: specs.map((s) => `${s.topic}:NORMAL`), groups: ['BENCH_DOWN_DIRECT', 'BENCH_DOWN_BRIDGE'] });
  const phases: Phase[] = [];
  for (const spec of specs) {
    const p = await runPhase(rmq, spec, params);
    process.stderr.write(
      `[downlink] ${p.name}: produced ${fmt(p.producedPerSec)}/s consumed ${fmt(p.consumedPerSec)}/s delivered ${fmt(p.deliveredPerSec)}/s p50 ${fmtUs(p.latencyUs.p50)} p99 ${fmtUs(p.latencyUs.p99)}\n`,
    );
    phases.push(p);
  }
  const by = (n: number) => phases[n]!;
  const ratios = {
    consumedOneSubscriber: round2(by(1).consumedPerSec / by(0).consumedPerSec),
    consumedFanOut: round2(by(2).consumedPerSec / by(0).consumedPerSec),
    p99OneSubscriberVsDirect: round2(by(4).latencyUs.p99 / by(3).latencyUs.p99),
  };
  const targets = {
    consumedRatioAtLeast: 0.8,
    p99AtMostUs: 20_000,
    met: { consumedOneSubscriber: ratios.consumedOneSubscriber >= 0.8, consumedFanOut: ratios.consumedFanOut >= 0.8, p99OneSubscriber: by(4).latencyUs.p99 <= 20_000, p99FanOut: by(5).latencyUs.p99 <= 20_000 },
  };
  printTable(
    ['phase', 'produced/s', 'consumed/s', 'delivered/s', 'p50', 'p99', 'CPU bridge / broker'],
    phases.map((p) => [p.name, fmt(p.producedPerSec), fmt(p.consumedPerSec), p.side === 'bridge' ? fmt(p.deliveredPerSec) : '-', fmtUs(p.latencyUs.p50), fmtUs(p.latencyUs.p99), `${p.cpu.bridge === undefined ? '-' : pct(p.cpu.bridge)} / ${pct(p.cpu.broker)}`]),
  );
  console.log(`ratios bridge/direct consumed: 1 subscriber ${ratios.consumedOneSubscriber}, ${fanOut} subscribers ${ratios.consumedFanOut} (target ≥ 0.8)`);
  writeResult('downlink', opts.quick, {
    machine: machineInfo,
    versions: { rocketmq: rmq.version, rocketmqClient: packageVersion('rocketmq-client-nodejs'), aedes: packageVersion('aedes') },
    parameters: params,
    results: { phases, ratios, targets },
  });
}

async function runPhase(rmq: Rocketmq, spec: PhaseSpec, params: Params): Promise<Phase> {
  const anchor = takeAnchor();
  const producer = new RmqClient('downlink-producer');
  const parent = spec.topic.toLowerCase();
  let bridge: RunningBridge | undefined;
  let direct: RmqClient | undefined;
  const subs: Worker[] = [];
  try {
    if (spec.side === 'direct') {
      direct = new RmqClient('downlink-direct');
      await direct.setup({ role: 'consume', endpoints: rmq.endpoints, topic: spec.topic, group: 'BENCH_DOWN_DIRECT', anchor, ...RECEIVE });
    } else {
      bridge = await startBridge({
        name: 'bench-downlink',
        mqttPort: PORTS.mqtt,
        httpPort: PORTS.http,
        endpoints: rmq.endpoints,
        consumerGroup: 'BENCH_DOWN_BRIDGE',
        bindings: [{ mqttParentTopic: parent, rocketmqTopic: spec.topic, direction: 'RocketmqToMqtt' }],
      });
      const workers = spec.subscribers > 200 ? 2 : 1;
      const per = Math.ceil(spec.subscribers / workers);
      for (let w = 0; w < workers; w++) subs.push(new Worker(`downlink-sub${w}`));
      await Promise.all(
        subs.map((s, w) =>
          s.setup({ role: 'sub', port: PORTS.mqtt, hosts: loopbackHosts(8), connections: Math.min(per, spec.subscribers - w * per), clientIdPrefix: `${parent}-w${w}`, topic: `${parent}/t`, qos: 1, payloadBytes: params.payloadBytes, anchor, window: 100 }),
        ),
      );
    }
    await producer.setup({ role: 'produce', endpoints: rmq.endpoints, topic: spec.topic, payloadBytes: params.payloadBytes, concurrency: params.producerConcurrency, anchor, properties: { mqttSecondTopic: '/t' } });
    // The consumer side starts its receivers in the background: give them a moment.
    await sleep(1000);
    producer.send({ type: 'start', rate: spec.rate });
    await sleep(params.warmupMs);
    for (const c of [producer, direct]) c?.send({ type: 'mark' });
    for (const s of subs) s.send({ type: 'mark' });
    const c0 = { bridge: bridge?.cpuSeconds() ?? 0, broker: procCpuSeconds(rmq.brokerPid) };
    await sleep(params.measureMs);
    const p = await producer.collect();
    const d = direct ? await direct.collect() : undefined;
    const s = subs.length ? combine(await Promise.all(subs.map((w) => w.collect()))) : undefined;
    const secs = p.elapsedUs / 1e6;
    const latency = new Histogram();
    if (d) latency.merge(d.latency);
    const received = d ? d.received : s!.received;
    const h = s ? s.latency : latency;
    await producer.halt();
    return {
      ...spec,
      producedPerSec: p.sent / secs,
      consumedPerSec: d ? received / secs : received / spec.subscribers / secs,
      deliveredPerSec: received / secs,
      latencyUs: latencySummary(h),
      cpu: {
        ...(bridge ? { bridge: round2((bridge.cpuSeconds() - c0.bridge) / secs) } : {}),
        broker: round2((procCpuSeconds(rmq.brokerPid) - c0.broker) / secs),
        producer: round2((p.cpuUserUs + p.cpuSystemUs) / p.elapsedUs),
        consumers: d ? [round2((d.cpuUserUs + d.cpuSystemUs) / d.elapsedUs)] : s!.cpu.map(round2),
      },
      errors: [...p.errors, ...(d?.errors ?? []), ...(s?.errors ?? [])],
    };
  } finally {
    await Promise.all([producer.stop(), direct?.stop(), ...subs.map((w) => w.stop())]);
    await bridge?.stop();
  }
}
