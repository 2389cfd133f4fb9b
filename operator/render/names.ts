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

