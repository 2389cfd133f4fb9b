import { SimpleConsumer, type BaseClientOptions, type MessageView } from 'rocketmq-client-nodejs';
import { isFault, retryLater, type DeliveryResult } from '../downlink/delivery-result.js';
import type { Logger } from '../observability/log.js';
import type { BridgeMetrics } from '../observability/metrics.js';
import { unlessAborted } from '../util/abortable.js';
import { Backoff, sleep } from '../util/backoff.js';
import { ackBatch, checkRocketmqInternals, type AckFailure } from './batch-ack.js';
import { errorMessage, isNotFound } from './errors.js';
import type { RocketmqHealth } from './health.js';

/**
 * The client's startup waits for the proxy's settings forever, and the proxy never sends them
 * for a consumer group it does not know.
 */
const STARTUP_TIMEOUT_MS = 15_000;

function withDeadline<T>(work: Promise<T>, ms: number, error: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(error()), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

/**
 * What a TopicReceiver needs of RocketMQ for one topic. The default is a SimpleConsumer with
 * the batched ack; tests hand in a fake to drive the receive loop through its failures.
 */
export interface TopicConsumer {
  startup(): Promise<unknown>;
  receive(batchSize: number, invisibleDurationMs: number): Promise<MessageView[]>;
  ack(messages: MessageView[]): Promise<AckFailure[]>;
  shutdown(): Promise<unknown>;
}

export type TopicConsumerFactory = (topic: string, settings: ReceiveSettings, options: BaseClientOptions) => TopicConsumer;

export const simpleTopicConsumer: TopicConsumerFactory = (topic, settings, options) => {
  const consumer = new SimpleConsumer({
    ...options,
    consumerGroup: settings.consumerGroup,
    subscriptions: new Map([[topic, '*']]),
    awaitDuration: settings.longPollingMs,
  });
  return {
    startup: () => consumer.startup(),
    receive: (batchSize, invisibleDurationMs) => consumer.receive(batchSize, invisibleDurationMs),
    ack: (messages) => ackBatch(consumer, settings.consumerGroup, topic, messages, options.requestTimeout ?? 3_000),
    shutdown: () => consumer.shutdown(),
  };
};

/** Hands one message to MQTT; what it resolves to decides whether the message is acked. */
export type MessageHandler = (topic: string, message: MessageView) => Promise<DeliveryResult>;

export interface ReceiveSettings {
  consumerGroup: string;
  batchSize: number;
  invisibleDurationMs: number;
  longPollingMs: number;
  receivers: number;
}

/**
 * Receives one RocketMQ topic with a SimpleConsumer of the bridge's consumer group. One
 * consumer per topic keeps a long poll on a quiet topic from delaying a busy one.
 */
class TopicReceiver {
  private readonly stopping = new AbortController();
  private consumer: TopicConsumer | undefined;
  private loops: Promise<void>[] = [];

  constructor(
    readonly topic: string,
    private readonly deps: ConsumerDeps,
  ) {}

  start(): void {
    this.loops = [this.run()];
  }

  private async run(): Promise<void> {
    const consumer = await this.startConsumer();
    if (!consumer) return;
    const receivers = Array.from({ length: this.deps.settings.receivers }, () => this.receiveLoop(consumer));
    await Promise.all(receivers);
  }

  private async startConsumer(): Promise<TopicConsumer | undefined> {
    const { settings, options, log, metrics, health } = this.deps;
    const backoff = new Backoff(500, 30_000);
    while (!this.stopping.signal.aborted) {
      const consumer = (this.deps.createConsumer ?? simpleTopicConsumer)(this.topic, settings, options);
      try {
        await withDeadline(consumer.startup(), STARTUP_TIMEOUT_MS, () => new Error(
          `consumer did not start within ${STARTUP_TIMEOUT_MS} ms: does consumer group ${settings.consumerGroup} exist? ` +
            'RocketMQ 5 proxies refuse unknown groups; create it like the topics (mqadmin updateSubGroup)',
        ));
        this.consumer = consumer;
        log.info({ topic: this.topic, group: settings.consumerGroup }, 'consuming RocketMQ topic');
        return consumer;
      } catch (err) {
        metrics.errors.inc({ component: 'rocketmq_consumer' });
        if (!isNotFound(err)) health.failed();
        const wait = backoff.next();
        log.warn({ topic: this.topic, err: errorMessage(err), retryInMs: wait }, 'cannot consume RocketMQ topic yet; retrying');
        await consumer.shutdown().catch(() => undefined);
        await sleep(wait, this.stopping.signal);
      }
    }
    return undefined;
  }

  private async receiveLoop(consumer: TopicConsumer): Promise<void> {
    const backoff = new Backoff(200, 5_000);
    // The ack of one batch travels while the next receive waits: at most one batch unacked.
    let previousAcks: Promise<unknown> = Promise.resolve();
    try {
      await this.receiveBatches(consumer, backoff, (acks) => {
        const waitFor = previousAcks;
        previousAcks = acks;
        return waitFor;
      });
    } finally {
      await previousAcks;
    }
  }

  private async receiveBatches(consumer: TopicConsumer, backoff: Backoff, acked: (acks: Promise<void>) => Promise<unknown>): Promise<void> {
    const { settings, log, metrics, health } = this.deps;
    while (!this.stopping.signal.aborted) {
      let messages: MessageView[] | undefined;
      const started = process.hrtime.bigint();
      try {
        // stop() must not wait for a long poll (up to rocketmq.longPollingMs): a reload that
        // drops a downlink binding, and the pod's shutdown, would wait with it. What a poll
        // abandoned here returns later is neither delivered nor acked: RocketMQ hands it out
        // again once its invisible duration is over.
        messages = await unlessAborted(consumer.receive(settings.batchSize, settings.invisibleDurationMs), this.stopping.signal);
        if (messages === undefined) return;
        health.succeeded();
        backoff.reset();
      } catch (err) {
        if (this.stopping.signal.aborted) return;
        health.failed();
        metrics.errors.inc({ component: 'rocketmq_consumer' });
        const wait = backoff.next();
        log.warn({ topic: this.topic, err: errorMessage(err), retryInMs: wait }, 'RocketMQ receive failed');
        await sleep(wait, this.stopping.signal);
        continue;
      }
      if (messages.length > 0) metrics.receiveSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
      // Handed to aedes in receive order (each deliver() reaches aedes.publish synchronously),
      // then the deliveries of a batch run concurrently: awaiting each one in turn capped a
      // receiver at one message per fan-out round trip. The contract promises order upstream
      // only (and several receivers never kept it downstream anyway). What was delivered is
      // acked in one request once the batch's deliveries are done.
      const delivered = Promise.all(messages.map((message) => this.deliver(message).then((ok) => (ok ? message : undefined))));
      await acked(delivered.then((done) => this.ack(consumer, done.filter((m) => m !== undefined))));
    }
  }

  /** Hands the message to MQTT; false when it must stay unacked (RocketMQ redelivers it after its invisible duration). */
  private async deliver(message: MessageView): Promise<boolean> {
    const { log, metrics, handle } = this.deps;
    const result = await handle(this.topic, message).catch((err: unknown) => retryLater('handler_failed', err instanceof Error ? err : new Error(String(err))));
    if (result.outcome !== 'retry-later') return true;
    metrics.downlinkLeftUnacked.inc({ reason: result.reason });
    const fields = { topic: this.topic, messageId: message.messageId, reason: result.reason, ...(result.err ? { err: errorMessage(result.err) } : {}) };
    if (isFault(result.reason)) {
      metrics.errors.inc({ component: 'downlink' });
      log.error(fields, 'downlink delivery failed; left in RocketMQ for redelivery');
    } else {
      log.debug(fields, 'downlink message left in RocketMQ for redelivery');
    }
    return false;
  }

  private async ack(consumer: TopicConsumer, messages: MessageView[]): Promise<void> {
    if (messages.length === 0) return;
    const { log, metrics } = this.deps;
    const failures = await consumer.ack(messages);
    if (failures.length === 0) return;
    metrics.errors.inc({ component: 'rocketmq_ack' }, failures.length);
    const shown = failures.slice(0, 5).map((f) => ({ messageId: f.message.messageId, err: f.reason }));
    log.warn({ topic: this.topic, failed: failures.length, of: messages.length, first: shown }, 'ack failed; RocketMQ will redeliver');
  }

  async stop(): Promise<void> {
    // The receive loop leaves a pending long poll at once (receiveBatches): the client's
    // shutdown does not end one, which held a reload dropping this topic for ~20 s.
    this.stopping.abort();
    await this.consumer?.shutdown().catch(() => undefined);
    await Promise.allSettled(this.loops);
  }
}

export interface ConsumerDeps {
  settings: ReceiveSettings;
  /** simpleTopicConsumer unless a test hands in another. */
  createConsumer?: TopicConsumerFactory;
  options: BaseClientOptions;
  handle: MessageHandler;
  health: RocketmqHealth;
  metrics: BridgeMetrics;
  log: Logger;
}

/** The set of RocketMQ topics the bridge consumes; follows binding reloads. */
export class DownlinkConsumers {
  private readonly receivers = new Map<string, TopicReceiver>();

  constructor(private readonly deps: ConsumerDeps) {
    checkRocketmqInternals();
  }

  get topics(): string[] {
    return [...this.receivers.keys()];
  }

  async setTopics(topics: Iterable<string>): Promise<void> {
    const wanted = new Set(topics);
    const gone = [...this.receivers.keys()].filter((t) => !wanted.has(t));
    for (const topic of wanted) {
      if (this.receivers.has(topic)) continue;
      const receiver = new TopicReceiver(topic, this.deps);
      this.receivers.set(topic, receiver);
      receiver.start();
    }
    await Promise.all(
      gone.map(async (topic) => {
        const receiver = this.receivers.get(topic)!;
        this.receivers.delete(topic);
        await receiver.stop();
        this.deps.log.info({ topic }, 'stopped consuming RocketMQ topic');
      }),
    );
  }

  async stop(): Promise<void> {
    await this.setTopics([]);
  }
}
