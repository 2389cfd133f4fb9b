import { createHash } from 'node:crypto';
import { stringify } from 'yaml';
import type { BridgeConfigInput } from '../../bridge/config/schema.js';
import { RELOADABLE_SECTIONS, defaultConsumerGroup } from '../../contract/rules.js';
import { MQTT_BRIDGE_DEFAULTS, MQTT_LIMIT_FIELDS, type MqttBridge, type SessionStoreSpec, type TopicBinding } from '../api/types.js';
import { ACCESS_KEYS_DIR, CONFIG_FILE, HTTP_PORT, TLS_DIR, objectNames } from './names.js';

/** The bridge config file (see docs/configuration.md) for one MqttBridge and its bound TopicBindings, typed as the bridge's schema takes it. */
export function renderBridgeConfig(bridge: MqttBridge, bindings: readonly TopicBinding[]) {
  const { spec } = bridge;
  const ns = bridge.metadata.namespace!;
  const name = bridge.metadata.name!;
  const mqtt = { ...MQTT_BRIDGE_DEFAULTS.mqtt, ...spec.mqtt };
  const tls = { ...MQTT_BRIDGE_DEFAULTS.tls, ...spec.tls };
  const ws = { ...MQTT_BRIDGE_DEFAULTS.websocket, ...spec.websocket };
  const auth = { ...MQTT_BRIDGE_DEFAULTS.auth, ...spec.auth };
  // HTTPS whenever the bridge has a certificate, unless the spec says otherwise.
  const tokenApi = { ...MQTT_BRIDGE_DEFAULTS.auth.tokenApi, tls: tls.certificateSecret !== undefined, ...spec.auth?.tokenApi };
  const certificate = tls.certificateSecret
    ? { certFile: `${TLS_DIR}/tls.crt`, keyFile: `${TLS_DIR}/tls.key`, ...(tls.clientAuth !== 'None' ? { caFile: `${TLS_DIR}/ca.crt` } : {}) }
    : {};
  return {
    bridge: { name: `${name}.${ns}` },
    mqtt: {
      port: mqtt.port,
      maxPayloadBytes: mqtt.maxPayloadBytes,
      maxTopicLength: mqtt.maxTopicLength,
      maxClientIdLength: mqtt.maxClientIdLength,
      uplinkTimeoutMs: mqtt.uplinkTimeoutMs,
      ...Object.fromEntries(MQTT_LIMIT_FIELDS.filter((f) => mqtt[f] !== undefined).map((f) => [f, mqtt[f]])),
    },
    tls: {
      enabled: tls.enabled,
      port: tls.port,
      clientAuth: tls.clientAuth,
      ...certificate,
      ...(tls.clientIdFromCertificate !== undefined ? { clientIdFromCertificate: tls.clientIdFromCertificate } : {}),
    },
    websocket: { enabled: ws.enabled, port: ws.port, path: ws.path, ...(ws.securePort ? { securePort: ws.securePort } : {}) },
    auth: {
      mode: auth.mode,
      ...(auth.instanceId ? { instanceId: auth.instanceId } : {}),
      ...(auth.accessKeysSecret ? { accessKeysDir: ACCESS_KEYS_DIR } : {}),
      groupAllowList: auth.groupAllowList ?? {},
      maxFailuresPerMinute: auth.maxFailuresPerMinute,
      ...(auth.requireBoundTokens !== undefined ? { requireBoundTokens: auth.requireBoundTokens } : {}),
      ...(auth.sessionTakeover !== undefined ? { sessionTakeover: auth.sessionTakeover } : {}),
      tokenApi,
    },
    http: { port: HTTP_PORT },
    ...(spec.sessionStore?.redis ? { sessionStore: renderSessionStore(spec.sessionStore) } : {}),
    rocketmq: {
      endpoints: spec.rocketmq.endpoints,
      namespace: spec.rocketmq.namespace ?? '',
      consumerGroup: consumerGroupOf(bridge),
    },
    bindings: bindings.map(bindingEntry),
    log: { level: spec.logLevel ?? MQTT_BRIDGE_DEFAULTS.logLevel },
    // Followed through the API server by the pods too, ahead of the kubelet's refresh of the file.
    reload: { configMap: { namespace: ns, name: objectNames(name).configMap, key: CONFIG_FILE } },
  } satisfies BridgeConfigInput;
}

export type RenderedConfig = ReturnType<typeof renderBridgeConfig>;

/** A TopicBinding as the bridge config holds it (and as a pod reports it back at /configz). */
export function bindingEntry(b: TopicBinding) {
  return {
    mqttParentTopic: b.spec.mqttParentTopic,
    rocketmqTopic: b.spec.rocketmqTopic,
    direction: b.spec.direction ?? 'Bidirectional',
    defaultQos: b.spec.defaultQos ?? 1,
  };
}

/** A URL from a Secret reaches the pods as MQBRIDGE_REDIS_URL, never through the ConfigMap. */
function renderSessionStore(store: SessionStoreSpec) {
  const redis = store.redis!;
  return {
    redis: { ...(redis.url ? { url: redis.url } : {}), cluster: redis.cluster ?? MQTT_BRIDGE_DEFAULTS.sessionStore.redis.cluster },
    sessionExpirySeconds: store.sessionExpirySeconds ?? MQTT_BRIDGE_DEFAULTS.sessionStore.sessionExpirySeconds,
  };
}

/** The group the bridge's pods consume with: the spec's, else the unambiguous default. */
export function consumerGroupOf(bridge: MqttBridge): string {
  return bridge.spec.rocketmq.consumerGroup ?? defaultConsumerGroup(bridge.metadata.namespace!, bridge.metadata.name!);
}

export function configText(config: RenderedConfig): string {
  return stringify(config);
}

/**
 * Hash of the settings a running bridge cannot take over live. It goes into the pod
 * template, so changing them rolls the pods; bindings and the log level are hot-reloaded
 * from the mounted ConfigMap and change no pod.
 */
export function restartHash(config: RenderedConfig): string {
  const reloadable = new Set<string>(RELOADABLE_SECTIONS);
  const restartOnly = Object.fromEntries(Object.entries(config).filter(([section]) => !reloadable.has(section)));
  return createHash('sha256').update(JSON.stringify(restartOnly)).digest('hex').slice(0, 16);
}
