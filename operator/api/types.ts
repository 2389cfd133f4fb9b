/**
 * TypeScript view of the `mqbridge.dev/v1alpha1` custom resources.
 *
 * The CustomResourceDefinitions in `crds/` are the source of truth: the API server validates
 * and defaults with them. This module mirrors their shape, defaults and name patterns for the
 * operator; `test/unit/crds.test.ts` fails when the two drift apart.
 *
 * Defaulted fields are optional here: objects read from the API server carry the defaults
 * (the server fills them in), objects built in code may leave them out.
 */

import { DIRECTIONS, PARENT_TOPIC_PATTERN, ROCKETMQ_NAME_PATTERN, type Direction, type Qos } from '../../contract/rules.js';

export const GROUP = 'mqbridge.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}` as const;

export const MQTT_BRIDGE_KIND = 'MqttBridge';
export const MQTT_BRIDGE_PLURAL = 'mqttbridges';
export const MQTT_BRIDGE_SINGULAR = 'mqttbridge';
export const MQTT_BRIDGE_SHORT_NAME = 'mqb';

export const TOPIC_BINDING_KIND = 'TopicBinding';
export const TOPIC_BINDING_PLURAL = 'topicbindings';
export const TOPIC_BINDING_SINGULAR = 'topicbinding';
export const TOPIC_BINDING_SHORT_NAME = 'mqtb';

/** `kubectl get mqbridge` lists both kinds. */
export const CATEGORY = 'mqbridge';

/** Longest MqttBridge name: its Service, `<name>-mqtt`, must fit in a 63 character label. */
export const MQTT_BRIDGE_NAME_MAX_LENGTH = 58;

/** Type of the condition that sums up whether a resource is in effect. */
export const CONDITION_READY = 'Ready';

/**
 * Regular expressions (as source strings, RE2- and ECMAScript-compatible) that the CRDs'
 * validation rules use. Compile with `new RegExp(PATTERNS.x)`.
 */
export const PATTERNS = {
  /**
   * `spec.rocketmq.endpoints`: `host:port` entries separated by `;`. Host: a DNS name whose
   * last label starts with a letter, or a dotted-quad IPv4 address; port: 1-65535.
   */
  rocketmqEndpoints:
    '^((([A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?[.])*[A-Za-z]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?' +
    '|(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])([.](25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3})' +
    ':([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))' +
    '(;(([A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?[.])*[A-Za-z]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?' +
    '|(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])([.](25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3})' +
    ':([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))*$',
  /**
   * `MqttBridge.metadata.name` (with at most {@link MQTT_BRIDGE_NAME_MAX_LENGTH} characters):
   * a DNS-1035 label short enough that `<name>-mqtt` still is one, as Service names must be.
   */
  mqttBridgeName: '^[a-z]([-a-z0-9]*[a-z0-9])?$',
  /** Object names (DNS-1123 subdomain; the 253 character limit is a maxLength). */
  dns1123Subdomain: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
  /** Keys of a Secret's data. */
  secretKey: '^[-._a-zA-Z0-9]+$',
  /** `spec.rocketmq.consumerGroup`; as strict as the bridge's config (bridge/config/schema.ts). */
  consumerGroup: ROCKETMQ_NAME_PATTERN,
  /** `TopicBinding.spec.mqttParentTopic`, the mapping contract's parent topic rule. */
  mqttParentTopic: PARENT_TOPIC_PATTERN,
  /** `TopicBinding.spec.rocketmqTopic`, RocketMQ's topic name rule. */
  rocketmqTopic: ROCKETMQ_NAME_PATTERN,
} as const;

// ------------------------------------------------------------------------------ common shapes

/** The parts of metav1.ObjectMeta the operator relies on (client-node's V1ObjectMeta fits). */
export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** metav1.Condition. */
export interface Condition {
  /** CamelCase, e.g. `Ready`. */
  type: string;
  status: ConditionStatus;
  observedGeneration?: number;
  /** RFC 3339 date-time. */
  lastTransitionTime: string;
  /** CamelCase, matches `^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$`. */
  reason: string;
  message: string;
}

/** A resource.Quantity as the API server stores it: `"100m"`, `"128Mi"`, or a plain number. */
export type Quantity = string | number;

/** core/v1 ResourceRequirements (limits and requests). */
export interface ResourceRequirements {
  limits?: Record<string, Quantity>;
  requests?: Record<string, Quantity>;
}

/** core/v1 Toleration; the CRD keeps its fields as given (no schema beyond "an object"). */
export interface Toleration {
  key?: string;
  operator?: 'Exists' | 'Equal';
  value?: string;
  effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
  tolerationSeconds?: number;
}

/** core/v1 Affinity; kept as given (nodeAffinity, podAffinity, podAntiAffinity). */
export type Affinity = Record<string, unknown>;

// -------------------------------------------------------------------------------- MqttBridge

export const IMAGE_PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'] as const;
export type ImagePullPolicy = (typeof IMAGE_PULL_POLICIES)[number];

export const SERVICE_TYPES = ['ClusterIP', 'NodePort', 'LoadBalancer'] as const;
export type ServiceType = (typeof SERVICE_TYPES)[number];

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface AutoscalingSpec {
  /** 1-1000, default 1. */
  minReplicas?: number;
  /** 1-1000, at least minReplicas. */
  maxReplicas: number;
  /** 1-100, default 80. */
  targetCPUUtilizationPercentage?: number;
}

export interface CredentialsSecretRef {
  /** Secret in the MqttBridge's namespace (DNS-1123 subdomain). */
  name: string;
  /** Default `accessKey`. */
  accessKeyKey?: string;
  /** Default `secretKey`. */
  secretKeyKey?: string;
}

export interface RocketmqSpec {
  /** `host:port[;host:port...]`, see {@link PATTERNS.rocketmqEndpoints}. */
  endpoints: string;
  namespace?: string;
  credentialsSecret?: CredentialsSecretRef;
  /** Unset: `mqbridge_<namespace>_<name>` (contract/rules.ts, defaultConsumerGroup). */
  consumerGroup?: string;
}

export interface MqttSpec {
  /** 1-65535, default 1883. */
  port?: number;
  /** 0-4194304, default 65536. */
  maxPayloadBytes?: number;
  /** 8-65535, default 256. */
  maxTopicLength?: number;
  /** 1-65535, default 64. */
  maxClientIdLength?: number;
  /** At least 100, default 30000. */
  uplinkTimeoutMs?: number;
  /** Limits of the bridge; unset: the bridge's defaults (bridge/config/schema.ts). */
  connectTimeoutMs?: number;
  maxConnections?: number;
  maxConnectionsPerSource?: number;
  connectsPerSecond?: number;
  maxConnectsWaiting?: number;
  maxKeepaliveSeconds?: number;
  maxFiltersPerSubscribe?: number;
  maxSubscriptionsPerClient?: number;
  maxQueuedMessagesPerSession?: number;
  maxQos2InFlight?: number;
}

/** The MqttSpec fields passed to the bridge only when set. */
export const MQTT_LIMIT_FIELDS = [
  'connectTimeoutMs',
  'maxConnections',
  'maxConnectionsPerSource',
  'connectsPerSecond',
  'maxConnectsWaiting',
  'maxKeepaliveSeconds',
  'maxFiltersPerSubscribe',
  'maxSubscriptionsPerClient',
  'maxQueuedMessagesPerSession',
  'maxQos2InFlight',
] as const satisfies readonly (keyof MqttSpec)[];

export interface ServiceSpec {
  /** Default ClusterIP. */
  type?: ServiceType;
  annotations?: Record<string, string>;
  /** 30000-32767; only with type NodePort or LoadBalancer. */
  nodePort?: number;
  /** A NodePort or LoadBalancer Service with auth.mode None needs this set: anyone reaching it connects as any device. */
  allowUnauthenticated?: boolean;
}

export interface SecretRef {
  name: string;
}

/** Device authentication (docs/security.md). */
export interface AuthSpec {
  mode?: 'None' | 'Signature' | 'Token' | 'SignatureOrToken';
  instanceId?: string;
  /** Keys are AccessKeyIds, values their secrets. */
  accessKeysSecret?: SecretRef;
  groupAllowList?: Record<string, string[]>;
  maxFailuresPerMinute?: number;
  requireBoundTokens?: boolean;
  sessionTakeover?: 'SameCredential' | 'Any';
  tokenApi?: TokenApiSpec;
}

/** HTTP API that applies, queries and revokes tokens (Token and SignatureOrToken modes). */
export interface TokenApiSpec {
  enabled?: boolean;
  port?: number;
  /** HTTPS with the certificate of `tls.certificateSecret`; unset: whenever there is one. */
  tls?: boolean;
}

export interface TlsSpec {
  enabled?: boolean;
  port?: number;
  /** kubernetes.io/tls Secret: tls.crt, tls.key, and ca.crt for client certificates. */
  certificateSecret?: SecretRef;
  clientAuth?: 'None' | 'Optional' | 'Require';
  clientIdFromCertificate?: boolean;
}

export interface WebsocketSpec {
  enabled?: boolean;
  port?: number;
  path?: string;
  securePort?: number;
}

export interface RedisUrlSecretRef {
  name: string;
  /** Default `url`. */
  key?: string;
}

export interface RedisSpec {
  /** `redis://` or `rediss://`; exactly one of url and urlSecret. */
  url?: string;
  urlSecret?: RedisUrlSecretRef;
  /** Default false. */
  cluster?: boolean;
}

/** Shared state of the bridge pods; needed for more than one pod. */
export interface SessionStoreSpec {
  redis?: RedisSpec;
  /** At least 60, default 259200 (3 days). */
  sessionExpirySeconds?: number;
}

export interface MqttBridgeSpec {
  /** 0-1000, default 1; also written through the scale subresource. */
  replicas?: number;
  autoscaling?: AutoscalingSpec;
  /** Unset: the operator's default image. */
  image?: string;
  imagePullPolicy?: ImagePullPolicy;
  rocketmq: RocketmqSpec;
  /** The server defaults it to `{}` and fills in the fields' defaults. */
  mqtt?: MqttSpec;
  /** The server defaults it to `{}` and fills in the fields' defaults. */
  service?: ServiceSpec;
  auth?: AuthSpec;
  tls?: TlsSpec;
  websocket?: WebsocketSpec;
  sessionStore?: SessionStoreSpec;
  /** Default info. */
  logLevel?: LogLevel;
  resources?: ResourceRequirements;
  nodeSelector?: Record<string, string>;
  tolerations?: Toleration[];
  affinity?: Affinity;
  podAnnotations?: Record<string, string>;
}

export interface MqttBridgeStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  /** Bridge pods that exist (scale subresource's status replicas). */
  replicas?: number;
  readyReplicas?: number;
  /** Ready bridge pods that report running the current configuration (GET /configz). */
  configuredReplicas?: number;
  /** Label selector of the pods in string form (scale subresource, HPA). */
  selector?: string;
  /** TopicBindings in effect. */
  bindings?: number;
  /** `host:port` devices connect to. */
  endpoint?: string;
}

export interface MqttBridge {
  apiVersion: typeof API_VERSION;
  kind: typeof MQTT_BRIDGE_KIND;
  metadata: ObjectMeta;
  spec: MqttBridgeSpec;
  status?: MqttBridgeStatus;
}

// ------------------------------------------------------------------------------ TopicBinding

export { DIRECTIONS, type Direction, type Qos };

export interface TopicBindingSpec {
  /** Name of an MqttBridge in the same namespace. Immutable. */
  bridge: string;
  /** 3-64 characters of `[A-Za-z0-9_-]`. Immutable. */
  mqttParentTopic: string;
  /** 1-127 characters of `[%|A-Za-z0-9_-]`. */
  rocketmqTopic: string;
  /** Default Bidirectional. */
  direction?: Direction;
  /** Default 1. */
  defaultQos?: Qos;
}

export interface TopicBindingStatus {
  observedGeneration?: number;
  conditions?: Condition[];
}

export interface TopicBinding {
  apiVersion: typeof API_VERSION;
  kind: typeof TOPIC_BINDING_KIND;
  metadata: ObjectMeta;
  spec: TopicBindingSpec;
  status?: TopicBindingStatus;
}

// ---------------------------------------------------------------------------------- defaults

/**
 * Every `default` in the MqttBridge schema, by field (objects that default to `{}` are not
 * listed). `autoscaling`, `rocketmq.credentialsSecret` and `sessionStore` apply only when those
 * objects are set.
 */
export const MQTT_BRIDGE_DEFAULTS = {
  replicas: 1,
  autoscaling: { minReplicas: 1, targetCPUUtilizationPercentage: 80 },
  rocketmq: { credentialsSecret: { accessKeyKey: 'accessKey', secretKeyKey: 'secretKey' } },
  mqtt: {
    port: 1883,
    maxPayloadBytes: 65536,
    maxTopicLength: 256,
    maxClientIdLength: 64,
    uplinkTimeoutMs: 30000,
  },
  service: { type: 'ClusterIP' },
  auth: { mode: 'None', maxFailuresPerMinute: 10, tokenApi: { enabled: true, port: 8090 } },
  tls: { enabled: false, port: 8883, clientAuth: 'None' },
  websocket: { enabled: false, port: 8083, path: '/mqtt' },
  sessionStore: { redis: { urlSecret: { key: 'url' }, cluster: false }, sessionExpirySeconds: 259200 },
  logLevel: 'info',
} as const satisfies {
  replicas: number;
  autoscaling: Required<Omit<AutoscalingSpec, 'maxReplicas'>>;
  rocketmq: { credentialsSecret: Required<Omit<CredentialsSecretRef, 'name'>> };
  mqtt: Required<Omit<MqttSpec, (typeof MQTT_LIMIT_FIELDS)[number]>>;
  service: { type: ServiceType };
  auth: Required<Pick<AuthSpec, 'mode' | 'maxFailuresPerMinute'>> & { tokenApi: Required<Omit<TokenApiSpec, 'tls'>> };
  tls: Required<Pick<TlsSpec, 'enabled' | 'port' | 'clientAuth'>>;
  websocket: Required<Pick<WebsocketSpec, 'enabled' | 'port' | 'path'>>;
  sessionStore: { redis: { urlSecret: Required<Pick<RedisUrlSecretRef, 'key'>>; cluster: boolean }; sessionExpirySeconds: number };
  logLevel: LogLevel;
};

/** Every `default` in the TopicBinding schema. */
export const TOPIC_BINDING_DEFAULTS = {
  direction: 'Bidirectional',
  defaultQos: 1,
} as const satisfies Required<Pick<TopicBindingSpec, 'direction' | 'defaultQos'>>;
