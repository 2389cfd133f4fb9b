import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class OperatorMetrics {
  readonly registry = new Registry();

  readonly reconciles = new Counter({
    name: 'mqbridge_operator_reconciles_total',
    help: 'Reconciles by result',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly reconcileSeconds = new Histogram({
    name: 'mqbridge_operator_reconcile_seconds',
    help: 'Duration of one reconcile',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly apiWrites = new Counter({
    name: 'mqbridge_operator_api_writes_total',
    help: 'Writes to the API server by verb and resource',
    labelNames: ['verb', 'resource'] as const,
    registers: [this.registry],
  });

  readonly queueDepth = new Gauge({
    name: 'mqbridge_operator_queue_depth',
    help: 'Keys waiting in the work queue',
    registers: [this.registry],
  });

  readonly leader = new Gauge({
    name: 'mqbridge_operator_leader',
    help: '1 while this replica leads',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'mqbridge_operator_process_' });
  }

  /** `/apis/apps/v1/namespaces/x/deployments/y` → `deployments`; `.../status` → `mqttbridges/status`. */
  countWrite(verb: string, path: string): void {
    const parts = path.split('/').filter(Boolean);
    const ns = parts.indexOf('namespaces');
    const rest = ns >= 0 ? parts.slice(ns + 2) : parts.slice(parts[0] === 'api' ? 2 : 3);
    const resource = rest[0] + (rest[2] ? `/${rest[2]}` : '');
    this.apiWrites.inc({ verb, resource });
  }
}
