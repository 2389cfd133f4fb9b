import { NotFoundException, Producer } from 'rocketmq-client-nodejs';
import type { Logger } from 'pino';
import type { TopicExistence } from '../reconcile/resolve-bindings.js';

interface RouteQuery {
  getRouteData(topic: string): Promise<unknown>;
}

const silent = { info() {}, debug() {}, warn() {}, error() {} };

/** RocketMQ clients the checker keeps at most; endpoints are spec fields anyone creating an MqttBridge chooses. */
const MAX_CLIENTS = 32;
const MAX_CACHED_ANSWERS = 10_000;

/**
 * Asks RocketMQ, through the same gRPC proxy the bridge uses, whether a topic exists (a
 * route query; nothing is sent). The operator never creates topics. Answers are cached
 * briefly so a resync of many bindings costs one query per topic. A client per endpoint stays
 * open while it is used; one unused for `idleMs` is shut down, and past {@link MAX_CLIENTS} the
 * least recently used goes.
 */
export class TopicChecker {
  private readonly clients = new Map<string, { producer: Promise<Producer>; lastUsed: number }>();
  private readonly cache = new Map<string, { existence: TopicExistence; until: number }>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly log: Logger,
    private readonly ttlMs = 10_000,
    private readonly requestTimeoutMs = 3_000,
    private readonly idleMs = 5 * 60_000,
  ) {
    this.sweeper = setInterval(() => this.closeIdle(), Math.min(idleMs, 60_000));
    this.sweeper.unref();
  }

  get openClients(): number {
    return this.clients.size;
  }

  async check(endpoints: string, namespace: string, topic: string): Promise<TopicExistence> {
    const key = `${endpoints}|${namespace}|${topic}`;
    const cached = this.cache.get(key);
    if (cached && cached.until > Date.now()) return cached.existence;
    const existence = await this.query(endpoints, namespace, topic);
    if (this.cache.size >= MAX_CACHED_ANSWERS) this.cache.clear();
    this.cache.set(key, { existence, until: Date.now() + this.ttlMs });
    return existence;
  }

  /** Shuts down the clients not used for `idleMs`. */
  closeIdle(now = Date.now()): void {
    for (const [key, entry] of this.clients) if (now - entry.lastUsed >= this.idleMs) this.shutDown(key);
  }

  private shutDown(key: string): void {
    const entry = this.clients.get(key);
    this.clients.delete(key);
    void entry?.producer.then((p) => p.shutdown()).catch(() => undefined);
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
    let entry = this.clients.get(key);
    if (entry) {
      // Map order is use order: the first entry is the least recently used.
      this.clients.delete(key);
    } else {
      const producer = new Producer({ endpoints, namespace, requestTimeout: this.requestTimeoutMs, logger: silent });
      const started = producer.startup().then(() => producer);
      started.catch(() => this.clients.delete(key));
      entry = { producer: started, lastUsed: 0 };
      if (this.clients.size >= MAX_CLIENTS) this.shutDown(this.clients.keys().next().value!);
    }
    entry.lastUsed = Date.now();
    this.clients.set(key, entry);
    return entry.producer;
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    const clients = [...this.clients.values()];
    this.clients.clear();
    await Promise.all(clients.map((c) => c.producer.then((p) => p.shutdown()).catch(() => undefined)));
  }
}
