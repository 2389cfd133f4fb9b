import { NotFoundException, Producer } from 'rocketmq-client-nodejs';
import type { Logger } from 'pino';
import type { TopicExistence } from '../reconcile/resolve-bindings.js';

interface RouteQuery {
  getRouteData(topic: string): Promise<unknown>;
}

const silent = { info() {}, debug() {}, warn() {}, error() {} };

/**
 * Asks RocketMQ, through the same gRPC proxy the bridge uses, whether a topic exists (a
 * route query; nothing is sent). The operator never creates topics. Answers are cached
 * briefly so a resync of many bindings costs one query per topic.
 */
export class TopicChecker {
  private readonly clients = new Map<string, Promise<Producer>>();
  private readonly cache = new Map<string, { existence: TopicExistence; until: number }>();

  constructor(
    private readonly log: Logger,
    private readonly ttlMs = 10_000,
    private readonly requestTimeoutMs = 3_000,
  ) {}

  async check(endpoints: string, namespace: string, topic: string): Promise<TopicExistence> {
    const key = `${endpoints}|${namespace}|${topic}`;
    const cached = this.cache.get(key);
    if (cached && cached.until > Date.now()) return cached.existence;
    const existence = await this.query(endpoints, namespace, topic);
    this.cache.set(key, { existence, until: Date.now() + this.ttlMs });
    return existence;
  }

  private async query(endpoints: string, namespace: string, topic: string): Promise<TopicExistence> {
    try {
      const client = await this.client(endpoints, namespace);
      await (client as unknown as RouteQuery).getRouteData(topic);
      return 'exists';
    } catch (err) {
      if (err instanceof NotFoundException) return 'missing';
      this.log.warn({ endpoints, topic, err: (err as Error).message.split('\n')[0] }, 'cannot ask RocketMQ about a topic');
      return 'unknown';
    }
  }

  private client(endpoints: string, namespace: string): Promise<Producer> {
    const key = `${endpoints}|${namespace}`;
    let client = this.clients.get(key);
    if (!client) {
      const producer = new Producer({ endpoints, namespace, requestTimeout: this.requestTimeoutMs, logger: silent });
      client = producer.startup().then(() => producer);
      client.catch(() => this.clients.delete(key));
      this.clients.set(key, client);
    }
    return client;
  }

  async close(): Promise<void> {
    const clients = [...this.clients.values()];
    this.clients.clear();
    await Promise.all(clients.map((c) => c.then((p) => p.shutdown()).catch(() => undefined)));
  }
}
