import type { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { Aedes, type Client, type Subscription } from 'aedes';
import { isOwnP2PInbox } from '../mapping/p2p.js';
import type { AuthService } from '../auth/service.js';
import { TOKEN_RENEWAL_TOPIC } from '../auth/token.js';
import type { BindingTable } from '../mapping/bindings.js';
import { refuse, type Refusal, type RefusalReason } from '../mapping/refusals.js';
import { hasControlCharacter, isInternalTopic } from '../mapping/topics.js';
import { checkSubscribeFilter, checkWill, type UplinkLimits } from '../mapping/uplink.js';
import type { Logger } from '../observability/log.js';
import type { BridgeMetrics } from '../observability/metrics.js';
import type { Emitter } from '../redis/emitter.js';
import { RefusedError, type UplinkService } from '../uplink/service.js';
import { beforeEachPacket, checkAedesInternals, dropClientPublishes, heldFilters, holdDeliveriesUntilConnack, skipClosedRegistrations, willOf, type ParsedPacket } from './aedes-internals.js';
import { enforcedKeepalive, limitRefusals, type SubscribeLimits } from './client-limits.js';
import { forwardVerdict } from './delivery-policy.js';
import { installP2pInboxes } from './p2p-route.js';
import { PacketTooLargeError, guardPacketSize } from './packet-guard.js';
import type { SessionPersistence } from './session-persistence.js';
import { PUBLISH_REFUSED, reportRefusal } from '../observability/refusal-report.js';

export interface BrokerLimits extends UplinkLimits, SubscribeLimits {
  maxClientIdLength: number;
  maxPacketBytes: number;
  connectTimeoutMs: number;
  maxKeepaliveSeconds: number;
  maxQos2InFlight: number;
}

export interface BrokerDeps {
  auth: AuthService;
  bindings: () => BindingTable;
  uplink: UplinkService;
  limits: BrokerLimits;
  metrics: BridgeMetrics;
  log: Logger;
  persistence: SessionPersistence;
  /** Shared delivery across pods; without it, aedes' in-process emitter. */
  mq?: Emitter;
  /** Whether the session store answers (a persistent session cannot connect without it); absent: sessions in memory. */
  storeUp?: () => boolean;
  /** Told of every connection and disconnection (presence and session expiry in the shared store). */
  sessions?: {
    clientConnected(clientId: string, clean: boolean): void;
    clientDisconnected(clientId: string, clean: boolean): void;
  };
  /** Names this aedes instance among the pods (in Redis and in aedes' $SYS announcements). */
  podId?: string;
  /** aedes' heartbeat among the pods (sessionStore.podHeartbeatMs). */
  heartbeatMs?: number;
  /** Require the client id to be the subject CN of the client's certificate on TLS listeners. */
  clientIdFromCertificate: boolean;
}

/** The embedded MQTT server, configured with the bridge's publish/subscribe/delivery policy. */
export async function createBroker(deps: BrokerDeps): Promise<Aedes> {
  const { auth, bindings, uplink, limits, metrics, log, persistence } = deps;
  /** Filters of a SUBSCRIBE that a limit refused, marked before aedes authorizes them one by one. */
  const overLimit = new WeakMap<object, RefusalReason>();

  const aedes = await Aedes.createBroker({
    ...(deps.podId ? { id: deps.podId } : {}),
    ...(deps.heartbeatMs ? { heartbeatInterval: deps.heartbeatMs } : {}),
    persistence,
    ...(deps.mq ? { mq: deps.mq } : {}),
    maxClientsIdLength: limits.maxClientIdLength,
    connectTimeout: limits.connectTimeoutMs,
    maxInflightInbound: limits.maxQos2InFlight,
    preConnect: (_client, packet, done) => {
      // Keep alive 0 would let a dead connection hold its file descriptor and session forever.
      const keepalive = enforcedKeepalive(packet.keepalive ?? 0, limits.maxKeepaliveSeconds);
      if (keepalive !== packet.keepalive) {
        metrics.keepaliveEnforced.inc();
        packet.keepalive = keepalive;
      }
      done(null, true);
    },
    authenticate: (client, username, password, done) => {
      const refusal = connectRefusal(client);
      if (refusal) {
        reportRefusal(metrics, log, refusal, { clientId: client.id.slice(0, 80) }, 'CONNECT refused');
        return done(Object.assign(new Error(refusal.detail), { returnCode: refusal.code }), false);
      }
      auth.authenticate(client, username, password, done, (session) => willRefusal(client, session.rights));
    },
    authorizePublish: (client, packet, done) => {
      if (auth.isRenewal(packet)) return auth.renew(client, packet, done);
      const denied = auth.publishRefusal(client, packet.topic);
      if (!denied) return uplink.authorizePublish(client, packet, done);
      const refusal = { ok: false as const, reason: 'not_authorized' as const, detail: denied };
      reportRefusal(metrics, log, refusal, { clientId: client?.id, topic: packet.topic }, PUBLISH_REFUSED);
      done(new RefusedError(refusal));
    },
    authorizeSubscribe: (client, sub, done) => authorizeSubscribe(client, sub, done),
    // Every delivery (live, queued, restored) is checked against the client's rights and the bindings now.
    // In place: aedes sends a restored session's queued packets without using the returned one,
    // and every packet it passes here is already a copy for this one client.
    authorizeForward: (client, packet) => {
      const verdict = forwardVerdict(client.id, packet.topic, auth.accessOf(client), bindings());
      if (verdict.ok) {
        packet.topic = verdict.topic;
        return packet;
      }
      reportRefusal(metrics, log, { reason: 'delivery_not_allowed', detail: verdict.detail }, { clientId: client.id, topic: packet.topic }, 'delivery not allowed; dropped', 'debug');
      return null;
    },
  });

  function connectRefusal(client: Client): (Refusal & { code: 2 | 3 | 5 }) | undefined {
    // aedes checks the client id length for MQTT 3.1 only; the contract caps it at 64 for all.
    if (client.id.length > limits.maxClientIdLength) return { ...refuse('client_id_too_long', `client id longer than ${limits.maxClientIdLength}`), code: 2 };
    // The client id becomes a RocketMQ property: RocketMQ refuses control characters in one.
    if (hasControlCharacter(client.id)) return { ...refuse('control_character', 'the client id has a control character'), code: 2 };
    // A persistent session lives in the store: without it, it could be neither restored nor kept.
    if (deps.storeUp && !client.clean && !deps.storeUp()) {
      return { ...refuse('session_store_unavailable', 'persistent session while the session store is unreachable'), code: 3 };
    }
    if (deps.clientIdFromCertificate) {
      const cn = certificateSubjectOf(client);
      if (cn !== undefined && cn !== client.id) return { ...refuse('not_authorized', `the client certificate is for ${cn}`), code: 5 };
    }
    return undefined;
  }

  /** The will of a CONNECT, checked like a PUBLISH of the client now: what is stored can be sent later, by any pod. */
  function willRefusal(client: Client, rights: { canPublish(topic: string): boolean } | undefined): { reason: string; detail: string } | undefined {
    const will = willOf(client);
    if (!will) return undefined;
    const refusal = checkWill(bindings(), will, limits) ?? (rights && !rights.canPublish(will.topic) ? refuse('not_authorized', `no W token covers the will topic ${will.topic}`) : undefined);
    return refusal && { reason: 'will_not_allowed', detail: `will: ${refusal.detail}` };
  }

  function authorizeSubscribe(client: Client, sub: Subscription, done: (err: Error | null, sub?: Subscription | null) => void) {
    const refusal = subscribeRefusal(client, sub);
    if (!refusal) {
      persistence.grant(sub);
      return done(null, sub);
    }
    // A limit's refusal is logged once per SUBSCRIBE where it was decided.
    if (!overLimit.has(sub)) {
      reportRefusal(metrics, log, refusal, { clientId: client.id, filter: sub.topic }, 'SUBSCRIBE refused');
    }
    if (persistence.isRestored(sub)) persistence.forgetRefused(client, sub.topic);
    done(null, null); // SUBACK 0x80 for this filter; the others and the connection stay
  }

  function subscribeRefusal(client: Client, sub: Subscription): Refusal | undefined {
    if (isOwnP2PInbox(client.id, sub.topic)) return undefined;
    const limited = overLimit.get(sub);
    if (limited) return refuse(limited, 'over the limit');
    return (
      checkSubscribeFilter(bindings(), sub.topic, limits) ??
      (auth.canSubscribe(client, sub.topic) ? undefined : refuse('not_authorized', `no R token covers ${sub.topic}`))
    );
  }

  /** Marks the filters of a SUBSCRIBE that a limit refuses, before aedes authorizes each one. */
  function markOverLimit(client: Client, packet: ParsedPacket): void {
    const subs = packet.subscriptions ?? [];
    const held = heldFilters(client, (filter) => !isInternalTopic(filter));
    const refusals = limitRefusals(subs.map((s) => s.topic), (f) => held.has(f), held.size, limits);
    const counts = new Map<RefusalReason, number>();
    refusals.forEach((reason, i) => {
      if (!reason) return;
      overLimit.set(subs[i]!, reason);
      counts.set(reason, (counts.get(reason) ?? 0) + 1);
    });
    for (const [reason, n] of counts) {
      metrics.refusals.inc({ reason }, n);
      log.warn({ clientId: client.id, reason, filters: n, inPacket: subs.length, held: held.size }, 'SUBSCRIBE filters refused by a limit');
    }
  }

  const holdDeliveries = holdDeliveriesUntilConnack(aedes);
  const handle = aedes.handle;
  // At start-up, on a connection that never sends a byte: the members this bridge uses must be there.
  const probe = handle(new PassThrough() as never);
  try {
    checkAedesInternals(aedes, probe);
  } finally {
    probe.close();
  }
  aedes.handle = (conn, req) => {
    const client = handle(conn, req);
    guardPacketSize(client, limits.maxPacketBytes);
    holdDeliveries(client);
    beforeEachPacket(client, (packet) => {
      if (packet.cmd === 'subscribe') markOverLimit(client, packet);
    });
    return client;
  };

  // An accepted token upload is answered (PUBACK/PUBREC) and goes no further: it carries a token.
  dropClientPublishes(aedes, (packet) => packet.topic === TOKEN_RENEWAL_TOPIC);

  skipClosedRegistrations(aedes, (client) => {
    metrics.connects.inc({ result: 'abandoned' });
    log.debug({ clientId: client.id }, 'connection closed before its CONNACK; not registered');
  });
  aedes.on('client', (client) => {
    metrics.connections.set(aedes.connectedClients);
    deps.sessions?.clientConnected(client.id, client.clean);
  });
  installP2pInboxes(aedes);
  aedes.on('clientDisconnect', (client) => {
    metrics.connections.set(aedes.connectedClients);
    auth.forget(client);
    uplink.forgetClient(client.id);
    deps.sessions?.clientDisconnected(client.id, client.clean);
  });
  aedes.on('connackSent', (packet) => metrics.connects.inc({ result: connackResult(packet.returnCode ?? 0) }));
  aedes.on('clientError', (client, err) => onError(client, err));
  // aedes' own background work (wills of dead pods, offline queueing) reports here; unheard, it would throw.
  (aedes as EventEmitter).on('error', (err: unknown) => {
    metrics.errors.inc({ component: 'mqtt' });
    log.warn({ err: err instanceof Error ? err.message : String(err) }, 'MQTT server background error');
  });
  aedes.on('connectionError', (client, err) => onError(client, err));

  function onError(client: Client, err: Error) {
    if (err instanceof RefusedError) return; // counted and logged where it was refused
    const reason = errorReason(err);
    if (reason) metrics.refused(reason);
    else metrics.errors.inc({ component: 'mqtt' });
    const level = reason || isRoutine(err) ? 'info' : 'warn';
    log[level]({ clientId: client.id ?? undefined, reason, err: err.message }, 'MQTT connection closed on error');
  }

  return aedes;
}

function certificateSubjectOf(client: Client): string | undefined {
  const socket = (client.conn as Partial<TLSSocket>).getPeerCertificate ? (client.conn as TLSSocket) : (client.req?.socket as TLSSocket | undefined);
  if (!socket?.getPeerCertificate) return undefined;
  const cn = socket.getPeerCertificate()?.subject?.CN;
  return Array.isArray(cn) ? cn[0] : cn;
}

function connackResult(code: number): string {
  return ['accepted', 'unacceptable_protocol', 'identifier_rejected', 'server_unavailable', 'bad_credentials', 'not_authorized'][code] ?? `code_${code}`;
}

/** Which refusal a protocol error of a connection stands for, if any. */
function errorReason(err: Error): RefusalReason | undefined {
  if (err instanceof PacketTooLargeError) return 'packet_too_large';
  if (/too many levels/.test(err.message)) return 'topic_too_long';
  if (/is not allowed in PUBLISH/.test(err.message)) return 'wildcard_in_topic';
  if (/empty topic/.test(err.message)) return 'empty_topic';
  if (/maxInflightInbound|awaiting PUBREL/.test(err.message)) return 'too_many_qos2_in_flight';
  if (/connect did not arrive/.test(err.message)) return 'connect_timeout';
  if (/Invalid protocol|Packet|Malformed|Invalid|Cannot parse|not supported|Not supported|length|header/i.test(err.message)) {
    return 'malformed_packet';
  }
  return undefined;
}

function isRoutine(err: Error): boolean {
  return /ECONNRESET|EPIPE|keep ?alive/i.test(err.message);
}
