/** One section per scenario: a Markdown table and the charts, from its results JSON. */
import type { BarChart } from './chart.js';
import { short } from './chart.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- results JSON, read as written by the scenarios */
type Json = any;

export interface Section {
  table: string;
  charts: Array<{ file: string; chart: BarChart }>;
}

const n = (v: number) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '-');
const ms = (us: number) => (!Number.isFinite(us) ? '-' : us >= 10_000 ? `${(us / 1000).toFixed(0)} ms` : us >= 1000 ? `${(us / 1000).toFixed(1)} ms` : `${Math.round(us)} µs`);
const pct = (x: number) => (Number.isFinite(x) ? `${Math.round(x * 100)} %` : '-');
const met = (ok: boolean | undefined) => (ok === undefined ? '-' : ok ? '**met**' : '**not met**');
const table = (head: string[], rows: string[][]) => [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

export function context(r: Json): string {
  const m = r.machine ?? {};
  const load = m.loadAverageAtStart ? `; load average at start ${m.loadAverageAtStart.join(', ')}` : '';
  return `_${r.quick ? 'Quick run' : 'Run'} of ${String(r.date).slice(0, 16).replace('T', ' ')} UTC: ${m.cpus} cores, ${Math.round((m.totalMemBytes ?? 0) / 2 ** 30)} GiB, Node ${m.node ?? '?'}${load}._`;
}

export function uplink(r: Json): Section {
  const [bMax, dMax, bSteady, dSteady, bOwn, single] = r.results.phases;
  const { ratios, targets } = r.results;
  const cpu = (p: Json) => `${p.cpu.bridge === undefined ? '-' : pct(p.cpu.bridge)} / ${pct(p.cpu.broker)} / ${p.cpu.loadgen.map(pct).join('+')}`;
  const rows = [
    ['max msgs/s (PUBACKs / SEND_OKs)', n(bMax.ackedPerSec), n(dMax.ackedPerSec), String(ratios.throughput), `≥ 0.8: ${met(targets.met.throughput)}`],
    ['max msgs/s, bridge sending one request per message', n(single.ackedPerSec), '', String(ratios.throughputSingleSends), ''],
    [`p50 at ${n(bSteady.rate)} msgs/s`, ms(bSteady.latencyUs.p50), ms(dSteady.latencyUs.p50), String(ratios.p50), ''],
    [`p99 at ${n(bSteady.rate)} msgs/s`, ms(bSteady.latencyUs.p99), ms(dSteady.latencyUs.p99), String(ratios.p99), `≤ 2: ${met(targets.met.p99)}`],
    [`bridge p50 / p99 at ${n(bOwn.rate)} msgs/s (half its max)`, `${ms(bOwn.latencyUs.p50)} / ${ms(bOwn.latencyUs.p99)}`, '', '', ''],
    ['CPU at max: bridge / broker JVM / load', cpu(bMax), cpu(dMax), '', ''],
    ['CPU at max, one request per message', cpu(single), '', '', ''],
  ];
  return {
    table: table(['', 'bridge', `direct producer (${r.parameters.devices} in flight)`, 'bridge ÷ direct', 'target'], rows),
    charts: [
      {
        file: 'uplink-throughput',
        chart: {
          title: `uplink: max msgs/s, ${r.parameters.devices} devices vs ${r.parameters.devices} concurrent sends`,
          unit: 'msgs/s',
          groups: ['max rate'],
          series: [
            { name: 'bridge (batched sends)', values: [bMax.ackedPerSec] },
            { name: 'bridge, one request per message', values: [single.ackedPerSec] },
            { name: 'direct producer', values: [dMax.ackedPerSec] },
          ],
        },
      },
      {
        file: 'uplink-latency',
        chart: { title: `uplink: latency at ${n(bSteady.rate)} msgs/s (PUBACK vs SEND_OK)`, unit: 'ms', groups: ['p50', 'p90', 'p99'], series: [{ name: 'bridge', values: ['p50', 'p90', 'p99'].map((p) => bSteady.latencyUs[p] / 1000) }, { name: 'direct producer', values: ['p50', 'p90', 'p99'].map((p) => dSteady.latencyUs[p] / 1000) }] },
      },
    ],
  };
}

export function downlink(r: Json): Section {
  const phases: Json[] = r.results.phases;
  const { ratios, targets } = r.results;
  const rows = phases.map((p) => [p.name, n(p.producedPerSec), n(p.consumedPerSec), p.side === 'bridge' ? n(p.deliveredPerSec) : '-', ms(p.latencyUs.p50), ms(p.latencyUs.p99), `${p.cpu.bridge === undefined ? '-' : pct(p.cpu.bridge)} / ${pct(p.cpu.broker)}`]);
  const maxes = phases.filter((p) => p.rate === 0);
  const steady = phases.filter((p) => p.rate !== 0);
  const fan = r.parameters.fanOutSubscribers;
  const text =
    table(['phase', 'produced/s', 'consumed from RocketMQ/s', 'delivered to devices/s', 'p50', 'p99', 'CPU bridge / broker'], rows) +
    `\n\nbridge ÷ direct, messages consumed per second: 1 subscriber **${ratios.consumedOneSubscriber}** (target ≥ 0.8: ${met(targets.met.consumedOneSubscriber)}), ${n(fan)} subscribers **${ratios.consumedFanOut}** (${met(targets.met.consumedFanOut)}). ` +
    `p99 ≤ 20 ms at 1,000 msgs/s: 1 subscriber ${met(targets.met.p99OneSubscriber)}, 1,000 deliveries/s over ${n(fan)} subscribers ${met(targets.met.p99FanOut)}.`;
  return {
    table: text,
    charts: [
      { file: 'downlink-throughput', chart: { title: 'downlink: messages taken from RocketMQ per second at max rate', unit: 'msgs/s', groups: maxes.map((p) => p.name.replace(/, /, '\n')), series: [{ name: 'consumed/s', values: maxes.map((p) => p.consumedPerSec) }, { name: 'delivered/s', values: maxes.map((p) => (p.side === 'bridge' ? p.deliveredPerSec : NaN)) }], log: true } },
      { file: 'downlink-latency', chart: { title: 'downlink: end-to-end latency (RocketMQ send → device)', unit: 'ms', groups: steady.map((p) => p.name.replace(/, /, '\n')), series: [{ name: 'p50', values: steady.map((p) => p.latencyUs.p50 / 1000) }, { name: 'p99', values: steady.map((p) => p.latencyUs.p99 / 1000) }], line: { value: 20, label: 'target p99 20 ms' }, log: true } },
    ],
  };
}

export function p2p(r: Json): Section {
  const x = r.results;
  const rows = [[n(x.connected), `${n(x.connected / x.connectSeconds)}/s`, n(x.producedPerSec), n(x.deliveredPerSec), ms(x.latencyUs.p50), ms(x.latencyUs.p99), ms(x.latencyUs.p999), `${pct(x.cpu.bridge)} / ${pct(x.cpu.broker)}`, met(x.targets.met.p99)]];
  return {
    table: table(['devices connected', 'connect rate', 'sent/s', 'delivered/s', 'p50', 'p99', 'p99.9', 'CPU bridge / broker', 'p99 ≤ 20 ms'], rows),
    charts: [{ file: 'p2p-latency', chart: { title: `p2p: one device among ${n(x.connected)}, ${n(r.parameters.rate)} msgs/s asked`, unit: 'ms', groups: ['p50', 'p90', 'p99', 'p99.9'], series: [{ name: 'RocketMQ send → device', values: [x.latencyUs.p50, x.latencyUs.p90, x.latencyUs.p99, x.latencyUs.p999].map((v: number) => v / 1000) }], line: { value: 20, label: 'target p99 20 ms' }, log: true } }],
  };
}

export function idle(r: Json): Section {
  const rows: Json[] = r.results.rows;
  const mosq = rows.find((x) => x.server === 'mosquitto');
  const t = table(
    ['server', 'connections', 'connects/s', 'RSS growth ÷ connections', 'CPU while connecting', 'CPU idle', 'vs Mosquitto (connects/s, memory)'],
    rows.map((x) => [x.server, n(x.connections), n(x.connectsPerSec), `${(x.rssPerConnectionBytes / 1024).toFixed(1)} KB`, pct(x.cpuWhileConnecting), pct(x.cpuIdle), mosq && x !== mosq ? `${(x.connectsPerSec / mosq.connectsPerSec).toFixed(2)}×, ${(x.rssPerConnectionBytes / mosq.rssPerConnectionBytes).toFixed(1)}×` : '']),
  );
  const m = r.results.targets.met;
  const text = `${t}\n\nTargets (≥ 3,000 connects/s, ≤ 10 KB per connection): bridge as shipped: connect rate ${met(m.bridge?.connectRate)}, memory ${met(m.bridge?.memory)}; with \`--max-semi-space-size=2\`: connect rate ${met(m.bridgeSmallSemiSpace?.connectRate)}, memory ${met(m.bridgeSmallSemiSpace?.memory)}.`;
  const names = rows.map((x) => x.server.replace(', ', '\n').replace(' (bridge engine)', '\n(bridge engine)'));
  return {
    table: text,
    charts: [
      { file: 'idle-connect-rate', chart: { title: `idle: connect rate, ${n(rows[0]?.connections)} connections`, unit: 'connects/s', groups: names, series: [{ name: 'connects/s', values: rows.map((x) => x.connectsPerSec) }], line: { value: 3000, label: 'target 3,000/s' } } },
      { file: 'idle-memory', chart: { title: 'idle: RSS growth per connection', unit: 'KB per connection', groups: names, series: [{ name: 'KB / connection', values: rows.map((x) => x.rssPerConnectionBytes / 1024) }], line: { value: 10, label: 'target 10 KB' } } },
    ],
  };
}

export function operator(r: Json): Section {
  const x = r.results;
  const rows = [
    [`kubectl apply → first message (p50 / p99 of ${x.applyToFirstMessageUs.count})`, `${ms(x.applyToFirstMessageUs.p50)} / ${ms(x.applyToFirstMessageUs.p99)}`, '≤ 2 s', met(x.targets.met.applyToMessage)],
    [`${n(x.bulk.bindings)} TopicBindings applied → all Ready`, `${x.bulk.allReadySeconds} s (kubectl itself ${x.bulk.kubectlApplySeconds} s)`, '≤ 30 s', met(x.targets.met.bulk)],
    ['operator RSS (peak during the bulk apply / idle)', `${(x.operatorRssBytes.peakDuringBulk / 2 ** 20).toFixed(0)} MB / ${(x.operatorRssBytes.idle / 2 ** 20).toFixed(0)} MB`, '≤ 200 MB', met(x.targets.met.rss)],
    [`API writes in ${x.idleResync.windowSeconds} s of idle (${x.idleResync.reconciles} resync reconciles)`, String(x.idleResync.apiWrites), '0', met(x.targets.met.idleWrites)],
  ];
  const samples: number[] = x.applyToFirstMessageUs.samplesMs;
  return {
    table: table(['measure', 'result', 'target', ''], rows),
    charts: [{ file: 'operator-apply', chart: { title: 'operator: kubectl apply → first acknowledged message, per apply', unit: 'ms', groups: samples.map((_, i) => String(i + 1)), series: [{ name: 'ms', values: samples }], line: { value: 2000, label: 'target 2 s' } } }],
  };
}

const PROPAGATION_CLOCKS = [
  ['served', 'every pod serves it (follows its ConfigMap through the API)'],
  ['status', 'the operator’s status says so'],
  ['kubeletFile', 'the kubelet has refreshed the mounted file in every pod (the design before)'],
] as const;

export function nodePropagation(r: Json): Section {
  const x = r.results;
  const ops = ['add', 'change', 'remove'] as const;
  const clocks = PROPAGATION_CLOCKS.filter(([c]) => x.add[`${c}Us`]);
  const rows = clocks.map(([c, label]) => [label, ...ops.map((op) => `${ms(x[op][`${c}Us`].p50)} / ${ms(x[op][`${c}Us`].max)}`)]);
  const goal = `Every change served on every pod: p99 ${ms(x.servedEveryChangeUs.p99)} of ${x.servedEveryChangeUs.count} changes (goal ≤ 2 s: ${met(x.target.met)}).`;
  return {
    table: `${table(['TopicBinding … until (p50 / max)', 'added', 'changed', 'removed'], rows)}\n\n${goal}`,
    charts: [
      {
        file: 'node-propagation',
        chart: { title: 'node-propagation: a TopicBinding change in force on every pod, p50', unit: 'ms', groups: [...ops], series: clocks.map(([c]) => ({ name: c, values: ops.map((op) => x[op][`${c}Us`].p50 / 1000) })), line: { value: 2000, label: 'goal 2 s' }, log: true },
      },
    ],
  };
}

export function mqttEngine(r: Json): Section {
  const res: Json[] = r.results;
  const rows = res.map((x) => [x.broker, x.case.pattern === '1-to-1' ? '1 → 1' : `1 → ${n(x.case.subscribers)}`, String(x.case.qos), n(x.max.deliveredPerSec), pct(x.max.brokerCpu), n(x.steady.deliveredPerSec), ms(x.steady.latencyUs.p50), ms(x.steady.latencyUs.p99)]);
  const aedes = res.filter((x) => x.broker !== 'mosquitto');
  const ratio = aedes.map((a) => {
    const m = res.find((x) => x.broker === 'mosquitto' && x.case.pattern === a.case.pattern && x.case.qos === a.case.qos);
    return `${a.case.pattern} QoS ${a.case.qos} ${m ? (a.max.deliveredPerSec / m.max.deliveredPerSec).toFixed(2) : '-'}`;
  });
  const groups = aedes.map((a) => `${a.case.pattern === '1-to-1' ? '1 → 1' : '1 → ' + short(a.case.subscribers)}\nQoS ${a.case.qos}`);
  const mosq = aedes.map((a) => res.find((x) => x.broker === 'mosquitto' && x.case.pattern === a.case.pattern && x.case.qos === a.case.qos)?.max.deliveredPerSec ?? NaN);
  return {
    table: `${table(['broker', 'case', 'QoS', 'max delivered/s', 'broker CPU', 'steady delivered/s', 'p50', 'p99'], rows)}\n\nRatios, aedes ÷ Mosquitto, max delivered/s: ${ratio.join(', ')}.`,
    charts: [{ file: 'mqtt-engine', chart: { title: 'mqtt-engine: max delivered msgs/s', unit: 'msgs/s', groups, series: [{ name: 'aedes (bridge engine)', values: aedes.map((a) => a.max.deliveredPerSec) }, { name: 'mosquitto', values: mosq }] } }],
  };
}

const FLEET_FLOWS = [
  ['uplink', 'device → RocketMQ'],
  ['p2p', 'app → one device\n(P2P)'],
  ['command', 'app → one device\n(command topic)'],
  ['fanOut', 'app → many\n(fan-out)'],
] as const;

/** The fleet tables and charts; a variant (e.g. on a Redis Cluster) gets its tables and the Redis CPU chart, under its own file names. */
export function fleet(r: Json, variant?: { file: string; title: string }): Section {
  const rows: Json[] = r.rows;
  const k = r.kill;
  const kb = (b: number) => `${(b / 1024).toFixed(1)} KB`;
  const ramps = table(
    ['connect', 'devices', 'seconds', 'connects/s', 'per pod', 'bridge RSS per device', 'Redis memory per device'],
    r.ramps.map((x: Json) => [x.label, n(x.devices), String(Math.round(x.seconds * 10) / 10), n(x.perSecond), x.perPodPerSecond.map(n).join(', '), kb(x.rssBytesPerDevice), kb(x.redisBytesPerDevice)]),
  );
  const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}×` : '-');
  const flows = table(
    ['row', 'flow', 'delivered/s', 'p50 / p99', 'CPU ms per 1,000: Redis / pods', 'CPU Redis / pods / load gen.', 'load avg', 'Redis / pods CPU vs the row before'],
    rows.flatMap((row, i) =>
      FLEET_FLOWS.map(([key, name]) => {
        const f = row.flows[key];
        const prev = i > 0 ? rows[i - 1].flows[key] : undefined;
        const cpu = f.cpuPercent;
        return [row.label, name.replace('\n', ' '), n(f.flow.deliveredPerSec), `${ms(f.flow.p50Us)} / ${ms(f.flow.p99Us)}`, `${f.cpuMsPer1k.redis.toFixed(0)} / ${f.cpuMsPer1k.pods.toFixed(0)}`, `${Math.round(cpu.redis)} % / ${Math.round(cpu.pods.reduce((a: number, b: number) => a + b, 0))} % / ${Math.round(cpu.loadgen)} %`, f.loadAverage.toFixed(1), prev ? `${ratio(f.cpuMsPer1k.redis, prev.cpuMsPer1k.redis)} / ${ratio(f.cpuMsPer1k.pods, prev.cpuMsPer1k.pods)}` : ''];
      }),
    ),
  );
  const kill = k
    ? table(
        ['devices on the killed pod', 'replacement pod ready', 'all back', 'reconnects/s', 'failed attempts', 'other pods P2P p99 before / during', 'uplink p99 before / during', 'uplink acknowledged / lost', 'P2P to persistent sessions sent / lost'],
        [[n(k.devicesOnKilledPod), `${k.replacementReadySeconds.toFixed(1)} s`, `${k.reconnectSeconds.toFixed(1)} s`, n(k.reconnectsPerSec), n(k.failedAttempts), `${ms(k.before.p2p.p99Us)} / ${ms(k.during.p2p.p99Us)}`, `${ms(k.before.uplink.p99Us)} / ${ms(k.during.uplink.p99Us)}`, `${n(k.uplink.acked)} / ${k.uplink.lost}`, `${n(k.p2pToPersistent.sent)} / ${k.p2pToPersistent.lost}`]],
      )
    : '';
  const { newPod: np } = r;
  const trie = np.rssBytes > 0 ? `; its RSS then ${n(np.rssBytes / 2 ** 20)} MB against ${n(np.emptyPodRssBytes / 2 ** 20)} MB for a pod before any device, ${((np.rssBytes - np.emptyPodRssBytes) / np.persistentSessionsInRedis / 1024).toFixed(1)} KB per session it does not serve` : '';
  const newPod = `A new pod with ${n(np.persistentSessionsInRedis)} persistent sessions in Redis: ready in ${Number(np.readySeconds).toFixed(1)} s${trie}.`;
  const byRow = (value: (f: Json) => number) => rows.map((row) => ({ name: row.label, values: FLEET_FLOWS.map(([key]) => value(row.flows[key])) }));
  const groups = FLEET_FLOWS.map(([, name]) => name);
  const redisCpu = { title: 'Redis CPU per 1,000 delivered messages (must not grow with devices or pods)', unit: 'ms', groups, series: byRow((f) => f.cpuMsPer1k.redis) };
  const tables = [ramps, flows, kill, newPod].filter(Boolean).join('\n\n');
  if (variant) return { table: tables, charts: [{ file: `${variant.file}-redis-cpu`, chart: { ...redisCpu, title: `${variant.title}: ${redisCpu.title}` } }] };
  return {
    table: tables,
    charts: [
      { file: 'fleet-redis-cpu', chart: { ...redisCpu, title: `fleet: ${redisCpu.title}` } },
      { file: 'fleet-pods-cpu', chart: { title: 'fleet: CPU of all pods per 1,000 delivered messages', unit: 'ms', groups, series: byRow((f) => f.cpuMsPer1k.pods), log: true } },
      { file: 'fleet-latency', chart: { title: 'fleet: p99 latency per flow, at a fixed rate', unit: 'ms', groups, series: byRow((f) => f.flow.p99Us / 1000), log: true } },
      ...(k ? [{ file: 'fleet-kill', chart: { title: `fleet: p99 before and while ${n(k.devicesOnKilledPod)} devices of a killed pod reconnect`, unit: 'ms', groups: ['P2P on the other pods', 'device → RocketMQ'], series: [{ name: 'before', values: [k.before.p2p.p99Us / 1000, k.before.uplink.p99Us / 1000] }, { name: 'during the reconnects', values: [k.during.p2p.p99Us / 1000, k.during.uplink.p99Us / 1000] }], log: true } }] : []),
    ],
  };
}
