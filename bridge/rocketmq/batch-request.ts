import type { Producer } from 'rocketmq-client-nodejs';
import { PublishingMessage } from 'rocketmq-client-nodejs/dist/message/PublishingMessage.js';
import type { MessageQueue } from 'rocketmq-client-nodejs/dist/route/MessageQueue.js';
import type { TopicRouteData } from 'rocketmq-client-nodejs/dist/route/TopicRouteData.js';
import type { Endpoints } from 'rocketmq-client-nodejs/dist/route/Endpoints.js';
import { SendReceipt as Receipt } from 'rocketmq-client-nodejs/dist/producer/SendReceipt.js';
import definitions from 'rocketmq-client-nodejs/proto/apache/rocketmq/v2/definition_pb.js';
import services, { type SendMessageRequest, type SendMessageResponse } from 'rocketmq-client-nodejs/proto/apache/rocketmq/v2/service_pb.js';
import type { UplinkMessage } from '../mapping/uplink.js';

/**
 * The producer's own members that a batch needs. The client can send a batch (its
 * SendMessageRequest carries a list) but its public `send()` takes one message, so this
 * reaches the same request path through members TypeScript marks protected.
 */
interface ProducerInternals {
  readonly namespace: string;
  readonly requestTimeout: number;
  readonly rpcClientManager: { sendMessage(endpoints: Endpoints, request: SendMessageRequest, timeoutMs: number): Promise<SendMessageResponse> };
  getRouteData(topic: string): Promise<TopicRouteData>;
}

/** The broker's own limit; bodies are capped far lower by `mqtt.maxPayloadBytes`. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;
const MASTER_BROKER_ID = 0;
// Generated protobuf modules are CommonJS without static named exports.
const { Permission } = definitions;

/** Sends NORMAL messages of one topic as one request, round-robin over its writable queues. */
export class BatchRequests {
  private next = 0;

  constructor(private readonly producer: Producer) {}

  /** Resolves once the broker stored the whole batch (it answers for the batch, not per message). */
  async send(topic: string, messages: UplinkMessage[]): Promise<void> {
    const client = this.producer as unknown as ProducerInternals;
    const queue = this.pickQueue(topic, await client.getRouteData(topic));
    const request = new services.SendMessageRequest();
    for (const m of messages) {
      const publishing = new PublishingMessage({ topic, body: m.body, properties: m.properties, ...(m.keys ? { keys: m.keys } : {}) }, { maxBodySizeBytes: MAX_BODY_BYTES } as never, false);
      request.addMessages(publishing.toProtobuf(client.namespace, queue));
    }
    const response = await client.rpcClientManager.sendMessage(queue.broker.endpoints, request, client.requestTimeout);
    // Throws the client's own exception types for a refused batch, as `send()` would.
    Receipt.processResponseInvocation(queue, response);
  }

  private pickQueue(topic: string, route: TopicRouteData): MessageQueue {
    const writable = route.messageQueues.filter(
      (q) => q.broker.id === MASTER_BROKER_ID && (q.permission === Permission.WRITE || q.permission === Permission.READ_WRITE),
    );
    if (writable.length === 0) throw new Error(`no writable queue for topic ${topic}`);
    this.next = (this.next + 1) % writable.length;
    return writable[this.next]!;
  }
}
