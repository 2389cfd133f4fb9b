import { randomUUID } from 'node:crypto';
import type { AddressInfo, Server } from 'node:net';
import { hostname } from 'node:os';
import type { Server as HttpServer } from 'node:http';
import type { SecureContextOptions, Server as TlsServer } from 'node:tls';
import type { Aedes } from 'aedes';
import { consumerGroupOf, tokenApiEnabled, tokenApiUsesTls, type BridgeConfig } from './config/schema.js';
import { createRevocationList } from './auth/revocation-store.js';
import { AuthService } from './auth/service.js';
import { MemoryNonces } from './auth/nonces.js';
import { MemorySessionClaims } from './auth/session-claims.js';
import { kubeConfigFor } from './config/configmap-source.js';
import { ConfigFollower } from './config/follower.js';
import { RELOADABLE_SECTIONS } from '../contract/rules.js';
import { configHash, type ConfigReport } from './config/report.js';
import { DownlinkService } from './downlink/service.js';
import { readinessOf } from './http/readiness.js';
import { startHttpServer, type Readiness } from './http/server.js';
import { startTokenApiServer } from './http/token-api-server.js';
import { BindingTable } from './mapping/bindings.js';
import { uplinkBindingOf } from './mapping/uplink.js';
import { connectedClient } from './mqtt/aedes-internals.js';
import { createBroker } from './mqtt/broker.js';
import { closeBroker } from './mqtt/close-broker.js';
import { ConnectPacer } from './mqtt/connect-pacer.js';
import { ConnectionLimiter } from './mqtt/connection-limiter.js';
import { closeServer, listenTcp, listenTls, listenWs, listenWss, type ListenerContext } from './mqtt/listeners.js';
import { MemoryIncomingRecords, MemoryPersistence } from './mqtt/memory-persistence.js';
import { p2pInboxSubscription } from './mqtt/p2p-route.js';
import { SessionPersistence } from './mqtt/session-persistence.js';
import { TlsMaterial } from './mqtt/tls-material.js';
import { createLogger, type Logger } from './observability/log.js';
import { BridgeMetrics } from './observability/metrics.js';
import { DownlinkConsumers } from './rocketmq/consumer.js';
import { RocketmqHealth } from './rocketmq/health.js';
import { clientOptions } from './rocketmq/options.js';
import { RocketmqProducer } from './rocketmq/producer.js';
import { SessionStore } from './redis/session-store.js';
import { UplinkService } from './uplink/service.js';
import type { RefusalReason } from './mapping/refusals.js';

/** Bytes a PUBLISH may take beyond its payload: fixed header, topic (UTF-8), packet id. */
const PACKET_OVERHEAD = 16;
/** How long a stop waits for connections that were already closing to finish their last writes. */
const CLIENTS_CLOSE_WAIT_MS = 3_000;

export interface BridgeOptions {
  /** Watched for binding changes when given. */
  configPath?: string;
  configText?: string;
  /** Credentials to follow the ConfigMap with, when not the pod's own service account. */
  kubeconfig?: string;
  log?: Logger;
}

/** One bridge process: MQTT server, RocketMQ producer and consumers, HTTP endpoints. */
export class Bridge {
  private table: BindingTable;
  private stopping = false;
  private follower: ConfigFollower | undefined;
  private mqttServer: Server | undefined;
  private httpServer: HttpServer | undefined;
  private tokenApiServer: Server | undefined;
  /** Every MQTT listener by transport; all close on stop. */
  private readonly listeners = new Map<'tcp' | 'tls' | 'ws' | 'wss', Server | HttpServer>();
  private tls: TlsMaterial | undefined;
  /** Sections of the config file in force that wait for a restart. */
  private restartPending: string[] = [];

  readonly metrics = new BridgeMetrics();
  readonly log: Logger;
  private readonly health: RocketmqHealth;
  private readonly producer: RocketmqProducer;
  private readonly uplink: UplinkService;
  private readonly consumers: DownlinkConsumers;
  private readonly auth: AuthService;
  /** Shared with the other pods of this bridge; undefined: state lives in this process. */
  private readonly store: SessionStore | undefined;
  private readonly persistence: SessionPersistence;
  private readonly limiter: ConnectionLimiter;
  private readonly pacer: ConnectPacer;
  private aedes!: Aedes;
  private downlink!: DownlinkService;

  private constructor(
    private config: BridgeConfig,
    private readonly options: BridgeOptions,
  ) {
    this.log = options.log ?? createLogger(config.log.level);
    this.table = new BindingTable(config.bindings);
    const rmq = clientOptions(config.rocketmq, this.log);
    this.health = new RocketmqHealth(config.rocketmq.endpoints, this.metrics);
    this.producer = new RocketmqProducer(rmq, config.rocketmq.sendBatch, this.health, this.metrics, this.log);
    const { mqtt } = config;
    // The pod name (the host name in Kubernetes) and a per-process part: a restarted pod is a new member.
    const podId = `${hostname()}-${randomUUID().slice(0, 8)}`;
    this.store = config.sessionStore.redis ? new SessionStore(config, podId, this.metrics, this.log) : undefined;
    const store = this.store;
    const connected = (clientId: string) => (this.aedes ? connectedClient(this.aedes, clientId) : undefined);
    const incoming = store?.incoming ?? new MemoryIncomingRecords(mqtt.maxQos2InFlight);
    this.auth = new AuthService(config.auth, this.metrics, this.log, {
      revocations: createRevocationList(config, this.metrics, this.log),
      claims: store?.claims ?? new MemorySessionClaims(config.auth.sessionTakeover, (id) => connected(id) !== undefined),
      connectedClient: connected,
      claimsMayBeAway: store !== undefined,
    });
    this.uplink = new UplinkService({
      bindings: () => this.table,
      producer: this.producer,
      limits: mqtt,
      timeoutMs: mqtt.uplinkTimeoutMs,
      origin: config.bridge.name,
      metrics: this.metrics,
      log: this.log,
      qos2Records: incoming,
      sessionEpochOf: (client) => this.auth.sessionEpochOf(client),
      maxQos2InFlight: mqtt.maxQos2InFlight,
    });
    this.persistence = new SessionPersistence({
      inner: store?.persistence ?? new MemoryPersistence(),
      incoming,
      maxQueuedMessages: mqtt.maxQueuedMessagesPerSession,
      willAllowed: (will) => {
        const binding = uplinkBindingOf(this.table, will.topic, mqtt);
        return 'ok' in binding ? binding.detail : undefined;
      },
      inboxOf: p2pInboxSubscription,
      onQos2Released: (clientId, messageId) => this.uplink.released(clientId, messageId),
      metrics: this.metrics,
      log: this.log,
    });
    this.limiter = new ConnectionLimiter(mqtt, (reason, source) => this.connectionRefused(reason, source));
    this.pacer = new ConnectPacer(
      { connectsPerSecond: mqtt.connectsPerSecond, maxWaiting: mqtt.maxConnectsWaiting },
      () => this.connectionRefused('too_many_connects_waiting', 'any', `${mqtt.maxConnectsWaiting} waiting`),
      (waiting) => this.metrics.connectsWaiting.set(waiting),
    );
    this.consumers = new DownlinkConsumers({
      settings: {
        consumerGroup: consumerGroupOf(config),
        batchSize: config.rocketmq.receiveBatchSize,
        invisibleDurationMs: config.rocketmq.invisibleDurationMs,
        longPollingMs: config.rocketmq.longPollingMs,
        receivers: config.rocketmq.receiversPerTopic,
      },
      options: rmq,
      handle: (topic, message) => this.downlink.deliver(topic, message),
      health: this.health,
      metrics: this.metrics,
      log: this.log,
    });
  }

  static async start(config: BridgeConfig, options: BridgeOptions = {}): Promise<Bridge> {
    const bridge = new Bridge(config, options);
    await bridge.startParts();
    return bridge;
  }

  private async startParts(): Promise<void> {
    const { config, metrics, log } = this;
    const { mqtt } = config;
    await this.auth.start();
    // Served before the broker: it may wait for the session store, and liveness must not fail meanwhile.
    this.httpServer = await startHttpServer(config.http.host, config.http.port, { readiness: () => this.readiness(), configReport: () => this.configReport() }, metrics.registry);
    this.store?.start();
    if (!this.store) {
      log.warn('no sessionStore.redis: persistent sessions and the messages queued for them live in this process only, and a restart loses them');
    }
    const store = this.store;
    this.aedes = await createBroker({
      auth: this.auth,
      bindings: () => this.table,
      uplink: this.uplink,
      limits: { ...mqtt, maxPacketBytes: this.maxPacketBytes },
      metrics,
      log,
      persistence: this.persistence,
      ...(store ? { mq: store.mq, storeUp: () => store.up, sessions: store, podId: store.podId, heartbeatMs: config.sessionStore.podHeartbeatMs } : {}),
      clientIdFromCertificate: config.tls.clientIdFromCertificate,
    });
    this.downlink = new DownlinkService({
      aedes: this.aedes,
      bindings: () => this.table,
      origin: config.bridge.name,
      maxTopicLength: mqtt.maxTopicLength,
      metrics,
      log,
      ...(this.store ? { isOnline: (id: string) => this.store!.isOnline(id), storeUp: () => this.store!.up } : {}),
    });
    metrics.bindings.set(this.table.size);
    this.health.start();
    void this.producer.start();
    void this.consumers.setTopics(this.table.downlinkByTopic().keys());
    this.mqttServer = await listenTcp(this.listenerContext(), mqtt.host, mqtt.port);
    this.listeners.set('tcp', this.mqttServer);
    await this.startSecondaryListeners();
    if (this.options.configPath) {
      this.follower = this.followConfig(this.options.configPath);
      this.follower.start();
    }
    const ports = Object.fromEntries([...this.listeners].map(([name, server]) => [name, portOf(server)]));
    log.info({ mqtt: this.mqttPort, http: this.httpPort, tokenApi: this.tokenApiPort, listeners: ports, bindings: this.table.size }, 'bridge listening');
  }

  private get maxPacketBytes(): number {
    const { mqtt } = this.config;
    return mqtt.maxPayloadBytes + 4 * mqtt.maxTopicLength + PACKET_OVERHEAD;
  }

  private listenerContext(): ListenerContext {
    return {
      aedes: this.aedes,
      limiter: this.limiter,
      pacer: this.pacer,
      maxPacketBytes: this.maxPacketBytes,
      onCertificateRejected: (source, reason) => this.connectionRefused('tls_client_certificate_rejected', source, reason),
    };
  }

  private lastConnectionRefusalLog = 0;
  /** A flood of refused connections must not become a flood of log lines: one every 10 s, all counted. */
  private connectionRefused(reason: RefusalReason, source: string, detail?: string): void {
    this.metrics.refused(reason);
    const now = Date.now();
    if (now - this.lastConnectionRefusalLog < 10_000) return;
    this.lastConnectionRefusalLog = now;
    this.log.warn({ reason, source, detail, connections: this.limiter.connections }, 'connection refused (further refusals within 10 s are counted, not logged)');
  }

  /** TLS, WebSocket and secure WebSocket, as configured; TLS ones follow certificate renewals. */
  private async startSecondaryListeners(): Promise<void> {
    const { tls, websocket } = this.config;
    const wantsWss = websocket.enabled && websocket.securePort !== undefined;
    const wantsTokenApi = tokenApiEnabled(this.config);
    let ctx: SecureContextOptions = {};
    if (tls.enabled || wantsWss || (wantsTokenApi && tokenApiUsesTls(this.config))) {
      this.tls = new TlsMaterial({ certFile: tls.certFile!, keyFile: tls.keyFile!, caFile: tls.caFile }, this.log);
      ctx = await this.tls.load();
      this.tls.watch(tls.reloadPollMs, (result) => this.metrics.tlsReloads.inc({ result }));
    }
    if (tls.enabled) {
      const listener = await listenTls(this.listenerContext(), tls.host, tls.port, ctx, tls.clientAuth);
      this.tls!.onChange(listener.update);
      this.listeners.set('tls', listener.server);
    }
    if (websocket.enabled) this.listeners.set('ws', await listenWs(this.listenerContext(), websocket.host, websocket.port, websocket.path));
    if (wantsTokenApi) await this.startTokenApi(ctx);
    if (wantsWss) {
      const listener = await listenWss(this.listenerContext(), websocket.host, websocket.securePort!, websocket.path, ctx, tls.clientAuth);
      this.tls!.onChange(listener.update);
      this.listeners.set('wss', listener.server);
    }
  }

  /** The token API; over HTTPS it follows certificate renewals like the MQTT listeners. */
  private async startTokenApi(ctx: SecureContextOptions): Promise<void> {
    const { tokenApi } = this.config.auth;
    const tls = tokenApiUsesTls(this.config) ? this.tls : undefined;
    if (!tls && !['127.0.0.1', '::1', 'localhost'].includes(tokenApi.host)) {
      this.log.warn({ host: tokenApi.host, port: tokenApi.port }, 'the token API serves plain HTTP: tokens and signed requests travel unencrypted (give the bridge a certificate, tls.certFile)');
    }
    const server = await startTokenApiServer({
      host: tokenApi.host,
      port: tokenApi.port,
      ...(tls ? { tls: ctx } : {}),
      deps: this.auth.tokenApiDeps(),
      nonces: this.store?.nonces ?? new MemoryNonces(),
      limiter: this.auth.failureLimiter,
      metrics: this.metrics,
      log: this.log,
    });
    if (tls) tls.onChange((next) => (server as unknown as TlsServer).setSecureContext(next));
    this.tokenApiServer = server as unknown as Server;
  }

  get tokenApiPort(): number {
    return this.tokenApiServer ? portOf(this.tokenApiServer) : 0;
  }

  /** The bound port of a listener (useful with port 0), or 0 when it is not enabled. */
  portOf(listener: 'tcp' | 'tls' | 'ws' | 'wss'): number {
    const server = this.listeners.get(listener);
    return server ? portOf(server) : 0;
  }

  get mqttPort(): number {
    return (this.mqttServer?.address() as AddressInfo | null)?.port ?? 0;
  }

  get httpPort(): number {
    return (this.httpServer?.address() as AddressInfo | null)?.port ?? 0;
  }

  get bindings(): BindingTable {
    return this.table;
  }

  /** The config in force: its file's hash, the bindings it serves, what waits for a restart. */
  configReport(): ConfigReport {
    const bindings = this.config.bindings.map(({ mqttParentTopic, rocketmqTopic, direction, defaultQos }) => ({ mqttParentTopic, rocketmqTopic, direction, defaultQos }));
    const rejected = this.follower?.rejected;
    return { hash: this.follower?.hash ?? configHash(this.options.configText ?? ''), bindings, restartPending: this.restartPending, ...(rejected ? { rejected } : {}) };
  }

  /** The file, and the ConfigMap through the API server when the config names it and credentials exist. */
  private followConfig(path: string): ConfigFollower {
    const { config, metrics, log } = this;
    return new ConfigFollower({
      path,
      initialText: this.options.configText ?? '',
      reload: config.reload,
      kubeConfig: () => kubeConfigFor(this.options.kubeconfig),
      apply: (next) => this.reload(next),
      onResult: (result, source) => metrics.reloads.inc({ result, source }),
      onSourceUp: (up) => metrics.configMapWatchUp.set(up ? 1 : 0),
      log,
    });
  }

  readiness(): Readiness {
    return readinessOf({
      listening: this.mqttServer?.listening === true,
      stopping: this.stopping,
      producerStarted: this.producer.started,
      rocketmqUp: this.health.up,
      revocationsKnown: this.auth.revocationsKnown,
      sessionStoreUp: this.store?.up,
      connections: this.limiter.connections,
      maxConnections: this.config.mqtt.maxConnections,
    });
  }

  /** Applies a new config: bindings, log level and reload settings live; anything else needs a restart. */
  async reload(next: BridgeConfig): Promise<void> {
    const needsRestart = changedRestartFields(this.config, next);
    if (needsRestart.length > 0) {
      this.log.warn({ fields: needsRestart }, 'these settings change only on restart; running with the old values');
    }
    this.table = new BindingTable(next.bindings);
    this.restartPending = needsRestart;
    this.log.level = next.log.level;
    // `reload` the follower takes itself once this config is in force (config/follower.ts).
    this.config = { ...this.config, bindings: next.bindings, log: next.log, reload: next.reload };
    this.metrics.bindings.set(this.table.size);
    this.log.info({ bindings: next.bindings.map((b) => `${b.mqttParentTopic}->${b.rocketmqTopic}:${b.direction}`) }, 'bindings reloaded');
    await this.consumers.setTopics(this.table.downlinkByTopic().keys());
  }

  /**
   * Graceful stop: refuse new connections, stop taking RocketMQ messages, let in-flight
   * uplink sends finish (their PUBACKs still reach the devices), then disconnect everyone.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const { log } = this;
    log.info({ inFlight: this.uplink.inFlight }, 'stopping: no new connections, finishing in-flight sends');
    this.follower?.stop();
    this.tls?.stop();
    const listenerClosed = Promise.all([...this.listeners.values(), ...(this.tokenApiServer ? [this.tokenApiServer] : [])].map((l) => closeServer(l)));
    this.pacer.close();
    await this.consumers.stop();
    await withTimeout(this.uplink.drain(), this.config.shutdown.graceMs);
    await closeBroker(this.aedes, CLIENTS_CLOSE_WAIT_MS);
    await this.store?.close();
    await listenerClosed;
    await this.producer.stop();
    this.health.stop();
    await this.auth.stop();
    await closeServer(this.httpServer as unknown as Server);
    log.info('stopped');
  }
}

function portOf(server: Server | HttpServer): number {
  return (server.address() as AddressInfo | null)?.port ?? 0;
}

const RELOADABLE = new Set<string>(RELOADABLE_SECTIONS);

function changedRestartFields(a: BridgeConfig, b: BridgeConfig): string[] {
  return (Object.keys(a) as (keyof BridgeConfig)[]).filter(
    (key) => !RELOADABLE.has(key) && JSON.stringify(a[key]) !== JSON.stringify(b[key]),
  );
}

function withTimeout(work: Promise<void>, ms: number): Promise<void> {
  return Promise.race([work, new Promise<void>((resolve) => setTimeout(resolve, ms).unref())]);
}
