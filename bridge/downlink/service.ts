import type { Aedes } from 'aedes';
import type { MessageView } from 'rocketmq-client-nodejs';
import type { BindingTable } from '../mapping/bindings.js';
import { planDownlink } from '../mapping/downlink.js';
import { payloadOf } from '../mapping/properties.js';
import { p2pInternalTopic } from '../mapping/topics.js';
import type { Logger } from '../observability/log.js';
import type { BridgeMetrics } from '../observability/metrics.js';

export interface DownlinkDeps {
  aedes: Aedes;
  bindings: () => BindingTable;
  origin: string;
  maxTopicLength: number;
  metrics: BridgeMetrics;
  log: Logger;
}

/**
 * RocketMQ → devices. Resolves once aedes has taken the message (for QoS > 0 that includes
 * queueing it for offline persistent sessions), so the caller acks only then. Messages that
 * cannot be delivered however often they come back are logged, counted and acked.
 */
export class DownlinkService {
  constructor(private readonly deps: DownlinkDeps) {}

  async deliver(rocketmqTopic: string, message: MessageView): Promise<void> {
    const { bindings, origin, maxTopicLength, metrics, log, aedes } = this.deps;
    const binding = bindings().downlinkByTopic().get(rocketmqTopic);
    // Unbound meanwhile: leave it unacked in RocketMQ rather than lose it.
    if (!binding) throw new Error(`RocketMQ topic ${rocketmqTopic} is no longer bound for downlink`);

    const plan = planDownlink(binding, message.properties, origin, maxTopicLength);
    if (!plan.ok) {
      metrics.refused(plan.reason);
      log.warn({ topic: rocketmqTopic, messageId: message.messageId, reason: plan.reason, detail: plan.detail }, 'RocketMQ message not deliverable');
      return;
    }
    if (plan.kind === 'echo') return;
    if (plan.kind === 'p2p' && !plan.keepWhileOffline && !isConnected(aedes, plan.target)) {
      // cleansessionflag=true: for online devices only.
      metrics.refused('p2p_target_offline');
      log.debug({ target: plan.target, messageId: message.messageId }, 'P2P target offline; message not kept');
      return;
    }
    const topic = plan.kind === 'p2p' ? p2pInternalTopic(plan.target, plan.topic) : plan.topic;
    await new Promise<void>((resolve, reject) => {
      aedes.publish({ cmd: 'publish', topic, payload: payloadOf(message.body, message.properties), qos: plan.qos, retain: false, dup: false }, (err) =>
        err ? reject(err) : resolve(),
      );
    });
    metrics.messages.inc({ direction: 'downlink', binding: binding.mqttParentTopic });
    metrics.bytes.inc({ direction: 'downlink', binding: binding.mqttParentTopic }, message.body.length);
    if (message.bornTimestamp) metrics.downlinkDelaySeconds.observe((Date.now() - message.bornTimestamp.getTime()) / 1000);
  }
}

function isConnected(aedes: Aedes, clientId: string): boolean {
  return (aedes as unknown as { clients: Record<string, unknown> }).clients[clientId] !== undefined;
}
