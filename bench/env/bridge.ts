/**
 * A bridge process as it runs in a pod (`node dist/bridge/main.js --config file`), with a
 * generated config. Spawned through a shell that first raises its open-files limit to the
 * hard limit, since tens of thousands of connections need as many descriptors.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { procCpuSeconds, procRssBytes, sleep } from '../lib/proc.js';
import { onCleanup } from './cleanup.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MAIN = `${ROOT}dist/bridge/main.js`;

export interface BindingSpec {
  mqttParentTopic: string;
  rocketmqTopic: string;
  direction: 'Bidirectional' | 'MqttToRocketmq' | 'RocketmqToMqtt';
}

export interface BridgeSpec {
  name: string;
  mqttPort: number;
  httpPort: number;
  endpoints: string;
  consumerGroup: string;
  bindings: BindingSpec[];
  /** More rocketmq settings (bridge/config/schema.ts), e.g. receiversPerTopic. */
  rocketmq?: Record<string, unknown>;
  /** Extra node flags, e.g. --cpu-prof. */
  nodeArgs?: string[];
  /** Wait for /readyz (RocketMQ producer up); false: only for the MQTT port. */
  waitReady?: boolean;
  /** More top-level config sections (bridge/config/schema.ts), e.g. websocket, sessionStore. */
  extra?: Record<string, unknown>;
}

export interface RunningBridge {
  pid: number;
  mqttPort: number;
  config: Record<string, unknown>;
  cpuSeconds(): number;
  rssBytes(): number;
  stop(): Promise<void>;
}

async function ready(httpPort: number, path: string): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${httpPort}${path}`);
    return res.status === 200;
  } catch {
    return false;
  }
}

export async function startBridge(spec: BridgeSpec): Promise<RunningBridge> {
  const dir = `${ROOT}.run/bench-bridge-${spec.mqttPort}`;
  mkdirSync(dir, { recursive: true });
  const config = {
    bridge: { name: spec.name },
    // These scenarios measure what one pod takes as fast as it goes: no connect pacing (fleet has it).
    mqtt: { host: '0.0.0.0', port: spec.mqttPort, connectsPerSecond: 0 },
    http: { host: '127.0.0.1', port: spec.httpPort },
    rocketmq: { endpoints: spec.endpoints, consumerGroup: spec.consumerGroup, ...spec.rocketmq },
    bindings: spec.bindings,
    log: { level: 'warn' },
    ...spec.extra,
  };
  const file = `${dir}/config.yaml`;
  writeFileSync(file, JSON.stringify(config, null, 2) + '\n'); // JSON is YAML
  // BENCH_BRIDGE_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=<dir>": profile every bridge.
  const extra = process.env.BENCH_BRIDGE_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const node = [process.execPath, ...extra, ...(spec.nodeArgs ?? []), MAIN, '--config', file].map((a) => `'${a}'`).join(' ');
  const child: ChildProcess = spawn('bash', ['-c', `ulimit -n "$(ulimit -Hn)"; exec ${node}`], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let gone = false;
  void exited.then(() => (gone = true));
  const stop = async () => {
    if (gone) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
    rmSync(file, { force: true });
  };
  const unregister = onCleanup(`bridge ${spec.name}`, stop);
  const path = spec.waitReady === false ? '/healthz' : '/readyz';
  const deadline = Date.now() + 60_000;
  while (!(await ready(spec.httpPort, path))) {
    if (gone) throw new Error(`bridge ${spec.name} exited during start-up`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`bridge ${spec.name} not ready within 60 s`);
    }
    await sleep(100);
  }
  const pid = child.pid!;
  return {
    pid,
    mqttPort: spec.mqttPort,
    config,
    cpuSeconds: () => procCpuSeconds(pid),
    rssBytes: () => procRssBytes(pid),
    stop: async () => {
      unregister();
      await stop();
    },
  };
}
