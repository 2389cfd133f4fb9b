/** What the scale-out scenario runs against: RocketMQ, Redis and N bridge processes. */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { freePort } from './brokers.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MAIN = join(ROOT, 'dist/bridge/main.js');

/** Ports of nobody else's: the test suite and the other scenarios use their own. */
export const ENV = {
  RMQ_DIR: join(ROOT, '.run/bench-scale-rocketmq'),
  RMQ_NAMESRV_PORT: '19879',
  RMQ_BROKER_PORT: '20951',
  RMQ_PROXY_PORT: '18121',
  RMQ_PROXY_REMOTING_PORT: '18120',
  REDIS_DIR: join(ROOT, '.run/bench-scale-redis'),
  REDIS_PORT: '16390',
  REDIS_CLUSTER_PORT: '16395',
};
export const ROCKETMQ_ENDPOINT = `127.0.0.1:${ENV.RMQ_PROXY_PORT}`;
export const REDIS_URL = `redis://127.0.0.1:${ENV.REDIS_PORT}`;
/** The 3-node Cluster some scenarios run on instead (`startBackends(…, { redisCluster: true })`). */
export const REDIS_CLUSTER_PORTS = [0, 1, 2].map((i) => Number(ENV.REDIS_CLUSTER_PORT) + i);
const REDIS_CLUSTER_URL = REDIS_CLUSTER_PORTS.map((port) => `redis://127.0.0.1:${port}`).join(',');
let onCluster = false;
/** Device messages (device → device, device → app) and application messages (app → device) on topics of their own. */
export const TOPIC = 'BENCH_SCALE';
export const APP_TOPIC = 'BENCH_SCALE_A2D';
export const BRIDGE_GROUP = 'BENCH_SCALE_BRIDGE';
export const APP_GROUP = 'BENCH_SCALE_APP';

function script(name: string, ...args: string[]): Promise<unknown> {
  return run('bash', [join(ROOT, 'test/env', name), ...args], { env: { ...process.env, ...ENV }, maxBuffer: 16 << 20 });
}

/** Fresh RocketMQ (topics and groups created: the scale-out ones, or those given) and Redis. */
export async function startBackends(log: (s: string) => void, names = { topics: [`${TOPIC}:NORMAL`, `${APP_TOPIC}:NORMAL`], groups: [BRIDGE_GROUP, APP_GROUP] }, opts: { redisCluster?: boolean } = {}): Promise<void> {
  await stopBackends();
  onCluster = opts.redisCluster ?? false;
  log(`starting RocketMQ and Redis${onCluster ? ' Cluster' : ''} (fresh state)…`);
  await run('rm', ['-rf', ENV.RMQ_DIR]);
  await Promise.all([script('rocketmq.sh', 'start'), script('redis.sh', onCluster ? 'start-cluster' : 'start')]);
  await script('rocketmq.sh', 'create-topic', ...names.topics);
  await script('rocketmq.sh', 'create-group', ...names.groups);
}

export async function stopBackends(): Promise<void> {
  await Promise.all([script('rocketmq.sh', 'stop', '--kill'), script('redis.sh', 'stop', '--kill'), script('redis.sh', 'stop-cluster')].map((p) => p.catch(() => undefined)));
}

export interface Pod {
  child: ChildProcess;
  mqttPort: number;
  httpPort: number;
  stop(): Promise<void>;
}

/** One bridge process of the bridge `name`; resolves once /readyz is 200. */
export async function startPod(name: string, parents: { device: string; app: string }, mqtt: { maxConnections?: number; connectsPerSecond?: number } = {}): Promise<Pod> {
  const [mqttPort, httpPort] = [await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'mqbridge-bench-'));
  const config = {
    bridge: { name },
    mqtt: { host: '0.0.0.0', port: mqttPort, maxClientIdLength: 64, ...mqtt },
    http: { host: '127.0.0.1', port: httpPort },
    rocketmq: { endpoints: ROCKETMQ_ENDPOINT, consumerGroup: BRIDGE_GROUP, longPollingMs: 5_000, receiversPerTopic: 2 },
    sessionStore: { redis: { url: onCluster ? REDIS_CLUSTER_URL : REDIS_URL, cluster: onCluster, keyPrefix: `bench:${name}:` } },
    bindings: [
      { mqttParentTopic: parents.device, rocketmqTopic: TOPIC },
      { mqttParentTopic: parents.app, rocketmqTopic: APP_TOPIC, direction: 'RocketmqToMqtt' },
    ],
    log: { level: 'warn' },
  };
  writeFileSync(join(dir, 'bridge.yaml'), stringify(config));
  const child = spawn(process.execPath, [MAIN, '--config', join(dir, 'bridge.yaml')], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (let i = 0; ; i++) {
    const ok = await fetch(`http://127.0.0.1:${httpPort}/readyz`).then((r) => r.ok, () => false);
    if (ok) break;
    if (i > 600 || child.exitCode !== null) throw new Error('bridge pod did not become ready');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    child,
    mqttPort,
    httpPort,
    stop: async () => {
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}
