import type { PublishPacket, Client } from 'aedes';
import type { BindingTable } from '../mapping/bindings.js';
import type { Qos } from '../mapping/properties.js';
import type { Refusal } from '../mapping/refusals.js';
import { p2pInternalTopic } from '../mapping/topics.js';
import { planUplink, type UplinkLimits, type UplinkPlan } from '../mapping/uplink.js';
import type { Logger } from '../observability/log.js';
import type { BridgeMetrics } from '../observability/metrics.js';
import { errorMessage, isPermanent } from '../rocketmq/errors.js';
import type { RocketmqProducer } from '../rocketmq/producer.js';
import { Backoff, sleep } from '../util/backoff.js';
import { PerClientQueue } from './client-queue.js';
import { Qos2Ids } from './qos2-ids.js';

/** An error that aedes turns into a disconnect; MQTT 3.1.1 has no negative PUBACK. */
export class RefusedError extends Error {
  constructor(readonly refusal: Refusal) {
    super(`${refusal.reason}: ${refusal.detail}`);
    this.name = 'RefusedError';
  }
}

export interface UplinkDeps {
  bindings: () => BindingTable;
  producer: RocketmqProducer;
  limits: UplinkLimits;
  timeoutMs: number;
  origin: string;
  metrics: BridgeMetrics;
  log: Logger;
  /**
   * With a shared session store: whether another pod already stored this QoS 2 PUBLISH (the
   * session's in-flight record), for a DUP that arrives after the device moved pods.
   */
  storedElsewhere?: (clientId: string, messageId: number) => Promise<boolean>;
}

/**
 * Device → RocketMQ. Runs as aedes' authorizePublish, which aedes awaits before it sends
 * PUBACK/PUBREC and before it delivers to MQTT subscribers: so a message is stored in
 * RocketMQ first, then acknowledged and delivered. While RocketMQ is away the send is
 * retried and the acknowledgement withheld; after `timeoutMs` the device is disconnected
 * and resends on its next connection.
 */
export class UplinkService {
  private readonly queue = new PerClientQueue();
  private readonly qos2 = new Qos2Ids();

  constructor(private readonly deps: UplinkDeps) {}

  get inFlight(): number {
    return this.queue.active;
  }

  drain(): Promise<void> {
    return this.queue.drain();
  }

  authorizePublish(client: Client | null, packet: PublishPacket, done: (err?: Error | null) => void): void {
    const clientId = client?.id ?? (packet as { clientId?: string }).clientId ?? '';
    const plan = planUplink(
      this.deps.bindings(),
      { topic: packet.topic, payload: toBuffer(packet.payload), qos: packet.qos as Qos, clientId, cleanSession: client?.clean ?? true },
      this.deps.limits,
      this.deps.origin,
    );
    if (!plan.ok) return done(new RefusedError(this.refused(plan, clientId, packet.topic)));
    // Retained messages would live in one pod's memory only; the service does not offer them.
    packet.retain = false;
    const qos2Id = packet.qos === 2 && client ? packet.messageId : undefined;
    // Two callbacks rather than then/catch: an exception thrown inside done must not call it twice.
    this.queue.run(clientId, () => this.storeOnce(plan, clientId, client, qos2Id, packet.dup === true)).then(
      () => {
        this.deps.metrics.messages.inc({ direction: 'uplink', binding: plan.binding.mqttParentTopic });
        this.deps.metrics.bytes.inc({ direction: 'uplink', binding: plan.binding.mqttParentTopic }, plan.message.body.length);
        // Only the target receives a P2P message: route it to the target's private inbox.
        if (plan.p2pTarget !== undefined) packet.topic = p2pInternalTopic(plan.p2pTarget, packet.topic);
        done(null);
      },
      (err: unknown) => done(err instanceof RefusedError ? err : new Error(errorMessage(err))),
    );
  }

  /** Exactly once for QoS 2: a DUP of a PUBLISH already stored is acknowledged, not sent again. */
  private async storeOnce(plan: UplinkPlan, clientId: string, client: Client | null, qos2Id: number | undefined, dup: boolean): Promise<void> {
    if (qos2Id !== undefined && dup && (this.qos2.has(clientId, qos2Id) || (await this.deps.storedElsewhere?.(clientId, qos2Id)))) {
      this.deps.metrics.duplicatesSkipped.inc();
      return;
    }
    await this.store(plan, clientId, client);
    if (qos2Id !== undefined) this.qos2.stored(clientId, qos2Id);
  }

  /** The client's clean session ended. */
  forgetClient(clientId: string): void {
    this.qos2.forget(clientId);
  }

  private async store(plan: UplinkPlan, clientId: string, client: Client | null): Promise<void> {
    const { producer, metrics, log, timeoutMs } = this.deps;
    const deadline = Date.now() + timeoutMs;
    const backoff = new Backoff(100, 2_000);
    for (let attempt = 1; ; attempt++) {
      try {
        await producer.send(plan.message, clientId);
        return;
      } catch (err) {
        if (isPermanent(err)) {
          throw new RefusedError(this.refused({ ok: false, reason: 'rocketmq_rejected', detail: errorMessage(err) }, clientId, plan.message.topic));
        }
        const wait = backoff.next();
        if (Date.now() + wait > deadline || client?.closed) {
          const detail = `${errorMessage(err)} (gave up after ${attempt} attempts)`;
          throw new RefusedError(this.refused({ ok: false, reason: 'rocketmq_unavailable', detail }, clientId, plan.message.topic));
        }
        metrics.sendRetries.inc();
        if (attempt === 1) log.warn({ clientId, topic: plan.message.topic, err: errorMessage(err) }, 'RocketMQ send failed; retrying, acknowledgement withheld');
        await sleep(wait);
      }
    }
  }

  private refused(refusal: Refusal, clientId: string, topic: string): Refusal {
    this.deps.metrics.refused(refusal.reason);
    this.deps.log.warn({ clientId, topic, reason: refusal.reason, detail: refusal.detail }, 'PUBLISH refused; disconnecting client');
    return refusal;
  }
}

function toBuffer(payload: string | Buffer): Buffer {
  return typeof payload === 'string' ? Buffer.from(payload) : payload;
}
