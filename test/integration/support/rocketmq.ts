import { Producer, SimpleConsumer, type MessageView } from 'rocketmq-client-nodejs';
import { ROCKETMQ_ENDPOINT, sleep } from './env.js';

const silent = { info() {}, warn() {}, error() {}, debug() {} };
const base = { endpoints: ROCKETMQ_ENDPOINT, namespace: '', logger: silent };

/** An application on the RocketMQ side, using the official Node client. */
export async function appProducer(): Promise<Producer> {
  const producer = new Producer({ ...base });
  await producer.startup();
  return producer;
}

export async function appSend(producer: Producer, topic: string, body: Buffer | string, properties: Record<string, string> = {}, messageGroup?: string) {
  return producer.send({
    topic,
    body: Buffer.isBuffer(body) ? body : Buffer.from(body),
    properties: new Map(Object.entries(properties)),
    ...(messageGroup ? { messageGroup } : {}),
  });
}

/**
 * An application consumer. Give it a group no other running consumer uses, so it sees every
 * message of the topic; start it before the messages it waits for are sent.
 */
export class AppConsumer {
  private readonly seen: MessageView[] = [];
  private stopped = false;
  private loop: Promise<void> | undefined;

  private constructor(private readonly consumer: SimpleConsumer) {}

  static async start(topic: string, consumerGroup: string): Promise<AppConsumer> {
    const consumer = new SimpleConsumer({ ...base, consumerGroup, subscriptions: new Map([[topic, '*']]), awaitDuration: 5_000 });
    await consumer.startup();
    const app = new AppConsumer(consumer);
    app.loop = app.run();
    return app;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        const messages = await this.consumer.receive(32, 20_000);
        for (const m of messages) {
          this.seen.push(m);
          await this.consumer.ack(m).catch(() => undefined);
        }
      } catch {
        await sleep(200);
      }
    }
  }

  matching(predicate: (m: MessageView) => boolean): MessageView[] {
    return this.seen.filter(predicate);
  }

  async waitFor(predicate: (m: MessageView) => boolean, count = 1, timeoutMs = 30_000): Promise<MessageView[]> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const found = this.matching(predicate);
      if (found.length >= count) return found;
      await sleep(50);
    }
    throw new Error(`expected ${count} matching RocketMQ messages, saw ${this.matching(predicate).length} of ${this.seen.length}`);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.consumer.shutdown().catch(() => undefined);
    await this.loop;
  }
}

export function props(m: MessageView): Record<string, string> {
  return Object.fromEntries(m.properties);
}
