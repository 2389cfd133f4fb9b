import type { MqttBridge } from '../../operator/api/types.js';
import { admitBridge, globMatches, imageAllowed, repositoryOf, topicRefusal } from '../../operator/policy/admission.js';
import { parsePolicy, PolicyError } from '../../operator/policy/operator-policy.js';

const bridge = (spec: Partial<MqttBridge['spec']> = {}, namespace = 'team-a'): MqttBridge => ({
  apiVersion: 'mqbridge.dev/v1alpha1',
  kind: 'MqttBridge',
  metadata: { name: 'edge', namespace, uid: 'u-1' },
  spec: { rocketmq: { endpoints: 'proxy:8081' }, ...spec },
});
const defaults = parsePolicy('', 'ghcr.io/mqbridge/bridge:0.1.0');
const all = () => true;

describe('images', () => {
  test.each([
    ['ghcr.io/mqbridge/bridge:0.1.0', 'ghcr.io/mqbridge/bridge'],
    ['registry:5000/team/bridge:1', 'registry:5000/team/bridge'],
    ['registry:5000/team/bridge', 'registry:5000/team/bridge'],
    ['ghcr.io/mqbridge/bridge@sha256:abc', 'ghcr.io/mqbridge/bridge'],
  ])('the repository of %s is %s', (image, repository) => {
    expect(repositoryOf(image)).toBe(repository);
  });

  test.each([
    ['ghcr.io/mqbridge/bridge:0.2.0', true],
    ['ghcr.io/mqbridge/bridge@sha256:0123', true],
    ['ghcr.io/mqbridge/bridge', true],
    ['ghcr.io/mqbridge/bridge-evil:1', false],
    ['docker.io/attacker/exfiltrate:latest', false],
  ])('by default (the operator image repository only): %s → %s', (image, allowed) => {
    expect(imageAllowed(image, defaults)).toBe(allowed);
  });

  test('an allow-list of patterns replaces the default', () => {
    const policy = parsePolicy('allowedImages: ["registry.example.com/iot/*"]', 'ghcr.io/mqbridge/bridge:0.1.0');
    expect(imageAllowed('registry.example.com/iot/bridge:2', policy)).toBe(true);
    expect(imageAllowed('ghcr.io/mqbridge/bridge:0.1.0', policy)).toBe(false);
    expect(globMatches('a.b/*', 'aXb/c')).toBe(false); // dots are literal
  });
});

describe('admitBridge', () => {
  const secretsLabelled = (...names: string[]) => (name: string) => names.includes(name);
  test.each([
    ['the default image', {}, all, undefined],
    ['another image', { image: 'evil/bridge:1' }, all, 'ImageNotAllowed'],
    ['a toleration of the control-plane taint', { tolerations: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists' as const }] }, all, 'SchedulingNotAllowed'],
    ['a toleration of every taint', { tolerations: [{ operator: 'Exists' as const }] }, all, 'SchedulingNotAllowed'],
    ['an ordinary toleration', { tolerations: [{ key: 'dedicated', value: 'iot', effect: 'NoSchedule' as const }] }, all, undefined],
    ['an access-key Secret without the label', { auth: { mode: 'Signature' as const, instanceId: 'i', accessKeysSecret: { name: 'keys' } } }, secretsLabelled(), 'SecretNotAllowed'],
    ['an access-key Secret with the label', { auth: { mode: 'Signature' as const, instanceId: 'i', accessKeysSecret: { name: 'keys' } } }, secretsLabelled('keys'), undefined],
    ['RocketMQ credentials from a Secret without the label', { rocketmq: { endpoints: 'p:1', credentialsSecret: { name: 'db-password' } } }, secretsLabelled(), 'SecretNotAllowed'],
    ['a Redis URL Secret without the label', { sessionStore: { redis: { urlSecret: { name: 'redis' } } } }, secretsLabelled(), 'SecretNotAllowed'],
    ['a TLS Secret without the label', { tls: { certificateSecret: { name: 'cert' } } }, secretsLabelled(), 'SecretNotAllowed'],
    ['a LoadBalancer without auth', { service: { type: 'LoadBalancer' as const } }, all, 'UnauthenticatedExposure'],
    ['a NodePort without auth, allowed explicitly', { service: { type: 'NodePort' as const, allowUnauthenticated: true } }, all, undefined],
    ['a LoadBalancer with auth', { service: { type: 'LoadBalancer' as const }, auth: { mode: 'Token' as const, instanceId: 'i', accessKeysSecret: { name: 'k' } } }, all, undefined],
  ])('%s', (_name, spec, labelled, reason) => {
    const admission = admitBridge(bridge(spec), defaults, labelled, 'mqbridge_team-a_edge');
    expect(admission.ok ? undefined : admission.reason).toBe(reason);
  });
});

describe('tenancy', () => {
  const policy = parsePolicy(
    ['tenancy:', '  namespaces:', '    team-a: { rocketmqTopicPrefixes: [TEAM_A_], consumerGroupPrefixes: [mqbridge_team-a_] }', '    open: {}'].join('\n'),
    'img:1',
  );
  test.each([
    ['team-a', 'TEAM_A_SENSORS', undefined],
    ['team-a', 'TEAM_B_SENSORS', 'not allowed'],
    ['open', 'ANYTHING', undefined],
    ['unlisted', 'ANYTHING', undefined],
  ])('namespace %s, topic %s', (ns, topic, refused) => {
    const refusal = topicRefusal(ns, topic, policy);
    if (refused) expect(refusal).toContain(refused);
    else expect(refusal).toBeUndefined();
  });

  test('consumer groups: the default group passes its own namespace prefix; another is Forbidden', () => {
    expect(admitBridge(bridge(), policy, all, 'mqbridge_team-a_edge')).toEqual({ ok: true });
    expect(admitBridge(bridge({ rocketmq: { endpoints: 'p:1', consumerGroup: 'mqbridge_team-b_x' } }), policy, all, 'mqbridge_team-b_x')).toMatchObject({ ok: false, reason: 'Forbidden' });
  });

  test('restrictUnlisted: a namespace without rules may use nothing', () => {
    const strict = parsePolicy('tenancy: { restrictUnlisted: true }', 'img:1');
    expect(topicRefusal('unlisted', 'T', strict)).toContain('allowed: none');
    expect(admitBridge(bridge({}, 'unlisted'), strict, all, 'g')).toMatchObject({ ok: false, reason: 'Forbidden' });
  });

  test('a bad policy file names its problems', () => {
    expect(() => parsePolicy('tenancy: { namespaces: { a: { rocketmqTopicPrefixes: [] } } }', 'img:1')).toThrow(PolicyError);
    expect(() => parsePolicy('allowedImage: [x]', 'img:1')).toThrow(/allowedImage/);
  });
});
