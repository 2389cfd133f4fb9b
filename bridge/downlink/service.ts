import type { Aedes } from 'aedes';
import type { MessageView } from 'rocketmq-client-nodejs';
import type { BindingTable } from '../mapping/bindings.js';
import { DELIVERED, DROPPED, retryLater, type DeliveryResult } from './delivery-result.js';
import { connectedClient } from '../mqtt/aedes-internals.js';
import { planDownlink } from '../mapping/downlink.js';
import { payloadOf } from '../mapping/properties.js';
import { ROCKETMQ_PUBLISHER } from '../mapping/topics.js';
import { p2pInternalTopic } from '../mapping/p2p.js';
import type { Logger } from '../observability/log.js';
import type { BridgeMetrics } from '../observability/metrics.js';
import { reportRefusal } from '../observability/refusal-report.js';

export interface DownlinkDeps {
  aedes: Aedes;
  bindings: () => BindingTable;
  origin: string;
  maxTopicLength: number;
  metrics: BridgeMetrics;
  log: Logger;
  /** Cluster-wide presence of a client id (shared session store); by default this pod's clients. */
  isOnline?: (clientId: string) => Promise<boolean>;
  /** With a shared session store: whether it answers. Messages wait in RocketMQ while it does not. */
  storeUp?: () => boolean;
}

/**
 * RocketMQ → devices. Resolves once aedes has taken the message (for QoS > 0 that includes
 * queueing it for offline persistent sessions) or it is clear that it cannot be delivered now
 * or ever; the result says which, and the consumer acks by it (`delivery-result.ts`).
 */
export class DownlinkService {
  constructor(private readonly deps: DownlinkDeps) {}

  /** This pod's clients first: no round trip to Redis for them. */
  private async isOnline(clientId: string): Promise<boolean> {
    if (isConnected(this.deps.aedes, clientId)) return true;
    return (await this.deps.isOnline?.(clientId)) ?? false;
  }

  async deliver(rocketmqTopic: string, message: MessageView): Promise<DeliveryResult> {
    const { bindings, origin, maxTopicLength, metrics, log, aedes } = this.deps;
    const binding = bindings().downlinkByTopic().get(rocketmqTopic);
    // Unbound meanwhile: leave it unacked in RocketMQ rather than lose it.
    if (!binding) return retryLater('unbound');

    const plan = planDownlink(binding, message.properties, origin, maxTopicLength);
    if (!plan.ok) {
      reportRefusal(metrics, log, plan, { topic: rocketmqTopic, messageId: message.messageId }, 'RocketMQ message not deliverable');
      return DROPPED;
    }
    if (plan.kind === 'echo') return DROPPED;
    if (this.deps.storeUp && !this.deps.storeUp()) {
      // Unacked, it comes back once the invisible duration is over; by then Redis may be back.
      metrics.sessionStoreDegraded.inc({ operation: 'downlink_left_in_rocketmq' });
      return retryLater('session_store_unreachable');
    }
    if (plan.kind === 'p2p' && !plan.keepWhileOffline && !(await this.isOnline(plan.target))) {
      // cleansessionflag=true: for online devices only.
      reportRefusal(metrics, log, { reason: 'p2p_target_offline' }, { target: plan.target, messageId: message.messageId }, 'P2P target offline; message not kept', 'debug');
      return DROPPED;
    }
    const topic = plan.kind === 'p2p' ? p2pInternalTopic(plan.target, plan.topic) : plan.topic;
    const published = await new Promise<Error | undefined>((resolve) => {
      const packet = { cmd: 'publish' as const, topic, payload: payloadOf(message.body, message.properties), qos: plan.qos, retain: false, dup: false };
      aedes.publish({ ...packet, clientId: ROCKETMQ_PUBLISHER } as typeof packet, (err) => resolve(err ?? undefined));
    });
    if (published) return retryLater('publish_failed', published);
    metrics.messages.inc({ direction: 'downlink', binding: binding.mqttParentTopic });
    metrics.bytes.inc({ direction: 'downlink', binding: binding.mqttParentTopic }, message.body.length);
    if (message.bornTimestamp) metrics.downlinkDelaySeconds.observe((Date.now() - message.bornTimestamp.getTime()) / 1000);
    return DELIVERED;
  }
}

function isConnected(aedes: Aedes, clientId: string): boolean {
  return connectedClient(aedes, clientId) !== undefined;
}
