import { pino } from 'pino';
import { Bridge } from '../../../bridge/bridge.js';
import { parseConfig } from '../../../bridge/config/load.js';
import type { BridgeConfig } from '../../../bridge/config/schema.js';
import type { BridgeMetrics } from '../../../bridge/observability/metrics.js';
import { ROCKETMQ_ENDPOINT, uniqueId, waitFor } from './env.js';

type DeepPartial<T> = T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;
type Overrides = { [K in Exclude<keyof BridgeConfig, 'bindings'>]?: DeepPartial<BridgeConfig[K]> } & { bindings?: unknown[] };

/** A config for a bridge on free ports against the test RocketMQ, consuming with `consumerGroup`. */
export function testConfig(consumerGroup: string, overrides: Overrides = {}): BridgeConfig {
  const { bridge, mqtt, http, rocketmq, ...rest } = overrides;
  return parseConfig({
    bridge: { name: uniqueId('it-'), ...bridge },
    mqtt: { port: 0, host: '127.0.0.1', ...mqtt },
    http: { port: 0, host: '127.0.0.1', ...http },
    rocketmq: { endpoints: ROCKETMQ_ENDPOINT, consumerGroup, longPollingMs: 5_000, ...rocketmq },
    log: { level: process.env.MQBRIDGE_TEST_LOG ?? 'silent' },
    ...rest,
  });
}

export const testLogger = () => pino({ level: process.env.MQBRIDGE_TEST_LOG ?? 'silent' });

export async function startBridge(consumerGroup: string, overrides: Overrides = {}): Promise<Bridge> {
  const bridge = await Bridge.start(testConfig(consumerGroup, overrides), { log: testLogger() });
  await waitFor('bridge ready', () => bridge.readiness().ready, 60_000);
  return bridge;
}

export async function metricValue(bridge: { metrics: BridgeMetrics }, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = bridge.metrics.registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want))
    .reduce((sum, v) => sum + v.value, 0);
}
