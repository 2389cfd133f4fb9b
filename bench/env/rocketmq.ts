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
};

export interface Rocketmq {
  endpoints: string;
  /** The JVM running proxy + broker. */
  brokerPid: number;
  version: string;
}

let started: Promise<Rocketmq> | undefined;
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
    if (pid) return { endpoints: `127.0.0.1:${RMQ_ENV.RMQ_PROXY_PORT}`, brokerPid: pid, version: process.env.RMQ_VERSION ?? '5.5.0' };
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
  return { endpoints: `127.0.0.1:${RMQ_ENV.RMQ_PROXY_PORT}`, brokerPid: pid, version: process.env.RMQ_VERSION ?? '5.5.0' };
}

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
