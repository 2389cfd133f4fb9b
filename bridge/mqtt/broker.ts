import type { EventEmitter } from 'node:events';
import { Aedes, type Client, type Subscription } from 'aedes';
import { isOwnP2PInbox } from '../auth/resources.js';
import type { AuthService } from '../auth/service.js';
import type { BindingTable } from '../mapping/bindings.js';
import type { RefusalReason } from '../mapping/refusals.js';
import { shownTopicOf } from '../mapping/topics.js';
import { checkSubscribeFilter, type UplinkLimits } from '../mapping/uplink.js';
import type { Logger } from '../observability/log.js';
import type { BridgeMetrics } from '../observability/metrics.js';
import type { SessionStore } from '../redis/session-store.js';
import { RefusedError, type UplinkService } from '../uplink/service.js';
import { installP2pInboxes } from './p2p-route.js';
import { PacketTooLargeError, guardPacketSize } from './packet-guard.js';

export interface BrokerDeps {
  auth: AuthService;
  bindings: () => BindingTable;
  uplink: UplinkService;
  limits: UplinkLimits & { maxClientIdLength: number; maxPacketBytes: number; connectTimeoutMs: number };
  metrics: BridgeMetrics;
  log: Logger;
  /** Shared sessions and delivery across pods; without it, state lives in this process. */
  store?: SessionStore;
  /** Names this aedes instance among the pods (in Redis and in aedes' $SYS announcements). */
  podId?: string;
}

/** The embedded MQTT server, configured with the bridge's publish/subscribe policy. */
export async function createBroker(deps: BrokerDeps): Promise<Aedes> {
  const { auth, bindings, uplink, limits, metrics, log, store } = deps;
  const aedes = await Aedes.createBroker({
    ...(deps.podId ? { id: deps.podId } : {}),
    ...(store ? { persistence: store.persistence, mq: store.mq } : {}),
    maxClientsIdLength: limits.maxClientIdLength,
    connectTimeout: limits.connectTimeoutMs,
    authenticate: (client, username, password, done) => {
      // aedes checks the client id length for MQTT 3.1 only; the contract caps it at 64 for all.
      if (client.id.length > limits.maxClientIdLength) {
        metrics.refused('client_id_too_long');
        log.warn({ clientId: client.id.slice(0, 80), limit: limits.maxClientIdLength }, 'CONNECT refused: client id too long');
        return done(Object.assign(new Error('client id too long'), { returnCode: 2 as const }), false);
      }
      // A persistent session lives in the store: without it, it could be neither restored nor kept.
      if (store && !client.clean && !store.up) {
        metrics.refused('session_store_unavailable');
        log.warn({ clientId: client.id }, 'CONNECT refused (server unavailable): persistent session while the session store is unreachable');
        return done(Object.assign(new Error('session store unavailable'), { returnCode: 3 as const }), false);
      }
      auth.authenticate(client, username, password, done);
    },
    authorizePublish: (client, packet, done) => {
      if (auth.isRenewal(packet)) return auth.renew(client, packet, done);
      const denied = auth.publishRefusal(client, packet.topic);
      if (!denied) return uplink.authorizePublish(client, packet, done);
      metrics.refused('not_authorized');
      log.warn({ clientId: client?.id, topic: packet.topic, detail: denied }, 'PUBLISH refused; disconnecting client');
      done(new RefusedError({ ok: false, reason: 'not_authorized', detail: denied }));
    },
    authorizeSubscribe: (client, sub, done) => authorizeSubscribe(client, sub, done),
    // P2P messages travel on the target's internal inbox topic; show the device the real one.
    // In place: aedes sends a restored session's queued packets without using the returned one,
    // and every packet it passes here is already a copy for this one client.
    authorizeForward: (_client, packet) => {
      const shown = shownTopicOf(packet.topic);
      if (shown !== undefined) packet.topic = shown;
      return packet;
    },
  });

  function authorizeSubscribe(client: Client, sub: Subscription, done: (err: Error | null, sub?: Subscription | null) => void) {
    if (isOwnP2PInbox(client.id, sub.topic)) return done(null, sub);
    const refusal =
      checkSubscribeFilter(bindings(), sub.topic, limits) ??
      (auth.canSubscribe(client, sub.topic) ? undefined : ({ ok: false, reason: 'not_authorized', detail: `no R token covers ${sub.topic}` } as const));
    if (!refusal) return done(null, sub);
    metrics.refused(refusal.reason);
    log.warn({ clientId: client.id, filter: sub.topic, reason: refusal.reason, detail: refusal.detail }, 'SUBSCRIBE refused');
    done(null, null); // SUBACK 0x80 for this filter; the others and the connection stay
  }

  const handle = aedes.handle;
  aedes.handle = (conn, req) => {
    const client = handle(conn, req);
    guardPacketSize(client, limits.maxPacketBytes);
    return client;
  };

  aedes.on('client', (client) => {
    metrics.connections.set(aedes.connectedClients);
    store?.clientConnected(client.id, client.clean);
  });
  installP2pInboxes(aedes, (client, err) => log.error({ clientId: client.id, err: err.message }, 'cannot subscribe the P2P inbox'));
  aedes.on('clientDisconnect', (client) => {
    metrics.connections.set(aedes.connectedClients);
    auth.forget(client);
    if (client.clean) uplink.forgetClient(client.id);
    store?.clientDisconnected(client.id, client.clean);
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

function connackResult(code: number): string {
  return ['accepted', 'unacceptable_protocol', 'identifier_rejected', 'server_unavailable', 'bad_credentials', 'not_authorized'][code] ?? `code_${code}`;
}

/** Which refusal a protocol error of a connection stands for, if any. */
function errorReason(err: Error): RefusalReason | undefined {
  if (err instanceof PacketTooLargeError) return 'packet_too_large';
  if (/too many levels/.test(err.message)) return 'topic_too_long';
  if (/is not allowed in PUBLISH/.test(err.message)) return 'wildcard_in_topic';
  if (/empty topic/.test(err.message)) return 'empty_topic';
  if (/Invalid protocol|Packet|Malformed|Invalid|Cannot parse|not supported|Not supported|length|header/i.test(err.message)) {
    return 'malformed_packet';
  }
  return undefined;
}

function isRoutine(err: Error): boolean {
  return /ECONNRESET|EPIPE|keep ?alive|connect did not arrive/i.test(err.message);
}
