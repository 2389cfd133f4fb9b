import type { PublishPacket, Client } from 'aedes';
import type { BindingTable } from '../mapping/bindings.js';
import type { Qos } from '../../contract/rules.js';
import type { Refusal } from '../mapping/refusals.js';
import { p2pInternalTopic } from '../mapping/p2p.js';
import { planUplink, type UplinkLimits, type UplinkPlan } from '../mapping/uplink.js';
import type { Logger } from '../observability/log.js';
import type { BridgeMetrics } from '../observability/metrics.js';
import { errorMessage, isPermanent, storedDespite } from '../rocketmq/errors.js';
import type { RocketmqProducer } from '../rocketmq/producer.js';
import { Backoff, sleep } from '../util/backoff.js';
import { PerClientQueue } from '../util/client-queue.js';
import { Qos2Flows } from './qos2-flows.js';
import { PUBLISH_REFUSED, reportRefusal } from '../observability/refusal-report.js';

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
   * The session's QoS 2 records (memory or Redis): one exists from the PUBREC of a stored
   * PUBLISH to its PUBREL, whichever pod or connection took it. A DUP on a later connection is a
   * duplicate if its record exists; a new PUBLISH with the id ends an earlier, unfinished flow.
   */
  qos2Records: { has(clientId: string, messageId: number): Promise<boolean>; delete(clientId: string, messageId: number): Promise<void> };
  /** The epoch of the client's session, for the RocketMQ key of its QoS 1/2 messages. */
  sessionEpochOf: (client: Client) => string | undefined;
  /** QoS 2 flows of one client kept in memory at most (mqtt.maxQos2InFlight). */
  maxQos2InFlight: number;
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
  private readonly qos2: Qos2Flows;

  constructor(private readonly deps: UplinkDeps) {
    this.qos2 = new Qos2Flows(deps.maxQos2InFlight);
  }

  get inFlight(): number {
    return this.queue.active;
  }

  drain(): Promise<void> {
    return this.queue.drain();
  }

  authorizePublish(client: Client | null, packet: PublishPacket, done: (err?: Error | null) => void): void {
    const clientId = client?.id ?? (packet as { clientId?: string }).clientId ?? '';
    const epoch = client ? this.deps.sessionEpochOf(client) : undefined;
    const key = packet.qos > 0 && epoch !== undefined ? `${clientId}:${epoch}:${packet.messageId}` : undefined;
    const plan = planUplink(
      this.deps.bindings(),
      { topic: packet.topic, payload: toBuffer(packet.payload), qos: packet.qos as Qos, clientId, cleanSession: client?.clean ?? true, ...(key ? { key } : {}) },
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
    if (qos2Id === undefined) return this.store(plan, clientId, client);
    if (dup && (this.qos2.isStored(clientId, qos2Id) || (await this.deps.qos2Records.has(clientId, qos2Id).catch(() => false)))) {
      this.deps.metrics.duplicatesSkipped.inc();
      return;
    }
    this.qos2.begin(clientId, qos2Id);
    // MQTT 3.1.1 sets DUP on every retransmission: a PUBLISH without it is a new message, so a
    // record left by an earlier flow with this id (a client that lost its state) must not make
    // this one, or its retransmission, look like a duplicate.
    if (!dup) await this.deps.qos2Records.delete(clientId, qos2Id).catch(() => undefined);
    await this.store(plan, clientId, client);
    this.qos2.stored(clientId, qos2Id);
  }

  /** PUBREL of a QoS 2 flow. */
  released(clientId: string, messageId: number): void {
    this.qos2.released(clientId, messageId);
  }

  /** The client's connection ended. */
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
        const degraded = storedDespite(err);
        if (degraded) {
          metrics.sendDegraded.inc({ reason: degraded });
          log.warn({ clientId, topic: plan.message.topic, reason: degraded, err: errorMessage(err) }, 'RocketMQ stored the message less durably than configured; not sent again');
          return;
        }
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
    reportRefusal(this.deps.metrics, this.deps.log, refusal, { clientId, topic }, PUBLISH_REFUSED);
    return refusal;
  }
}

function toBuffer(payload: string | Buffer): Buffer {
  return typeof payload === 'string' ? Buffer.from(payload) : payload;
}
