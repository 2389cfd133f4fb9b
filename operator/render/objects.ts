import type { KubernetesObject } from '@kubernetes/client-node';
import { MQTT_BRIDGE_DEFAULTS, type MqttBridge } from '../api/types.js';
import { RESOURCES, apiVersionOf } from '../k8s/paths.js';
import { configText, restartHash, type RenderedConfig } from './config.js';
import {
  ACCESS_KEYS_DIR,
  CONFIG_DIR,
  TLS_DIR,
  CONFIG_FILE,
  CONFIG_HASH_ANNOTATION,
  HTTP_PORT,
  metadataFor,
  objectNames,
  selectorLabels,
  type BridgeRef,
} from './names.js';

export interface RenderOptions {
  /** Image used when the MqttBridge names none. */
  defaultImage: string;
}

/** Every object the operator owns for one MqttBridge, in apply order. */
export function renderObjects(bridge: MqttBridge, config: RenderedConfig, opts: RenderOptions): KubernetesObject[] {
  const owner: BridgeRef = {
    name: bridge.metadata.name!,
    namespace: bridge.metadata.namespace!,
    uid: bridge.metadata.uid!,
    apiVersion: bridge.apiVersion,
    kind: bridge.kind,
  };
  const objects = [serviceAccount(owner), configReaderRole(owner), configReaderBinding(owner), configMap(owner, config), deployment(bridge, owner, config, opts), service(bridge, owner, config), pdb(owner)];
  const optional = [tokenApiService(owner, config), autoscaler(bridge, owner)].filter((o): o is KubernetesObject => o !== undefined);
  return [...objects, ...optional];
}

/** Objects only some bridges have, by kind and name: the reconciler deletes them where they are no longer desired. */
export function optionalObjectNames(bridge: string): { kind: string; name: string }[] {
  const names = objectNames(bridge);
  return [
    { kind: 'Service', name: names.tokenApiService },
    { kind: 'HorizontalPodAutoscaler', name: names.hpa },
  ];
}

function serviceAccount(owner: BridgeRef): KubernetesObject {
  return {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: metadataFor(owner, objectNames(owner.name).serviceAccount),
    // Only the bridge's pods get a token (their pod spec asks for it); nothing else should run as this account.
    automountServiceAccountToken: false,
  } as KubernetesObject;
}

/**
 * The one thing the bridge's pods may do with the API server: read their own ConfigMap, which
 * they have mounted anyway. Watching it there puts a binding change in force within
 * milliseconds; the kubelet refreshes the mounted file up to a minute later.
 */
function configReaderRole(owner: BridgeRef): KubernetesObject {
  const names = objectNames(owner.name);
  return {
    apiVersion: apiVersionOf(RESOURCES.role),
    kind: 'Role',
    metadata: metadataFor(owner, names.configReaderRole),
    rules: [{ apiGroups: [''], resources: ['configmaps'], resourceNames: [names.configMap], verbs: ['get', 'list', 'watch'] }],
  } as KubernetesObject;
}

function configReaderBinding(owner: BridgeRef): KubernetesObject {
  const names = objectNames(owner.name);
  return {
    apiVersion: apiVersionOf(RESOURCES.roleBinding),
    kind: 'RoleBinding',
    metadata: metadataFor(owner, names.configReaderRole),
    roleRef: { apiGroup: RESOURCES.role.group, kind: 'Role', name: names.configReaderRole },
    subjects: [{ kind: 'ServiceAccount', name: names.serviceAccount, namespace: owner.namespace }],
  } as KubernetesObject;
}

function configMap(owner: BridgeRef, config: RenderedConfig): KubernetesObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: metadataFor(owner, objectNames(owner.name).configMap),
    data: { [CONFIG_FILE]: configText(config) },
  } as KubernetesObject;
}

function credentialsEnv(bridge: MqttBridge) {
  const secret = bridge.spec.rocketmq.credentialsSecret;
  if (!secret) return [];
  const defaults = MQTT_BRIDGE_DEFAULTS.rocketmq.credentialsSecret;
  const ref = (key: string) => ({ valueFrom: { secretKeyRef: { name: secret.name, key } } });
  return [
    { name: 'ROCKETMQ_ACCESS_KEY', ...ref(secret.accessKeyKey ?? defaults.accessKeyKey) },
    { name: 'ROCKETMQ_SECRET_KEY', ...ref(secret.secretKeyKey ?? defaults.secretKeyKey) },
  ];
}

/** The Redis URL from its Secret, when the MqttBridge names one (it may carry a password). */
function redisUrlEnv(bridge: MqttBridge) {
  const secret = bridge.spec.sessionStore?.redis?.urlSecret;
  if (!secret) return [];
  const key = secret.key ?? MQTT_BRIDGE_DEFAULTS.sessionStore.redis.urlSecret.key;
  return [{ name: 'MQBRIDGE_REDIS_URL', valueFrom: { secretKeyRef: { name: secret.name, key } } }];
}

function deployment(bridge: MqttBridge, owner: BridgeRef, config: RenderedConfig, opts: RenderOptions): KubernetesObject {
  const { spec } = bridge;
  const names = objectNames(owner.name);
  const env = [...credentialsEnv(bridge), ...redisUrlEnv(bridge)];
  const container = {
    name: 'bridge',
    image: spec.image ?? opts.defaultImage,
    ...(spec.imagePullPolicy ? { imagePullPolicy: spec.imagePullPolicy } : {}),
    args: ['--config', `${CONFIG_DIR}/${CONFIG_FILE}`],
    ports: [
      ...[...listenerPorts(config), ...tokenApiPorts(config)].map(({ name, port }) => ({ name, containerPort: port, protocol: 'TCP' })),
      { name: 'http', containerPort: HTTP_PORT, protocol: 'TCP' },
    ],
    // The API server drops empty lists; rendering none keeps live and desired comparable.
    ...(env.length > 0 ? { env } : {}),
    readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 5, failureThreshold: 2 },
    livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 10, failureThreshold: 3 },
    ...(spec.resources ? { resources: spec.resources } : {}),
    securityContext: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
    },
    volumeMounts: [{ name: 'config', mountPath: CONFIG_DIR, readOnly: true }, ...secretVolumes(bridge).map(({ name, mountPath }) => ({ name, mountPath, readOnly: true }))],
  };
  return {
    apiVersion: apiVersionOf(RESOURCES.deployment),
    kind: 'Deployment',
    metadata: metadataFor(owner, names.deployment),
    spec: {
      // With autoscaling the HPA owns replicas; not setting the field leaves it to it.
      ...(spec.autoscaling ? {} : { replicas: spec.replicas ?? MQTT_BRIDGE_DEFAULTS.replicas }),
      selector: { matchLabels: selectorLabels(owner.name) },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: {
          labels: selectorLabels(owner.name),
          annotations: { ...spec.podAnnotations, [CONFIG_HASH_ANNOTATION]: restartHash(config) },
        },
        spec: {
          serviceAccountName: names.serviceAccount,
          // A token whose Role reads this bridge's ConfigMap only (configReaderRole).
          automountServiceAccountToken: true,
          // Above the bridge's own shutdown grace (20 s) so in-flight sends can finish.
          terminationGracePeriodSeconds: 30,
          securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [container],
          volumes: [{ name: 'config', configMap: { name: names.configMap } }, ...secretVolumes(bridge).map(({ name, secretName }) => ({ name, secret: { secretName } }))],
          ...(spec.nodeSelector ? { nodeSelector: spec.nodeSelector } : {}),
          ...(spec.tolerations ? { tolerations: spec.tolerations } : {}),
          ...(spec.affinity ? { affinity: spec.affinity } : {}),
        },
      },
    },
  } as KubernetesObject;
}

function service(bridge: MqttBridge, owner: BridgeRef, config: RenderedConfig): KubernetesObject {
  const svc = bridge.spec.service ?? {};
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadataFor(owner, objectNames(owner.name).service, svc.annotations ? { annotations: svc.annotations } : {}),
    spec: {
      type: svc.type ?? MQTT_BRIDGE_DEFAULTS.service.type,
      selector: selectorLabels(owner.name),
      ports: listenerPorts(config).map(({ name, port }) => ({
        name,
        port,
        targetPort: name,
        protocol: 'TCP',
        ...(name === 'mqtt' && svc.nodePort ? { nodePort: svc.nodePort } : {}),
      })),
    },
  } as KubernetesObject;
}

/** Every listener devices reach, exposed on the pod and the device-facing Service. */
function listenerPorts(config: RenderedConfig): { name: string; port: number }[] {
  return [
    { name: 'mqtt', port: config.mqtt.port },
    ...(config.tls.enabled ? [{ name: 'mqtts', port: config.tls.port }] : []),
    ...(config.websocket.enabled ? [{ name: 'mqtt-ws', port: config.websocket.port }] : []),
    ...(config.websocket.enabled && config.websocket.securePort ? [{ name: 'mqtt-wss', port: config.websocket.securePort }] : []),
  ];
}

/** The token API, for applications inside the cluster only: its own ClusterIP Service, never the device-facing one. */
function tokenApiPorts(config: RenderedConfig): { name: string; port: number }[] {
  const { auth } = config;
  const served = auth.tokenApi.enabled && (auth.mode === 'Token' || auth.mode === 'SignatureOrToken');
  return served ? [{ name: 'token-api', port: auth.tokenApi.port }] : [];
}

function tokenApiService(owner: BridgeRef, config: RenderedConfig): KubernetesObject | undefined {
  const ports = tokenApiPorts(config);
  if (ports.length === 0) return undefined;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadataFor(owner, objectNames(owner.name).tokenApiService),
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(owner.name),
      ports: ports.map(({ name, port }) => ({ name, port, targetPort: name, protocol: 'TCP' })),
    },
  } as KubernetesObject;
}

/** Secrets the bridge reads as files: access keys and the TLS certificate; updates reach the pod without a restart. */
function secretVolumes(bridge: MqttBridge): { name: string; secretName: string; mountPath: string }[] {
  const { auth, tls } = bridge.spec;
  return [
    ...(auth?.accessKeysSecret && auth.mode && auth.mode !== 'None' ? [{ name: 'access-keys', secretName: auth.accessKeysSecret.name, mountPath: ACCESS_KEYS_DIR }] : []),
    ...(tls?.certificateSecret ? [{ name: 'tls', secretName: tls.certificateSecret.name, mountPath: TLS_DIR }] : []),
  ];
}

function pdb(owner: BridgeRef): KubernetesObject {
  return {
    apiVersion: apiVersionOf(RESOURCES.pdb),
    kind: 'PodDisruptionBudget',
    metadata: metadataFor(owner, objectNames(owner.name).pdb),
    // One pod at a time: its devices reconnect to the others before the next one goes.
    spec: { maxUnavailable: 1, selector: { matchLabels: selectorLabels(owner.name) } },
  } as KubernetesObject;
}

function autoscaler(bridge: MqttBridge, owner: BridgeRef): KubernetesObject | undefined {
  const a = bridge.spec.autoscaling;
  if (!a) return undefined;
  const defaults = MQTT_BRIDGE_DEFAULTS.autoscaling;
  return {
    apiVersion: apiVersionOf(RESOURCES.hpa),
    kind: 'HorizontalPodAutoscaler',
    metadata: metadataFor(owner, objectNames(owner.name).hpa),
    spec: {
      scaleTargetRef: { apiVersion: apiVersionOf(RESOURCES.deployment), kind: 'Deployment', name: objectNames(owner.name).deployment },
      minReplicas: a.minReplicas ?? defaults.minReplicas,
      maxReplicas: a.maxReplicas,
      metrics: [
        {
          type: 'Resource',
          resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: a.targetCPUUtilizationPercentage ?? defaults.targetCPUUtilizationPercentage } },
        },
      ],
    },
  } as KubernetesObject;
}
