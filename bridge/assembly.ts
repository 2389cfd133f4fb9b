/**
 * A bridge's parts, built once each, in the order they depend on one another, and started in
 * the order a pod must come up: the HTTP endpoints first (liveness passes while the session
 * store is awaited), the broker, the RocketMQ clients, then the listeners that let devices in.
 * bridge/bridge.ts runs the assembled parts (reload, readiness, graceful stop).
 */
import { randomUUID } from 'node:crypto';
import type { Server as HttpServer } from 'node:http';
import { hostname } from 'node:os';
import type { SecureContextOptions } from 'node:tls';
import type { Aedes } from 'aedes';
import type { BaseClientOptions } from 'rocketmq-client-nodejs';
import { createRevocationList } from './auth/revocation-store.js';
import { MemoryNonces } from './auth/nonces.js';
import { AuthService } from './auth/service.js';
import { MemorySessionClaims } from './auth/session-claims.js';
import { ConfigInForce } from './config/in-force.js';
import { configHash } from './config/report.js';
import { consumerGroupOf, type BridgeConfig } from './config/schema.js';
import { DownlinkService } from './downlink/service.js';
import { readinessOf, type ReadinessState } from './http/readiness.js';
import { startHttpServer } from './http/server.js';
import { StatusSwitch } from './http/status-switch.js';
import { startTokenApiServer } from './http/token-api-server.js';
import { uplinkBindingOf } from './mapping/uplink.js';
import { createBroker } from './mqtt/broker.js';
import { closeBroker } from './mqtt/close-broker.js';
import { ConnectPacer } from './mqtt/connect-pacer.js';
import { ConnectedClients } from './mqtt/connected-clients.js';
import { ConnectionLimiter } from './mqtt/connection-limiter.js';
import { ListenerSet } from './mqtt/listener-set.js';
import { closeServer, type ListenerContext } from './mqtt/listeners.js';
import { MemoryIncomingRecords, MemoryPersistence } from './mqtt/memory-persistence.js';
import { p2pInboxSubscription } from './mapping/p2p.js';
import { SessionPersistence } from './mqtt/session-persistence.js';
import { ConnectionRefusals } from './observability/connection-refusals.js';
import { createLogger, type Logger } from './observability/log.js';
import { BridgeMetrics } from './observability/metrics.js';
import { SessionStore } from './redis/session-store.js';
import { DownlinkConsumers } from './rocketmq/consumer.js';
import { RocketmqHealth } from './rocketmq/health.js';
import { clientOptions } from './rocketmq/options.js';
import { RocketmqProducer } from './rocketmq/producer.js';
import { UplinkService } from './uplink/service.js';

/** Bytes a PUBLISH may take beyond its payload: fixed header, topic (UTF-8), packet id. */
const PACKET_OVERHEAD = 16;

export interface AssemblyOptions {
  /** The config file's text, hashed for /configz when no follower watches the file. */
  configText?: string;
  log?: Logger;
}

/** Parts that exist before anything is started. */
export interface CoreParts {
  readonly inForce: ConfigInForce;
  readonly metrics: BridgeMetrics;
  readonly log: Logger;
  readonly health: RocketmqHealth;
  readonly producer: RocketmqProducer;
  readonly auth: AuthService;
  /** Shared with the other pods of this bridge; undefined: state lives in this process. */
  readonly store: SessionStore | undefined;
  readonly uplink: UplinkService;
  readonly persistence: SessionPersistence;
  readonly limiter: ConnectionLimiter;
  readonly pacer: ConnectPacer;
  readonly refusals: ConnectionRefusals;
  readonly clients: ConnectedClients;
  /** What the producer and the consumers connect with. */
  readonly rocketmqOptions: BaseClientOptions;
}

/** Every part of a running bridge. */
export interface BridgeParts extends CoreParts {
  readonly http: HttpServer;
  readonly status: StatusSwitch;
  readonly aedes: Aedes;
  readonly downlink: DownlinkService;
  readonly consumers: DownlinkConsumers;
  readonly listeners: ListenerSet;
}

/**
 * Builds the parts and starts them; the bridge answers /readyz once `status.serve` hands it over.
 * A start that fails part-way stops what it had started, in reverse, and rethrows.
 */
export async function assembleBridge(config: BridgeConfig, options: AssemblyOptions): Promise<BridgeParts> {
  const core = buildCore(config, options.log ?? createLogger(config.log.level));
  const started: (() => Promise<void> | void)[] = [];
  try {
    return await startParts(core, options, started);
  } catch (err) {
    for (const stop of started.reverse()) await Promise.resolve().then(stop).catch(() => undefined);
    throw err;
  }
}

async function startParts(core: CoreParts, options: AssemblyOptions, started: (() => Promise<void> | void)[]): Promise<BridgeParts> {
  const { metrics, log, store, inForce } = core;
  const { config } = inForce;
  await core.auth.start();
  started.push(() => core.auth.stop());
  const status = new StatusSwitch({ readiness: () => readinessOf(startingState(core)), configReport: () => initialReport(core, options) });
  const http = await startHttpServer(config.http.host, config.http.port, status, metrics.registry);
  started.push(() => closeServer(http));
  store?.start();
  if (store) started.push(() => store.close());
  else log.warn('no sessionStore.redis: persistent sessions and the messages queued for them live in this process only, and a restart loses them');
  const aedes = await startBroker(core);
  started.push(() => closeBroker(aedes, 0));
  core.clients.attach(aedes);
  const downlink = new DownlinkService({
    aedes,
    bindings: () => inForce.table,
    origin: config.bridge.name,
    maxTopicLength: config.mqtt.maxTopicLength,
    metrics,
    log,
    ...(store ? { isOnline: (id: string) => store.isOnline(id), storeUp: () => store.up } : {}),
  });
  const consumers = buildConsumers(core, downlink);
  metrics.bindings.set(inForce.table.size);
  core.health.start();
  void core.producer.start();
  void consumers.setTopics(inForce.table.downlinkByTopic().keys());
  started.push(() => core.health.stop(), () => core.producer.stop(), () => consumers.stop());
  const listeners = await ListenerSet.open({ context: listenerContext(core, aedes), config, startTokenApi: (secure) => startTokenApi(core, secure), metrics, log });
  return { ...core, http, status, aedes, downlink, consumers, listeners };
}

function buildCore(config: BridgeConfig, log: Logger): CoreParts {
  const metrics = new BridgeMetrics();
  const inForce = new ConfigInForce(config);
  const { mqtt } = config;
  const rmq = clientOptions(config.rocketmq, log);
  const health = new RocketmqHealth(config.rocketmq.endpoints, metrics);
  const producer = new RocketmqProducer(rmq, config.rocketmq.sendBatch, health, metrics, log);
  const store = config.sessionStore.redis ? new SessionStore(config, podId(), metrics, log) : undefined;
  const clients = new ConnectedClients();
  const incoming = store?.incoming ?? new MemoryIncomingRecords(mqtt.maxQos2InFlight);
  const auth = new AuthService(config.auth, metrics, log, {
    revocations: createRevocationList(config, metrics, log),
    claims: store?.claims ?? new MemorySessionClaims(config.auth.sessionTakeover, (id) => clients.get(id) !== undefined),
    connectedClient: clients.get,
    claimsMayBeAway: store !== undefined,
  });
  const uplink = new UplinkService({
    bindings: () => inForce.table,
    producer,
    limits: mqtt,
    timeoutMs: mqtt.uplinkTimeoutMs,
    origin: config.bridge.name,
    metrics,
    log,
    qos2Records: incoming,
    sessionEpochOf: (client) => auth.sessionEpochOf(client),
    maxQos2InFlight: mqtt.maxQos2InFlight,
  });
  const persistence = new SessionPersistence({
    inner: store?.persistence ?? new MemoryPersistence(),
    incoming,
    maxQueuedMessages: mqtt.maxQueuedMessagesPerSession,
    willAllowed: (will) => {
      const binding = uplinkBindingOf(inForce.table, will.topic, mqtt);
      return 'ok' in binding ? binding.detail : undefined;
    },
    inboxOf: p2pInboxSubscription,
    onQos2Released: (clientId, messageId) => uplink.released(clientId, messageId),
    metrics,
    log,
  });
  const refusals = new ConnectionRefusals(metrics, log);
  const limiter = new ConnectionLimiter(mqtt, (reason, source, connections) => refusals.report(reason, source, connections));
  const pacer = new ConnectPacer(
    { connectsPerSecond: mqtt.connectsPerSecond, maxWaiting: mqtt.maxConnectsWaiting },
    () => refusals.report('too_many_connects_waiting', 'any', limiter.connections, `${mqtt.maxConnectsWaiting} waiting`),
    (waiting) => metrics.connectsWaiting.set(waiting),
  );
  return { inForce, metrics, log, health, producer, auth, store, uplink, persistence, limiter, pacer, refusals, clients, rocketmqOptions: rmq };
}

/** The pod name (the host name in Kubernetes) and a per-process part: a restarted pod is a new member. */
function podId(): string {
  return `${hostname()}-${randomUUID().slice(0, 8)}`;
}

/** The largest MQTT packet accepted: the payload limit, the topic limit in UTF-8 bytes, the header. */
export function maxPacketBytes(mqtt: BridgeConfig['mqtt']): number {
  return mqtt.maxPayloadBytes + 4 * mqtt.maxTopicLength + PACKET_OVERHEAD;
}

function startBroker(core: CoreParts): Promise<Aedes> {
  const { config } = core.inForce;
  const { store } = core;
  return createBroker({
    auth: core.auth,
    bindings: () => core.inForce.table,
    uplink: core.uplink,
    limits: { ...config.mqtt, maxPacketBytes: maxPacketBytes(config.mqtt) },
    metrics: core.metrics,
    log: core.log,
    persistence: core.persistence,
    ...(store ? { mq: store.mq, storeUp: () => store.up, sessions: store, podId: store.podId, heartbeatMs: config.sessionStore.podHeartbeatMs } : {}),
    clientIdFromCertificate: config.tls.clientIdFromCertificate,
  });
}

function buildConsumers(core: CoreParts, downlink: DownlinkService): DownlinkConsumers {
  const { config } = core.inForce;
  return new DownlinkConsumers({
    settings: {
      consumerGroup: consumerGroupOf(config),
      batchSize: config.rocketmq.receiveBatchSize,
      invisibleDurationMs: config.rocketmq.invisibleDurationMs,
      longPollingMs: config.rocketmq.longPollingMs,
      receivers: config.rocketmq.receiversPerTopic,
    },
    options: core.rocketmqOptions,
    handle: (topic, message) => downlink.deliver(topic, message),
    health: core.health,
    metrics: core.metrics,
    log: core.log,
  });
}

function listenerContext(core: CoreParts, aedes: Aedes): ListenerContext {
  return {
    aedes,
    limiter: core.limiter,
    pacer: core.pacer,
    maxPacketBytes: maxPacketBytes(core.inForce.config.mqtt),
    onCertificateRejected: (source, reason) => core.refusals.report('tls_client_certificate_rejected', source, core.limiter.connections, reason),
  };
}

/** The token API; plain HTTP only on loopback without a warning (tokens and signed requests would travel unencrypted). */
function startTokenApi(core: CoreParts, secure: SecureContextOptions | undefined) {
  const { tokenApi } = core.inForce.config.auth;
  if (!secure && !['127.0.0.1', '::1', 'localhost'].includes(tokenApi.host)) {
    core.log.warn({ host: tokenApi.host, port: tokenApi.port }, 'the token API serves plain HTTP: tokens and signed requests travel unencrypted (give the bridge a certificate, tls.certFile)');
  }
  return startTokenApiServer({
    host: tokenApi.host,
    port: tokenApi.port,
    ...(secure ? { tls: secure } : {}),
    deps: core.auth.tokenApiDeps(),
    nonces: core.store?.nonces ?? new MemoryNonces(),
    limiter: core.auth.failureLimiter,
    metrics: core.metrics,
    log: core.log,
  });
}

/** The state /readyz reports from; the listeners' part comes from the running bridge. */
export function startingState(core: CoreParts): ReadinessState {
  return {
    listening: false,
    stopping: false,
    producerStarted: core.producer.started,
    rocketmqUp: core.health.up,
    revocationsKnown: core.auth.revocationsKnown,
    sessionStoreUp: core.store?.up,
    connections: core.limiter.connections,
    maxConnections: core.inForce.config.mqtt.maxConnections,
  };
}

function initialReport(core: CoreParts, options: AssemblyOptions) {
  const { config } = core.inForce;
  return { hash: configHash(options.configText ?? ''), bindings: bindingsReport(config), restartPending: [] };
}

export function bindingsReport(config: BridgeConfig) {
  return config.bindings.map(({ mqttParentTopic, rocketmqTopic, direction, defaultQos }) => ({ mqttParentTopic, rocketmqTopic, direction, defaultQos }));
}
