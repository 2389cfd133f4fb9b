/** The resources the operator reads and writes, and their REST paths. */
export interface ResourceType {
  group: string; // '' for the core group
  version: string;
  plural: string;
  kind: string;
}

export const RESOURCES = {
  configMap: { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap' },
  service: { group: '', version: 'v1', plural: 'services', kind: 'Service' },
  serviceAccount: { group: '', version: 'v1', plural: 'serviceaccounts', kind: 'ServiceAccount' },
  secret: { group: '', version: 'v1', plural: 'secrets', kind: 'Secret' },
  deployment: { group: 'apps', version: 'v1', plural: 'deployments', kind: 'Deployment' },
  endpointSlice: { group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', kind: 'EndpointSlice' },
  pdb: { group: 'policy', version: 'v1', plural: 'poddisruptionbudgets', kind: 'PodDisruptionBudget' },
  hpa: { group: 'autoscaling', version: 'v2', plural: 'horizontalpodautoscalers', kind: 'HorizontalPodAutoscaler' },
  role: { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'roles', kind: 'Role' },
  roleBinding: { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'rolebindings', kind: 'RoleBinding' },
  lease: { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', kind: 'Lease' },
  event: { group: 'events.k8s.io', version: 'v1', plural: 'events', kind: 'Event' },
  mqttBridge: { group: 'mqbridge.dev', version: 'v1alpha1', plural: 'mqttbridges', kind: 'MqttBridge' },
  topicBinding: { group: 'mqbridge.dev', version: 'v1alpha1', plural: 'topicbindings', kind: 'TopicBinding' },
} as const satisfies Record<string, ResourceType>;

/** The kinds the reconciler applies for an MqttBridge (each with the bridge as its controller), in apply order. */
export const OWNED_TYPES = [RESOURCES.serviceAccount, RESOURCES.role, RESOURCES.roleBinding, RESOURCES.configMap, RESOURCES.deployment, RESOURCES.service, RESOURCES.pdb, RESOURCES.hpa] as const;

/**
 * What the operator watches by a bridge's label: the owned kinds, and the EndpointSlices of the
 * bridge's Services (the EndpointSlice controller copies a Service's labels), which say which pods are ready.
 */
export const LABELLED_TYPES = [...OWNED_TYPES, RESOURCES.endpointSlice] as const;

/** An owned kind's resource type, by kind name. */
export function ownedTypeOf(kind: string): ResourceType | undefined {
  return OWNED_TYPES.find((t) => t.kind === kind);
}

export function apiVersionOf(r: ResourceType): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}

/** `/api/v1/namespaces/ns/configmaps/name/status`, with the parts that are given. */
export function resourcePath(r: ResourceType, namespace?: string, name?: string, subresource?: string): string {
  const base = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  const ns = namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  const tail = name ? `/${encodeURIComponent(name)}${subresource ? `/${subresource}` : ''}` : '';
  return `${base}${ns}/${r.plural}${tail}`;
}
