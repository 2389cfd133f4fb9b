import { Producer, type BaseClientOptions } from 'rocketmq-client-nodejs';
import type { UplinkMessage } from '../mapping/uplink.js';
import type { Logger } from '../observability/log.js';
import type { BridgeMetrics } from '../observability/metrics.js';
import { Backoff, sleep } from '../util/backoff.js';
import { BatchRequests } from './batch-request.js';
import { errorMessage, isPermanent } from './errors.js';
import type { RocketmqHealth } from './health.js';
import { SendBatcher, type BatchLimits } from './send-batcher.js';

const FIFO_MESSAGE_TYPE = 2; // apache.rocketmq.v2.MessageType.FIFO

interface RouteQuery {
  getRouteData(topic: string): Promise<{ messageQueues: { acceptMessageTypesList: number[] }[] }>;
}

/**
 * One RocketMQ producer for the whole bridge. It starts in the background and keeps
 * retrying with backoff, so the MQTT side can come up (not ready) while RocketMQ is away.
 */
export class RocketmqProducer {
  private producer: Producer | undefined;
  private batcher: SendBatcher<UplinkMessage> | undefined;
  private readonly fifoTopics = new Map<string, boolean>();
  private readonly stopping = new AbortController();
  private starting: Promise<void> | undefined;

  constructor(
    private readonly options: BaseClientOptions,
    private readonly batchLimits: BatchLimits & { maxMessages: number },
    private readonly health: RocketmqHealth,
    private readonly metrics: BridgeMetrics,
    private readonly log: Logger,
  ) {}

  get started(): boolean {
    return this.producer !== undefined;
  }

  start(): Promise<void> {
    this.starting ??= this.startWithRetry();
    return this.starting;
  }

  private async startWithRetry(): Promise<void> {
    const backoff = new Backoff(200, 10_000);
    while (!this.stopping.signal.aborted) {
      // One attempt per send: the uplink retries with backoff, and knows which answers mean "stored".
      const candidate = new Producer({ ...this.options, maxAttempts: 1 });
      try {
        await candidate.startup();
        this.producer = candidate;
        this.batcher = this.createBatcher(candidate);
        this.health.succeeded();
        this.log.info({ endpoints: this.options.endpoints }, 'RocketMQ producer started');
        return;
      } catch (err) {
        this.health.failed();
        this.metrics.errors.inc({ component: 'rocketmq_producer' });
        const wait = backoff.next();
        this.log.warn({ err: errorMessage(err), retryInMs: wait }, 'RocketMQ producer could not start; retrying');
        await candidate.shutdown().catch(() => undefined);
        await sleep(wait, this.stopping.signal);
      }
    }
  }

  /** One send attempt, resolved once RocketMQ stored the message; the caller decides about retries. */
  async send(message: UplinkMessage, messageGroup: string | undefined): Promise<void> {
    const producer = this.producer;
    if (!producer) throw new Error('RocketMQ producer is not started yet');
    const started = process.hrtime.bigint();
    try {
      const isFifo = await this.isFifo(producer, message.topic);
      // A FIFO batch must share one message group, i.e. one device: those go one by one.
      if (!isFifo && this.batcher) await this.batcher.send(message.topic, message);
      else {
        await producer.send({
          topic: message.topic,
          body: message.body,
          properties: message.properties,
          ...(message.keys ? { keys: message.keys } : {}),
          ...(isFifo && messageGroup ? { messageGroup } : {}),
        });
      }
      this.observe(started, 'ok');
      this.health.succeeded();
    } catch (err) {
      this.observe(started, 'error');
      this.health.failed();
      throw err;
    }
  }

  private createBatcher(producer: Producer): SendBatcher<UplinkMessage> | undefined {
    if (this.batchLimits.maxMessages <= 1) return undefined;
    const requests = new BatchRequests(producer);
    return new SendBatcher(
      (topic, messages) => requests.send(topic, messages),
      (m) => m.body.length + propertiesBytes(m.properties),
      this.batchLimits,
      (size) => this.metrics.sendBatchMessages.observe(size),
      isPermanent,
    );
  }

  /** FIFO topics get the sender's client id as message group, so each device's order holds. */
  private async isFifo(producer: Producer, topic: string): Promise<boolean> {
    const known = this.fifoTopics.get(topic);
    if (known !== undefined) return known;
    const route = await (producer as unknown as RouteQuery).getRouteData(topic);
    const fifo = route.messageQueues.some((q) => q.acceptMessageTypesList.includes(FIFO_MESSAGE_TYPE));
    this.fifoTopics.set(topic, fifo);
    return fifo;
  }

  private observe(started: bigint, result: 'ok' | 'error'): void {
    this.metrics.sendSeconds.observe({ result }, Number(process.hrtime.bigint() - started) / 1e9);
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.starting;
    await this.producer?.shutdown().catch(() => undefined);
    this.producer = undefined;
    this.batcher = undefined;
  }
}

function propertiesBytes(properties: Map<string, string>): number {
  let bytes = 0;
  for (const [k, v] of properties) bytes += k.length + v.length + 2;
  return bytes;
}
