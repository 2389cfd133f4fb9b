import { Bridge } from '../../../bridge/bridge.js';
import type { BridgeConfig } from '../../../bridge/config/schema.js';
import { testConfig, testLogger } from './bridge.js';
import { REDIS_URL, uniqueId, waitFor } from './env.js';

/** Several pods of one bridge: one name, one consumer group, one Redis key prefix. */
export interface PodsSpec {
  name: string;
  group: string;
  binding: { mqttParentTopic: string; rocketmqTopic: string };
  /** More bindings beside `binding`. */
  moreBindings?: unknown[];
  /** Extra settings for every pod. */
  overrides?: Parameters<typeof testConfig>[1];
}

export function podsSpec(prefix: string, group: string, binding: PodsSpec['binding'], overrides: PodsSpec['overrides'] = {}): PodsSpec {
  return { name: uniqueId(`${prefix}-`), group, binding, overrides };
}

/** The config of one pod (ports chosen by the OS unless given). */
export function podConfig(spec: PodsSpec, ports: { mqtt?: number; http?: number } = {}): BridgeConfig {
  const { overrides = {} } = spec;
  return testConfig(spec.group, {
    ...overrides,
    bridge: { name: spec.name },
    mqtt: { ...overrides.mqtt, ...(ports.mqtt ? { port: ports.mqtt } : {}) },
    http: { ...overrides.http, ...(ports.http ? { port: ports.http } : {}) },
    rocketmq: { invisibleDurationMs: 10_000, ...overrides.rocketmq },
    sessionStore: { redis: { url: REDIS_URL, cluster: false, keyPrefix: `it:${spec.name}:` }, ...overrides.sessionStore },
    bindings: [spec.binding, ...(spec.moreBindings ?? [])],
  });
}

/** Pods as bridges in this process: enough where no pod has to die. */
export async function startPods(spec: PodsSpec, n: number): Promise<Bridge[]> {
  const pods = await Promise.all(Array.from({ length: n }, () => Bridge.start(podConfig(spec), { log: testLogger() })));
  await Promise.all(pods.map((pod) => waitFor('pod ready', () => pod.readiness().ready, 60_000)));
  return pods;
}

export async function readyz(httpPort: number): Promise<{ status: number; checks: Record<string, boolean> }> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
  return { status: res.status, checks: ((await res.json()) as { checks: Record<string, boolean> }).checks };
}

/** Sums a counter over all pods (the pod that consumed a RocketMQ message is not known). */
export async function sumMetric(pods: Bridge[], name: string, labels: Record<string, string> = {}): Promise<number> {
  let sum = 0;
  for (const pod of pods) {
    const metric = pod.metrics.registry.getSingleMetric(name);
    if (!metric) continue;
    for (const v of (await metric.get()).values) {
      if (Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want)) sum += v.value;
    }
  }
  return sum;
}

/** How often each payload occurs: 1 everywhere means once each. */
export function countBy<T>(items: T[], key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}
