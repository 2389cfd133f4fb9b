/**
 * Whether the operator may run what an MqttBridge or TopicBinding asks for, under the cluster
 * admin's policy. Pure: the caller says which Secrets carry the opt-in label.
 */
import type { MqttBridge, Toleration } from '../api/types.js';
import { SECRET_OPT_IN_LABEL, type NamespaceRules, type OperatorPolicy } from './operator-policy.js';

export type AdmissionReason = 'ImageNotAllowed' | 'SchedulingNotAllowed' | 'SecretNotAllowed' | 'UnauthenticatedExposure' | 'Forbidden';
export type Admission = { ok: true } | { ok: false; reason: AdmissionReason; message: string };

const refuse = (reason: AdmissionReason, message: string): Admission => ({ ok: false, reason, message });

/** `*` matches any run of characters; everything else itself. */
export function globMatches(pattern: string, value: string): boolean {
  const source = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  return new RegExp(`^${source}$`).test(value);
}

/** `registry/path/name` of an image reference, without its tag or digest. */
export function repositoryOf(image: string): string {
  const withoutDigest = image.split('@')[0]!;
  const colon = withoutDigest.lastIndexOf(':');
  return colon > withoutDigest.lastIndexOf('/') ? withoutDigest.slice(0, colon) : withoutDigest;
}

export function allowedImages(policy: OperatorPolicy): string[] {
  if (policy.allowedImages.length > 0) return policy.allowedImages;
  const repository = repositoryOf(policy.defaultImage);
  return [repository, `${repository}:*`, `${repository}@*`];
}

export function imageAllowed(image: string, policy: OperatorPolicy): boolean {
  return allowedImages(policy).some((pattern) => globMatches(pattern, image));
}

function rulesOf(namespace: string, policy: OperatorPolicy): NamespaceRules | 'none' | undefined {
  const rules = policy.tenancy.namespaces[namespace];
  if (rules) return rules;
  return policy.tenancy.restrictUnlisted ? 'none' : undefined;
}

function prefixRefusal(kind: string, value: string, namespace: string, allowed: string[] | undefined | 'none'): string | undefined {
  if (allowed === undefined) return undefined;
  if (allowed !== 'none' && allowed.some((p) => value.startsWith(p))) return undefined;
  const may = allowed === 'none' ? 'none' : allowed.map((p) => `${p}*`).join(', ');
  return `${kind} ${value} is not allowed in namespace ${namespace} (allowed: ${may})`;
}

/** Why the namespace may not bind this RocketMQ topic; undefined when it may. */
export function topicRefusal(namespace: string, topic: string, policy: OperatorPolicy): string | undefined {
  const rules = rulesOf(namespace, policy);
  return prefixRefusal('RocketMQ topic', topic, namespace, rules === 'none' ? 'none' : rules?.rocketmqTopicPrefixes);
}

export function groupRefusal(namespace: string, group: string, policy: OperatorPolicy): string | undefined {
  const rules = rulesOf(namespace, policy);
  return prefixRefusal('consumer group', group, namespace, rules === 'none' ? 'none' : rules?.consumerGroupPrefixes);
}

/** Every Secret the bridge's pods would mount or read. */
export function referencedSecrets(bridge: MqttBridge): string[] {
  const { auth, tls, rocketmq, sessionStore } = bridge.spec;
  return [
    ...(auth?.accessKeysSecret && auth.mode && auth.mode !== 'None' ? [auth.accessKeysSecret.name] : []),
    ...(tls?.certificateSecret ? [tls.certificateSecret.name] : []),
    ...(rocketmq.credentialsSecret ? [rocketmq.credentialsSecret.name] : []),
    ...(sessionStore?.redis?.urlSecret ? [sessionStore.redis.urlSecret.name] : []),
  ];
}

function schedulingRefusal(tolerations: Toleration[] | undefined, policy: OperatorPolicy): string | undefined {
  for (const t of tolerations ?? []) {
    if (!t.key && t.operator === 'Exists') return 'a toleration of every taint (no key, operator Exists) is not allowed';
    if (t.key && policy.forbiddenTolerationKeys.includes(t.key)) return `a toleration of ${t.key} is not allowed: bridge pods stay off those nodes`;
  }
  return undefined;
}

/**
 * Whether the bridge may run as specified. `labelled(name)`: the namespace's Secret of that name
 * carries the opt-in label. `consumerGroup`: the group the bridge will use (its own or the default).
 */
export function admitBridge(bridge: MqttBridge, policy: OperatorPolicy, labelled: (secret: string) => boolean, consumerGroup: string): Admission {
  const { spec } = bridge;
  const namespace = bridge.metadata.namespace ?? '';
  const image = spec.image ?? policy.defaultImage;
  if (!imageAllowed(image, policy)) return refuse('ImageNotAllowed', `image ${image} is not allowed (allowed: ${allowedImages(policy).join(', ')})`);
  const scheduling = schedulingRefusal(spec.tolerations, policy);
  if (scheduling) return refuse('SchedulingNotAllowed', scheduling);
  const unlabelled = referencedSecrets(bridge).filter((name) => !labelled(name));
  if (unlabelled.length > 0) {
    return refuse('SecretNotAllowed', `Secret ${unlabelled.join(', ')} does not allow bridges: label it ${SECRET_OPT_IN_LABEL}=true (kubectl label secret ${unlabelled[0]} ${SECRET_OPT_IN_LABEL}=true)`);
  }
  const exposed = spec.service?.type === 'NodePort' || spec.service?.type === 'LoadBalancer';
  if (exposed && (spec.auth?.mode ?? 'None') === 'None' && !spec.service?.allowUnauthenticated) {
    return refuse('UnauthenticatedExposure', `a ${spec.service!.type} Service with auth.mode None lets anyone who reaches it connect as any device: set auth.mode, or service.allowUnauthenticated: true`);
  }
  const group = groupRefusal(namespace, consumerGroup, policy);
  if (group) return refuse('Forbidden', group);
  return { ok: true };
}
