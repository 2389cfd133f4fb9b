/**
 * The benchmarks' own RocketMQ 5 (name server + broker + gRPC proxy, test/env/rocketmq.sh) on
 * ports of its own, with a fresh store. Started once per `npm run bench` and shared by the
 * scenarios of an `all` run; topics and consumer groups are created on demand, since the
 * proxy refuses unknown ones.
 */
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { onCleanup } from './cleanup.js';
import { takeAnchor } from '../lib/clock.js';
import { settle, sleep } from '../lib/proc.js';
import { RmqClient } from '../rmq/index.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SCRIPT = `${ROOT}test/env/rocketmq.sh`;

export const RMQ_ENV = {
  RMQ_DIR: process.env.BENCH_RMQ_DIR ?? `${ROOT}.run/bench-rocketmq`,
  RMQ_NAMESRV_PORT: process.env.BENCH_RMQ_NAMESRV_PORT ?? '19878',
  RMQ_BROKER_PORT: process.env.BENCH_RMQ_BROKER_PORT ?? '20941',
  RMQ_PROXY_PORT: process.env.BENCH_RMQ_PROXY_PORT ?? '18111',
  RMQ_PROXY_REMOTING_PORT: process.env.BENCH_RMQ_PROXY_REMOTING_PORT ?? '18110',
  // RocketMQ's own default. The test suite flushes every write (it kills brokers and checks
  // nothing acknowledged was lost); BENCH_RMQ_FLUSH_DISK_TYPE=SYNC_FLUSH measures that setup.
  RMQ_FLUSH_DISK_TYPE: process.env.BENCH_RMQ_FLUSH_DISK_TYPE ?? 'ASYNC_FLUSH',
  // The address clients get in topic routes (test/env/rocketmq.sh); see useRocketmqHost.
  RMQ_HOST: process.env.BENCH_RMQ_HOST ?? '127.0.0.1',
};

/**
 * Clients follow the address the proxy hands out in its topic routes, its broker's: pods of
 * the real node need one they reach, the node's. Call before the first rocketmq().
 */
export function useRocketmqHost(host: string): void {
  if (started && RMQ_ENV.RMQ_HOST !== host) throw new Error(`RocketMQ already started on ${RMQ_ENV.RMQ_HOST}`);
  RMQ_ENV.RMQ_HOST = host;
}

export interface Rocketmq {
  endpoints: string;
  /** The JVM running proxy + broker. */
  brokerPid: number;
  version: string;
}

let started: Promise<Rocketmq> | undefined;
let warmUpSeconds = 0;

/**
 * Seconds of unmeasured traffic through a freshly started broker before the first scenario
 * uses it (run.ts: 150 s, none with --quick). The JVM compiles its send, pop and ack paths in
 * its first minutes, and its compiler threads count in its CPU. p2p (1,000 msgs/s to one of
 * 10,000 devices) on a fresh broker: p99 107–145 ms at ~120 % broker CPU; after 60 s of
 * warm-up 63 ms at 100 %; after 150 s 32 ms at 93 %. Production brokers run warm.
 */
export function setRocketmqWarmUp(seconds: number): void {
  warmUpSeconds = seconds;
}
const topics = new Set<string>();
const groups = new Set<string>();

function script(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run('bash', [SCRIPT, ...args], { env: { ...process.env, ...RMQ_ENV }, cwd: ROOT, maxBuffer: 16 << 20 });
}

async function start(): Promise<Rocketmq> {
  // While working on a scenario, BENCH_REUSE_ROCKETMQ=1 keeps one instance across runs.
  if (process.env.BENCH_REUSE_ROCKETMQ === '1') {
    const { stdout } = await script('status').catch(() => ({ stdout: '' }));
    const pid = Number(/proxy\D+(\d+)/.exec(stdout)?.[1] ?? NaN);
    if (pid) return { endpoints: `${RMQ_ENV.RMQ_HOST}:${RMQ_ENV.RMQ_PROXY_PORT}`, brokerPid: pid, version: process.env.RMQ_VERSION ?? '5.5.0' };
  }
  await script('stop', '--kill').catch(() => undefined);
  rmSync(RMQ_ENV.RMQ_DIR, { recursive: true, force: true });
  const t0 = Date.now();
  process.stderr.write(`[bench] starting RocketMQ (proxy on ${RMQ_ENV.RMQ_PROXY_PORT})…\n`);
  onCleanup('RocketMQ', async () => {
    await script('stop', '--kill').catch(() => undefined);
    started = undefined;
    topics.clear();
    groups.clear();
  });
  await script('start');
  const { stdout } = await script('status').catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
  const pid = Number(/proxy\D+(\d+)/.exec(stdout)?.[1] ?? NaN);
  process.stderr.write(`[bench] RocketMQ up in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  const rmq = { endpoints: `${RMQ_ENV.RMQ_HOST}:${RMQ_ENV.RMQ_PROXY_PORT}`, brokerPid: pid, version: process.env.RMQ_VERSION ?? '5.5.0' };
  if (warmUpSeconds > 0) await warmUp(rmq, warmUpSeconds);
  return rmq;
}

/** A producer at full speed and a consumer (receive, ack) on a topic of their own. */
async function warmUp(rmq: Rocketmq, seconds: number): Promise<void> {
  process.stderr.write(`[bench] warming RocketMQ up for ${seconds} s…\n`);
  await script('create-topic', `${WARM_UP_TOPIC}:NORMAL`);
  await script('create-group', WARM_UP_GROUP);
  const anchor = takeAnchor();
  const producer = new RmqClient('warm-up-producer');
  const consumer = new RmqClient('warm-up-consumer');
  try {
    await consumer.setup({ role: 'consume', endpoints: rmq.endpoints, topic: WARM_UP_TOPIC, group: WARM_UP_GROUP, anchor, receivers: 2, batchSize: 32, longPollingMs: 20_000, invisibleDurationMs: 30_000 });
    await producer.setup({ role: 'produce', endpoints: rmq.endpoints, topic: WARM_UP_TOPIC, payloadBytes: 64, concurrency: 64, anchor, properties: { mqttSecondTopic: '/warm-up' } });
    producer.send({ type: 'start', rate: 0 });
    await sleep(seconds * 1000);
    await producer.halt();
  } finally {
    await Promise.all([producer.stop(), consumer.stop()]);
  }
  await settle(rmq.brokerPid, 30_000);
}

const WARM_UP_TOPIC = 'BENCH_WARM_UP';
const WARM_UP_GROUP = 'BENCH_WARM_UP';

/** Starts RocketMQ if needed and makes sure the topics (NAME:TYPE) and groups exist. */
export async function rocketmq(need: { topics?: string[]; groups?: string[] } = {}): Promise<Rocketmq> {
  started ??= start();
  const rmq = await started;
  const newTopics = (need.topics ?? []).filter((t) => !topics.has(t));
  const newGroups = (need.groups ?? []).filter((g) => !groups.has(g));
  await Promise.all([
    newTopics.length ? script('create-topic', ...newTopics) : undefined,
    newGroups.length ? script('create-group', ...newGroups) : undefined,
  ]);
  newTopics.forEach((t) => topics.add(t));
  newGroups.forEach((g) => groups.add(g));
  return rmq;
}
