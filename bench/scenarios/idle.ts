/**
 * idle: 19,000 idle MQTT connections (keep-alive 60 s, clean session) to one process: the
 * bridge as it runs in a pod, its MQTT engine alone (bare aedes as the bridge configures it)
 * and Mosquitto. Connect rate, RSS growth ÷ connections, CPU while idle.
 */
import { takeAnchor } from '../lib/clock.js';
import { fmt, machine, packageVersion, pct, printTable, round2, writeResult } from '../lib/output.js';
import { procCpuSeconds, procRssBytes, settle, sleep } from '../lib/proc.js';
import { combine, loopbackHosts, Worker } from '../loadgen/index.js';
import { startBridge } from '../env/bridge.js';
import { rocketmq } from '../env/rocketmq.js';
import { startAedes, startMosquitto } from './brokers.js';

const PORTS = { mqtt: 21401, http: 21402 };

interface Target {
  name: string;
  version: string;
  pid: number;
  port: number;
  stop(): Promise<void>;
}

interface Row {
  server: string;
  version: string;
  connections: number;
  connectSeconds: number;
  connectsPerSec: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  rssPerConnectionBytes: number;
  cpuWhileConnecting: number;
  cpuIdle: number;
  loadgenCpu: number[];
  errors: string[];
}

type Params = { connections: number; workers: number; keepaliveSeconds: number; connectConcurrencyPerWorker: number; idleMeasureMs: number };

export async function run(opts: { quick: boolean }): Promise<void> {
  const params: Params & Record<string, unknown> = {
    connections: opts.quick ? 1000 : 19_000,
    // Each worker stays well under the per-process open-files limit.
    workers: 4,
    keepaliveSeconds: 60,
    connectConcurrencyPerWorker: 64,
    loopbackDestinations: 8,
    // Long enough for V8's memory reducer, which compacts the heap some 15 s after the burst.
    idleMeasureMs: opts.quick ? 2000 : 25_000,
  };
  const machineInfo = machine();
  const rmq = await rocketmq();
  const bridge = (name: string, flags: string[]) => async (): Promise<Target> => {
    const b = await startBridge({ name: 'bench-idle', mqttPort: PORTS.mqtt, httpPort: PORTS.http, endpoints: rmq.endpoints, consumerGroup: 'BENCH_IDLE_UNUSED', bindings: [{ mqttParentTopic: 'bench_idle', rocketmqTopic: 'BENCH_IDLE', direction: 'MqttToRocketmq' }], nodeArgs: [...flags, ...nodeArgs(), ...profileArgs()] });
    return { name, version: packageVersion('aedes'), pid: b.pid, port: b.mqttPort, stop: b.stop };
  };
  const starters: Array<() => Promise<Target>> = [
    bridge('bridge', []),
    // V8 grows the young generation up to 16 MB per semi-space during the connect burst and
    // keeps it: a smaller one is most of the difference to the memory target (docs/benchmarks.md).
    bridge('bridge, --max-semi-space-size=2', ['--max-semi-space-size=2']),
    async () => {
      const a = await startAedes(nodeArgs());
      return { name: 'aedes (bridge engine)', version: a.version, pid: a.pid, port: a.port, stop: a.stop };
    },
    async () => {
      const m = await startMosquitto();
      return { name: 'mosquitto', version: m.version, pid: m.pid, port: m.port, stop: m.stop };
    },
  ];
  const rows: Row[] = [];
  // BENCH_IDLE_ONLY=0,2: run only those servers (while profiling one of them).
  const only = process.env.BENCH_IDLE_ONLY?.split(',').map(Number);
  for (const start of starters.filter((_, i) => !only || only.includes(i))) {
    // A freshly started broker JVM compiles and initialises for a while: measured first,
    // a server got less of the machine than the ones after it (up to 25 % fewer connects/s).
    await settle(rmq.brokerPid, 60_000);
    const target = await start();
    try {
      const row = await measure(target, params);
      row.rssPerConnectionBytes = Math.max(0, row.rssPerConnectionBytes);
      process.stderr.write(`[idle] ${row.server}: ${fmt(row.connectsPerSec)} connects/s, ${fmt(row.rssPerConnectionBytes)} B/conn, idle CPU ${pct(row.cpuIdle)}\n`);
      rows.push(row);
    } finally {
      await target.stop();
    }
  }
  const met = (r: Row | undefined) => r && { connectRate: r.connectsPerSec >= 3000, memory: r.rssPerConnectionBytes <= 10 * 1024 };
  const targets = { connectsPerSecAtLeast: 3000, rssPerConnectionAtMostBytes: 10 * 1024, met: { bridge: met(rows[0]), bridgeSmallSemiSpace: met(rows[1]) } };
  printTable(
    ['server', 'connections', 'connects/s', 'RSS growth / conn', 'CPU connecting', 'CPU idle'],
    rows.map((r) => [r.server, fmt(r.connections), fmt(r.connectsPerSec), `${(r.rssPerConnectionBytes / 1024).toFixed(1)} KB`, pct(r.cpuWhileConnecting), pct(r.cpuIdle)]),
  );
  writeResult('idle', opts.quick, {
    machine: machineInfo,
    versions: { aedes: packageVersion('aedes'), mosquitto: rows.find((r) => r.server === 'mosquitto')?.version },
    parameters: params,
    results: { rows, targets },
  });
}

/** BENCH_NODE_ARGS: extra V8/Node flags for the Node servers, to try their effect. */
function nodeArgs(): string[] {
  return process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
}

/** BENCH_IDLE_CPU_PROF=<dir>: profile the bridge while it takes the connections. */
function profileArgs(): string[] {
  const dir = process.env.BENCH_IDLE_CPU_PROF;
  return dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [];
}

async function measure(target: Target, params: Params): Promise<Row> {
  await settle(target.pid);
  const rss0 = procRssBytes(target.pid);
  const cpu0 = procCpuSeconds(target.pid);
  const anchor = takeAnchor();
  const workers = Array.from({ length: params.workers }, (_, w) => new Worker(`idle${w}`));
  try {
    const per = Math.ceil(params.connections / params.workers);
    const t0 = process.hrtime.bigint();
    await Promise.all(
      workers.map((w, i) =>
        w.setup({ role: 'sub', subscribe: false, port: target.port, hosts: loopbackHosts(8), connections: Math.min(per, params.connections - i * per), clientIdPrefix: `idle-w${i}`, topic: '', qos: 0, payloadBytes: 0, anchor, window: 1, keepalive: params.keepaliveSeconds, connectConcurrency: params.connectConcurrencyPerWorker }),
      ),
    );
    const wallSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpuConnecting = (procCpuSeconds(target.pid) - cpu0) / wallSeconds;
    // Let garbage from the connect burst be collected before reading memory.
    await settle(target.pid);
    await sleep(1000);
    for (const w of workers) w.send({ type: 'mark' });
    const cpu1 = procCpuSeconds(target.pid);
    await sleep(params.idleMeasureMs);
    const stats = combine(await Promise.all(workers.map((w) => w.collect())));
    // Timed inside the workers (they connect in parallel), so process start-up is left out.
    const connectSeconds = stats.setupSeconds;
    const cpuIdle = (procCpuSeconds(target.pid) - cpu1) / stats.seconds;
    const rss1 = procRssBytes(target.pid);
    return {
      server: target.name,
      version: target.version,
      connections: stats.connections,
      connectSeconds: round2(connectSeconds),
      connectsPerSec: stats.connections / connectSeconds,
      rssBeforeBytes: rss0,
      rssAfterBytes: rss1,
      rssPerConnectionBytes: Math.round((rss1 - rss0) / stats.connections),
      cpuWhileConnecting: round2(cpuConnecting),
      cpuIdle: round2(cpuIdle),
      loadgenCpu: stats.cpu.map(round2),
      errors: stats.errors,
    };
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
}
