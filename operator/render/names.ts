import { createHash } from 'node:crypto';
import type { KubernetesObject, V1OwnerReference } from '@kubernetes/client-node';

/** Field manager of every server-side apply the operator makes. */
export const FIELD_MANAGER = 'mqbridge-operator';
export const MANAGED_BY = 'mqbridge-operator';
export const BRIDGE_LABEL = 'mqbridge.dev/bridge';
export const CONFIG_HASH_ANNOTATION = 'mqbridge.dev/config-hash';
export const CONFIG_FILE = 'bridge.yaml';
export const CONFIG_DIR = '/etc/mqbridge';
export const HTTP_PORT = 9090;
export const ACCESS_KEYS_DIR = '/etc/mqbridge/access-keys';
export const TLS_DIR = '/etc/mqbridge/tls';

export interface BridgeRef {
  name: string;
  namespace: string;
  uid: string;
  apiVersion: string;
  kind: string;
}

export const objectNames = (bridge: string) => ({
  configMap: `${bridge}-bridge-config`,
  deployment: `${bridge}-bridge`,
  service: `${bridge}-mqtt`,
  tokenApiService: `${bridge}-token-api`,
  pdb: `${bridge}-bridge`,
  hpa: `${bridge}-bridge`,
  serviceAccount: `${bridge}-bridge`,
  /** Lets the bridge's pods read their own ConfigMap, and nothing else. */
  configReaderRole: `${bridge}-bridge-config-reader`,
});

export function selectorLabels(bridge: string): Record<string, string> {
  return { 'app.kubernetes.io/name': 'mqbridge-bridge', [BRIDGE_LABEL]: bridge };
}

export function selectorString(bridge: string): string {
  return Object.entries(selectorLabels(bridge))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

export function commonLabels(bridge: string): Record<string, string> {
  return { ...selectorLabels(bridge), 'app.kubernetes.io/instance': bridge, 'app.kubernetes.io/managed-by': MANAGED_BY };
}

export function ownerReference(owner: BridgeRef): V1OwnerReference {
  return { apiVersion: owner.apiVersion, kind: owner.kind, name: owner.name, uid: owner.uid, controller: true, blockOwnerDeletion: true };
}

export function metadataFor(owner: BridgeRef, name: string, extra: Partial<KubernetesObject['metadata']> = {}): KubernetesObject['metadata'] {
  return {
    name,
    namespace: owner.namespace,
    labels: commonLabels(owner.name),
    ownerReferences: [ownerReference(owner)],
    ...extra,
  };
}

/** RocketMQ's longest group name (as the bridge's config accepts it). */
const GROUP_MAX_LENGTH = 127;

/**
 * The consumer group of an MqttBridge that names none: `mqbridge_<namespace>_<name>`. Neither a
 * namespace (a DNS label) nor an MqttBridge name (a DNS-1035 label) has an `_`, so the first one
 * after the prefix ends the namespace, and no two bridges share a group (the old
 * `mqbridge-<namespace>-<name>` made `team-a`/`x` and `team`/`a-x` one). A longer one keeps its
 * start and ends in `__` and a hash of namespace and name; `__` never occurs in the short form.
 */
export function defaultConsumerGroup(namespace: string, name: string): string {
  const plain = `mqbridge_${namespace}_${name}`;
  if (plain.length <= GROUP_MAX_LENGTH) return plain;
  const hash = createHash('sha256').update(`${namespace}/${name}`).digest('hex').slice(0, 16);
  return `${plain.slice(0, GROUP_MAX_LENGTH - hash.length - 2)}__${hash}`;
}
