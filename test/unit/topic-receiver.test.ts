import type { MessageView } from 'rocketmq-client-nodejs';
import { pino } from 'pino';
import { DELIVERED, DROPPED, retryLater, type DeliveryResult } from '../../bridge/downlink/delivery-result.js';
import type { AckFailure } from '../../bridge/rocketmq/batch-ack.js';
import { DownlinkConsumers, type MessageHandler, type TopicConsumer, type TopicConsumerFactory } from '../../bridge/rocketmq/consumer.js';
import { RocketmqHealth } from '../../bridge/rocketmq/health.js';
import { BridgeMetrics } from '../../bridge/observability/metrics.js';

const log = pino({ level: 'silent' });
const message = (id: string) => ({ messageId: id }) as MessageView;

/**
 * A consumer of one topic whose receives answer from a script: a batch, or an error; once the
 * script is used up a receive is a long poll that never ends (shutdown does not end it either,
 * like the real client's).
 */
class FakeConsumer implements TopicConsumer {
  readonly acked: string[] = [];
  receives = 0;
  shutDown = false;
  constructor(
    private readonly script: (MessageView[] | Error)[],
    private readonly startupError?: Error,
    private readonly ackFailures: string[] = [],
  ) {}
  startup(): Promise<unknown> {
    return this.startupError ? Promise.reject(this.startupError) : Promise.resolve();
  }
  receive(): Promise<MessageView[]> {
    this.receives += 1;
    const next = this.script.shift();
    if (next === undefined) return new Promise(() => undefined);
    return next instanceof Error ? Promise.reject(next) : Promise.resolve(next);
  }
  ack(messages: MessageView[]): Promise<AckFailure[]> {
    this.acked.push(...messages.map((m) => m.messageId));
    return Promise.resolve(messages.filter((m) => this.ackFailures.includes(m.messageId)).map((m) => ({ message: m, reason: '4 bad receipt' })));
  }
  shutdown(): Promise<unknown> {
    this.shutDown = true;
    return Promise.resolve();
  }
}

interface Harness {
  consumers: DownlinkConsumers;
  metrics: BridgeMetrics;
  health: RocketmqHealth;
  created: FakeConsumer[];
}

/** DownlinkConsumers over fake consumers, handed out one per start attempt from `fakes`. */
function harness(fakes: FakeConsumer[], handle: MessageHandler): Harness {
  const metrics = new BridgeMetrics();
  const health = new RocketmqHealth('127.0.0.1:1', metrics);
  const created: FakeConsumer[] = [];
  const createConsumer: TopicConsumerFactory = () => {
    const fake = fakes.shift();
    if (!fake) throw new Error('no more fake consumers');
    created.push(fake);
    return fake;
  };
  const settings = { consumerGroup: 'G', batchSize: 32, invisibleDurationMs: 30_000, longPollingMs: 20_000, receivers: 1 };
  const consumers = new DownlinkConsumers({ settings, options: { endpoints: '127.0.0.1:1', namespace: '' }, createConsumer, handle, health, metrics, log });
  return { consumers, metrics, health, created };
}

async function until(check: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function counter(metrics: BridgeMetrics, name: 'downlinkLeftUnacked' | 'errors', labels: Record<string, string>): Promise<number> {
  const { values } = await metrics[name].get();
  return values.filter((v) => Object.entries(labels).every(([k, want]) => (v.labels as Record<string, unknown>)[k] === want)).reduce((sum, v) => sum + v.value, 0);
}

const byId = (results: Record<string, DeliveryResult | Error>): MessageHandler =>
  (_topic, m) => {
    const r = results[m.messageId] ?? DELIVERED;
    return r instanceof Error ? Promise.reject(r) : Promise.resolve(r);
  };

test('delivered and dropped messages are acked; retry-later and a failing handler leave theirs in RocketMQ, counted by reason', async () => {
  const fake = new FakeConsumer([[message('a'), message('b'), message('c'), message('d')]]);
  const h = harness([fake], byId({ b: DROPPED, c: retryLater('unbound'), d: new Error('boom') }));
  await h.consumers.setTopics(['T']);
  await until(() => fake.receives >= 2 && fake.acked.length >= 2);
  expect(fake.acked).toEqual(['a', 'b']);
  expect(await counter(h.metrics, 'downlinkLeftUnacked', { reason: 'unbound' })).toBe(1);
  expect(await counter(h.metrics, 'downlinkLeftUnacked', { reason: 'handler_failed' })).toBe(1);
  // Only the handler's failure is a fault; an unbound topic is the world changing.
  expect(await counter(h.metrics, 'errors', { component: 'downlink' })).toBe(1);
  await h.consumers.stop();
});

test('stop() returns while a long poll is pending, and shuts the consumer down', async () => {
  const fake = new FakeConsumer([]);
  const h = harness([fake], byId({}));
  await h.consumers.setTopics(['T']);
  await until(() => fake.receives === 1);
  await h.consumers.setTopics([]);
  expect(fake.shutDown).toBe(true);
  expect(h.consumers.topics).toEqual([]);
});

test('a consumer that cannot start is shut down and a new one tried', async () => {
  const refused = new FakeConsumer([], new Error('CONSUMER_GROUP_NOT_FOUND'));
  const second = new FakeConsumer([[message('a')]]);
  const h = harness([refused, second], byId({}));
  await h.consumers.setTopics(['T']);
  await until(() => second.acked.length === 1);
  expect(refused.shutDown).toBe(true);
  expect(await counter(h.metrics, 'errors', { component: 'rocketmq_consumer' })).toBe(1);
  await h.consumers.stop();
});

test('a failed receive marks RocketMQ down and the loop goes on; the next answer marks it up again', async () => {
  const fake = new FakeConsumer([new Error('UNAVAILABLE'), [message('a')]]);
  const h = harness([fake], byId({}));
  await h.consumers.setTopics(['T']);
  await until(() => fake.receives === 1);
  expect(h.health.up).toBe(false);
  await until(() => fake.acked.length === 1);
  expect(h.health.up).toBe(true);
  expect(await counter(h.metrics, 'errors', { component: 'rocketmq_consumer' })).toBe(1);
  await h.consumers.stop();
});

test('acks RocketMQ refuses are counted; the loop keeps receiving', async () => {
  const fake = new FakeConsumer([[message('a'), message('b')], [message('c')]], undefined, ['b']);
  const h = harness([fake], byId({}));
  await h.consumers.setTopics(['T']);
  await until(() => fake.acked.length === 3);
  expect(await counter(h.metrics, 'errors', { component: 'rocketmq_ack' })).toBe(1);
  await h.consumers.stop();
});

test('a topic kept across setTopics keeps its consumer; a new one gets its own', async () => {
  const [t, u] = [new FakeConsumer([]), new FakeConsumer([])];
  const h = harness([t, u], byId({}));
  await h.consumers.setTopics(['T']);
  await h.consumers.setTopics(['T', 'U']);
  await until(() => t.receives === 1 && u.receives === 1);
  expect(h.created).toEqual([t, u]);
  expect(h.consumers.topics.sort()).toEqual(['T', 'U']);
  await h.consumers.stop();
  expect(t.shutDown && u.shutDown).toBe(true);
});
