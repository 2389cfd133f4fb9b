import { z } from 'zod';
import { DIRECTIONS, PARENT_TOPIC_PATTERN, QOS_LEVELS, ROCKETMQ_NAME_PATTERN, bridgeConsumerGroup } from '../../contract/rules.js';

const parentTopic = new RegExp(PARENT_TOPIC_PATTERN);
const rocketmqName = new RegExp(ROCKETMQ_NAME_PATTERN);
const qos = z.union(QOS_LEVELS.map((level) => z.literal(level)) as [z.ZodLiteral<0>, z.ZodLiteral<1>, z.ZodLiteral<2>]);
const port = z.number().int().min(0).max(65535);

export const bindingSchema = z.strictObject({
  mqttParentTopic: z.string().regex(parentTopic, 'must be 3-64 characters of A-Z a-z 0-9 _ -'),
  rocketmqTopic: z.string().regex(rocketmqName, 'must be 1-127 characters of A-Z a-z 0-9 _ - % |'),
  direction: z.enum(DIRECTIONS).default('Bidirectional'),
  /** QoS given to devices for RocketMQ messages that carry no `qoslevel`. */
  defaultQos: qos.default(1),
});

const listenerSchema = (defaultPort: number) =>
  z.strictObject({
    host: z.string().default('0.0.0.0'),
    port: port.default(defaultPort),
  });

export const configSchema = z
  .strictObject({
    bridge: z
      .strictObject({
        /** Names this bridge in logs, metrics and in the origin property of the messages it produces. */
        name: z.string().regex(/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/, 'must be a DNS-style name').default('mqbridge'),
      })
      .prefault({}),
    mqtt: listenerSchema(1883)
      .extend({
        maxPayloadBytes: z.number().int().min(0).max(4 * 1024 * 1024).default(64 * 1024),
        maxTopicLength: z.number().int().min(8).max(65535).default(256),
        maxClientIdLength: z.number().int().min(1).max(65535).default(64),
        /** How long a QoS 1/2 PUBLISH waits for RocketMQ (retrying) before the device is disconnected. */
        uplinkTimeoutMs: z.number().int().min(100).default(30_000),
        /** How long a new connection may take to send its CONNECT. */
        connectTimeoutMs: z.number().int().min(100).default(10_000),
        /** Connections one pod holds at most, over all listeners; more are closed at once. */
        maxConnections: z.number().int().min(1).default(50_000),
        /** Connections from one source address at most; 0: no limit (clients behind a NAT or an SNAT load balancer share one). */
        maxConnectionsPerSource: z.number().int().min(0).default(0),
        /**
         * New connections one pod takes on per second; the rest wait their turn (0: no pacing). A
         * killed pod's devices reconnect to the others all at once: pacing keeps CPU for the
         * connections already served.
         */
        connectsPerSecond: z.number().int().min(0).default(1_000),
        /** Connections waiting for their turn at most; one more is closed at once (the device retries). */
        maxConnectsWaiting: z.number().int().min(1).default(10_000),
        /** Keep alive (seconds) the server enforces for clients asking for 0 (none) or for more. */
        maxKeepaliveSeconds: z.number().int().min(10).max(65_535).default(1_200),
        /** Filters one SUBSCRIBE may carry; the ones past it get 0x80. */
        maxFiltersPerSubscribe: z.number().int().min(1).max(10_000).default(128),
        /** Subscriptions one client may hold; filters past it get 0x80. */
        maxSubscriptionsPerClient: z.number().int().min(1).max(100_000).default(128),
        /** Messages kept for one offline persistent session; later ones are dropped and counted. */
        maxQueuedMessagesPerSession: z.number().int().min(1).default(1_000),
        /** QoS 2 PUBLISHes of one client id awaiting PUBREL; one more disconnects it. */
        maxQos2InFlight: z.number().int().min(1).max(65_535).default(1_000),
      })
      .prefault({}),
    tls: listenerSchema(8883)
      .extend({
        enabled: z.boolean().default(false),
        /** PEM files, typically a mounted Secret; re-read when they change. */
        certFile: z.string().min(1).optional(),
        keyFile: z.string().min(1).optional(),
        /** CA bundle that client certificates must chain to (mTLS). */
        caFile: z.string().min(1).optional(),
        clientAuth: z.enum(['None', 'Optional', 'Require']).default('None'),
        /** On TLS listeners, a client id must be the subject CN of the client's certificate (mTLS binds the device's identity). */
        clientIdFromCertificate: z.boolean().default(false),
        reloadPollMs: z.number().int().min(100).default(5_000),
      })
      .prefault({}),
    websocket: listenerSchema(8083)
      .extend({
        enabled: z.boolean().default(false),
        path: z.string().regex(/^\//, 'must start with /').default('/mqtt'),
        /** MQTT over secure WebSocket on this port, with the certificate of `tls`. */
        securePort: port.optional(),
      })
      .prefault({}),
    auth: z
      .strictObject({
        mode: z.enum(['None', 'Signature', 'Token', 'SignatureOrToken']).default('None'),
        /** Devices name it in their username (`Signature|AccessKeyId|InstanceId`). */
        instanceId: z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/, 'must be 1-128 characters of A-Z a-z 0-9 _ . -').optional(),
        /** A directory with one file per access key: the file name is the AccessKeyId, its content the secret (a mounted Secret). */
        accessKeysDir: z.string().min(1).optional(),
        /** Optional: the GroupIDs each AccessKeyId may connect with. */
        groupAllowList: z.record(z.string(), z.array(z.string().min(1)).min(1)).default({}),
        /** Failed logins one source address may make per minute; past it, failing logins are refused at once. Valid credentials always pass. */
        maxFailuresPerMinute: z.number().int().min(1).default(10),
        /** Refuse tokens bound to no client id (the `clientId` of the token API). */
        requireBoundTokens: z.boolean().default(false),
        /**
         * Who may take over a client id that is connected or has a persistent session:
         * `SameCredential` a login the same access key vouches for the same way (or a proven login of
         * the key over its unbound one); `Any` every valid login (MQTT's own rule).
         */
        sessionTakeover: z.enum(['SameCredential', 'Any']).default('SameCredential'),
        reloadPollMs: z.number().int().min(100).default(2_000),
        /** HTTP API to apply, query and revoke tokens; served when auth.mode allows tokens. */
        tokenApi: z
          .strictObject({
            enabled: z.boolean().default(true),
            host: z.string().default('0.0.0.0'),
            port: port.default(8090),
            /** HTTPS with the certificate of `tls`; by default whenever the bridge has a certificate (`tls.certFile`). */
            tls: z.boolean().optional(),
            /** How often each pod re-reads the shared revocation list (revocations are also pushed at once). */
            revocationResyncMs: z.number().int().min(100).default(2_000),
          })
          .prefault({}),
      })
      .prefault({}),
    http: listenerSchema(9090).prefault({}),
    sessionStore: z
      .strictObject({
        /**
         * Shared state of all pods of a bridge (sessions, subscriptions, offline messages, token
         * revocations). Without it, state lives in the process: fine for a single replica.
         */
        redis: z
          .strictObject({
            /**
             * `redis://[user:password@]host:port[/db]` or `rediss://`; for a Cluster, seed nodes separated by commas.
             * May be left out when the environment variable MQBRIDGE_REDIS_URL (from a Secret) gives it.
             */
            url: z.string().regex(/^rediss?:\/\/[^\s]+$/, 'must be a redis:// or rediss:// URL').optional(),
            cluster: z.boolean().default(false),
            /** Prefix of every key; defaults to `mqbridge:<bridge.name>:` so bridges can share a Redis. */
            keyPrefix: z.string().min(1).optional(),
          })
          .optional(),
        /** How long an offline persistent session (clean session false) and its messages are kept. */
        sessionExpirySeconds: z.number().int().min(1).default(3 * 24 * 3600),
        /** How often the pods look for persistent sessions that stayed offline past their expiry. */
        expirySweepMs: z.number().int().min(100).default(60_000),
        /**
         * How often a pod tells the others it is alive. A pod silent for 3 of them is dead: another
         * pod publishes the wills of its clients at its next will sweep (every 4 of them).
         */
        podHeartbeatMs: z.number().int().min(500).default(60_000),
      })
      .prefault({}),
    rocketmq: z
      .strictObject({
        endpoints: z.string().min(1, 'must name at least one host:port').default('127.0.0.1:8081'),
        namespace: z.string().default(''),
        /** Defaults to `mqbridge-<bridge.name>`: one group per bridge, so its pods share the downlink. */
        consumerGroup: z.string().regex(rocketmqName).optional(),
        sslEnabled: z.boolean().default(false),
        requestTimeoutMs: z.number().int().min(100).default(3_000),
        receiveBatchSize: z.number().int().min(1).max(32).default(32),
        invisibleDurationMs: z.number().int().min(10_000).default(30_000),
        // The proxy refuses long polls shorter than its minimum (5 s by default).
        longPollingMs: z.number().int().min(5_000).max(30_000).default(20_000),
        receiversPerTopic: z.number().int().min(1).max(16).default(2),
        /** Uplink sends to one topic coalesced into batch requests; `maxMessages: 1` sends one by one. */
        sendBatch: z
          .strictObject({
            maxMessages: z.number().int().min(1).max(256).default(32),
            maxBytes: z.number().int().min(1024).max(4 * 1024 * 1024).default(1024 * 1024),
            maxInFlight: z.number().int().min(1).max(64).default(4),
          })
          .prefault({}),
      })
      .prefault({}),
    bindings: z.array(bindingSchema).default([]),
    log: z.strictObject({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info') }).prefault({}),
    shutdown: z.strictObject({ graceMs: z.number().int().min(0).default(20_000) }).prefault({}),
    reload: z
      .strictObject({
        pollMs: z.number().int().min(50).default(1_000),
        /** In a pod: this ConfigMap is followed through the API server too (config/follower.ts). */
        configMap: z
          .strictObject({ namespace: z.string().min(1), name: z.string().min(1), key: z.string().min(1).default('bridge.yaml') })
          .optional(),
      })
      .prefault({}),
  })
  .superRefine((cfg, ctx) => {
    if (cfg.auth.mode !== 'None') {
      for (const key of ['instanceId', 'accessKeysDir'] as const) {
        if (!cfg.auth[key]) ctx.addIssue({ code: 'custom', path: ['auth', key], message: `required when auth.mode is ${cfg.auth.mode}` });
      }
    }
    const needsCert = cfg.tls.enabled || (cfg.websocket.enabled && cfg.websocket.securePort !== undefined) || (tokenApiEnabled(cfg) && cfg.auth.tokenApi.tls === true);
    for (const key of ['certFile', 'keyFile'] as const) {
      if (needsCert && !cfg.tls[key]) {
        ctx.addIssue({ code: 'custom', path: ['tls', key], message: 'required when the TLS, secure WebSocket or HTTPS token API listener is enabled' });
      }
    }
    if (cfg.tls.clientAuth !== 'None' && !cfg.tls.caFile) {
      ctx.addIssue({ code: 'custom', path: ['tls', 'caFile'], message: `required when clientAuth is ${cfg.tls.clientAuth}` });
    }
    const seen = new Map<string, number>();
    cfg.bindings.forEach((b, i) => {
      const first = seen.get(b.mqttParentTopic);
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['bindings', i, 'mqttParentTopic'],
          message: `parent topic "${b.mqttParentTopic}" is already bound by bindings[${first}]`,
        });
      }
      seen.set(b.mqttParentTopic, i);
    });
    // A RocketMQ message names no parent topic, so only one binding may map a topic back to MQTT.
    const downlink = new Map<string, number>();
    cfg.bindings.forEach((b, i) => {
      if (b.direction === 'MqttToRocketmq') return;
      const first = downlink.get(b.rocketmqTopic);
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['bindings', i, 'rocketmqTopic'],
          message: `RocketMQ topic "${b.rocketmqTopic}" is already delivered to MQTT by bindings[${first}]`,
        });
      }
      downlink.set(b.rocketmqTopic, i);
    });
  });

export type BridgeConfig = z.infer<typeof configSchema>;
/** A config file's content before defaults: what the operator renders into a bridge's ConfigMap. */
export type BridgeConfigInput = z.input<typeof configSchema>;
export type Binding = z.infer<typeof bindingSchema>;

/** Whether the token API is served: it is on by default wherever tokens are accepted. */
export function tokenApiEnabled(cfg: Pick<BridgeConfig, 'auth'>): boolean {
  return cfg.auth.tokenApi.enabled && (cfg.auth.mode === 'Token' || cfg.auth.mode === 'SignatureOrToken');
}

/** Whether the token API speaks HTTPS: as configured, else whenever the bridge has a certificate. */
export function tokenApiUsesTls(cfg: Pick<BridgeConfig, 'auth' | 'tls'>): boolean {
  return cfg.auth.tokenApi.tls ?? cfg.tls.certFile !== undefined;
}

export function redisKeyPrefixOf(cfg: BridgeConfig): string {
  return cfg.sessionStore.redis?.keyPrefix ?? `mqbridge:${cfg.bridge.name}:`;
}

export function consumerGroupOf(cfg: BridgeConfig): string {
  return cfg.rocketmq.consumerGroup ?? bridgeConsumerGroup(cfg.bridge.name);
}
