import type { MessageView, SimpleConsumer } from 'rocketmq-client-nodejs';
import definitions from 'rocketmq-client-nodejs/proto/apache/rocketmq/v2/definition_pb.js';
import services from 'rocketmq-client-nodejs/proto/apache/rocketmq/v2/service_pb.js';
import { SimpleConsumer as SimpleConsumerClass } from 'rocketmq-client-nodejs';
import { assertInternals } from '../util/pinned.js';
import { errorMessage } from './errors.js';

// Generated protobuf modules are CommonJS without static named exports.
const { Code, Resource } = definitions;
const { AckMessageRequest } = services;

/** The rocketmq-client-nodejs this seam is built against (package.json pins it exactly). */
export const PINNED_ROCKETMQ_CLIENT_VERSION = '1.0.8';

/** Throws, naming the version, when the client lacks what `ackBatch` calls. */
export function checkRocketmqInternals(): void {
  const missing: string[] = [];
  if (typeof (SimpleConsumerClass.prototype as { ackMessageViaRpc?: unknown }).ackMessageViaRpc !== 'function') missing.push('SimpleConsumer.ackMessageViaRpc is missing');
  if (typeof new AckMessageRequest().addEntries !== 'function') missing.push('AckMessageRequest.addEntries is missing');
  assertInternals('rocketmq-client-nodejs', PINNED_ROCKETMQ_CLIENT_VERSION, missing);
}

export interface AckFailure {
  message: MessageView;
  reason: string;
}

/**
 * Acks messages of one topic with one request per proxy endpoint. The client's `ack()` sends
 * one request per message, and on this path the request, not the message, is what costs the
 * proxy and the client their CPU: measured on one broker, acking each batch of 16 in one
 * request doubled the messages a consumer could take per second. The proxy answers per
 * message, so a refusal fails that message alone; it comes back after its invisible duration.
 */
export async function ackBatch(consumer: SimpleConsumer, group: string, topic: string, messages: MessageView[], timeoutMs: number): Promise<AckFailure[]> {
  const byEndpoint = new Map<string, MessageView[]>();
  for (const m of messages) {
    const key = m.endpoints.facade;
    byEndpoint.set(key, [...(byEndpoint.get(key) ?? []), m]);
  }
  const failures: AckFailure[] = [];
  await Promise.all(
    [...byEndpoint.values()].map(async (list) => {
      const request = new AckMessageRequest().setGroup(new Resource().setName(group)).setTopic(new Resource().setName(topic));
      for (const m of list) request.addEntries().setMessageId(m.messageId).setReceiptHandle(m.receiptHandle);
      try {
        const response = (await consumer.ackMessageViaRpc(list[0]!.endpoints, request, timeoutMs)).toObject();
        const statusOf = new Map(response.entriesList.map((e) => [e.messageId, e.status]));
        for (const m of list) {
          const status = statusOf.get(m.messageId);
          if (status?.code !== Code.OK) failures.push({ message: m, reason: status ? `${status.code} ${status.message}` : `not answered (${response.status?.message ?? 'no status'})` });
        }
      } catch (err) {
        for (const m of list) failures.push({ message: m, reason: errorMessage(err) });
      }
    }),
  );
  return failures;
}
