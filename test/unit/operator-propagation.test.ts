import type { KubernetesObject } from '@kubernetes/client-node';
import { bindingKey, parseConfigReport, type ConfigReport } from '../../bridge/config/report.js';
import type { MqttBridge, TopicBinding } from '../../operator/api/types.js';
import { readyPodsOf } from '../../operator/pods/config-reports.js';
import { bindingStatus } from '../../operator/reconcile/binding-status.js';
import { bridgeStatus } from '../../operator/reconcile/bridge-status.js';
import { propagationPollMs } from '../../operator/reconcile/bridge-reconciler.js';
import { propagation, propagationMessage, type PodConfig } from '../../operator/reconcile/propagation.js';
import type { BindingVerdict } from '../../operator/reconcile/resolve-bindings.js';

const NOW = new Date('2026-12-01T10:00:00Z');
const A = { mqttParentTopic: 'a', rocketmqTopic: 'TA', direction: 'Bidirectional', defaultQos: 1 };
const B = { mqttParentTopic: 'b', rocketmqTopic: 'TB', direction: 'MqttToRocketmq', defaultQos: 0 };

const report = (hash: string, bindings = [A], more: Partial<ConfigReport> = {}): ConfigReport => ({ hash, bindings, restartPending: [], ...more });
const pod = (name: string, r: ConfigReport): PodConfig => ({ pod: name, report: r });

describe('propagation', () => {
  test.each<[string, PodConfig[], { current: number; stale: string[]; withA: number; withB: number }]>([
    ['no ready pods', [], { current: 0, stale: [], withA: 0, withB: 0 }],
    ['every pod on the current file', [pod('p1', report('new', [A, B])), pod('p2', report('new', [A, B]))], { current: 2, stale: [], withA: 2, withB: 2 }],
    ['one pod still on the old file, which had A only', [pod('p1', report('new', [A, B])), pod('p2', report('old', [A]))], { current: 1, stale: ['p2'], withA: 2, withB: 1 }],
    ['the current file with a restart pending is not current', [pod('p1', report('new', [A], { restartPending: ['mqtt'] }))], { current: 0, stale: [], withA: 1, withB: 0 }],
    ['a pod that did not answer has nothing', [pod('p1', report('new', [A])), { pod: 'p2', error: 'HTTP 404' }], { current: 1, stale: [], withA: 1, withB: 0 }],
  ])('%s', (_name, pods, want) => {
    const p = propagation('new', pods);
    expect({ current: p.current, stale: p.stale, withA: p.podsWith(A), withB: p.podsWith(B) }).toEqual(want);
    expect(p.readyPods).toBe(pods.length);
  });

  test('a binding counts only with every field as rendered', () => {
    const p = propagation('new', [pod('p1', report('new', [{ ...A, defaultQos: 0 }]))]);
    expect(p.podsWith(A)).toBe(0);
    expect(p.podsWith({ ...A, defaultQos: 0 })).toBe(1);
  });

  test('the message names pods that did not answer and pods that refused the current file', () => {
    const p = propagation('new', [
      pod('p1', report('old', [], { rejected: { hash: 'new', problems: ['bindings.0: bad'] } })),
      { pod: 'p2', error: 'no answer in 1000 ms' },
      pod('p3', report('new')),
    ]);
    expect(propagationMessage(1, p)).toBe('in force on 1 of 3 ready bridge pods; no config report from p2 (no answer in 1000 ms); the current config is refused by p1: bindings.0: bad');
    expect(propagationMessage(1, propagation('new', [pod('p3', report('new'))]))).toBe('in force on 1 of 1 ready bridge pod');
  });

  test('an old refusal is not news once the current file differs', () => {
    const p = propagation('newer', [pod('p1', report('new', [A], { rejected: { hash: 'new-but-broken', problems: ['x'] } }))]);
    expect(p.detail).toBe('');
  });
});

describe('readyPodsOf', () => {
  const slice = (endpoints: unknown[]) => ({ endpoints }) as KubernetesObject;
  test('ready pods by name, once each, from every slice; unready, addressless and non-pod endpoints left out', () => {
    const pods = readyPodsOf([
      slice([
        { addresses: ['10.0.0.2'], conditions: { ready: true }, targetRef: { kind: 'Pod', name: 'b' } },
        { addresses: ['10.0.0.3'], conditions: { ready: false }, targetRef: { kind: 'Pod', name: 'c' } },
        { addresses: [], conditions: { ready: true }, targetRef: { kind: 'Pod', name: 'd' } },
      ]),
      slice([
        { addresses: ['10.0.0.1'], targetRef: { kind: 'Pod', name: 'a' } },
        { addresses: ['10.0.0.2'], conditions: { ready: true }, targetRef: { kind: 'Pod', name: 'b' } },
        { addresses: ['10.0.0.9'], conditions: { ready: true }, targetRef: { kind: 'Node', name: 'n' } },
      ]),
      slice(undefined as unknown as unknown[]),
    ]);
    expect(pods).toEqual([
      { name: 'a', ip: '10.0.0.1' },
      { name: 'b', ip: '10.0.0.2' },
    ]);
  });
});

describe('TopicBinding status in kstatus terms', () => {
  const binding = { apiVersion: 'mqbridge.dev/v1alpha1', kind: 'TopicBinding', metadata: { name: 'b', namespace: 'ns', generation: 3 }, spec: { bridge: 'br', mqttParentTopic: 'a', rocketmqTopic: 'TA' } } as TopicBinding;
  const conditions = (verdict: BindingVerdict, rollout?: { podsWith: number; readyPods: number; message: string }) =>
    Object.fromEntries(bindingStatus(binding, verdict, rollout, NOW).conditions!.map((c) => [c.type, `${c.status} ${c.reason}`]));

  test.each<[string, BindingVerdict, { podsWith: number; readyPods: number } | undefined, Record<string, string>]>([
    ['bound on every ready pod', { state: 'Bound', message: 'bound' }, { podsWith: 2, readyPods: 2 }, { Ready: 'True Bound', Reconciling: 'False Bound', Stalled: 'False Bound' }],
    ['bound, no ready pod to wait for', { state: 'Bound', message: 'bound' }, { podsWith: 0, readyPods: 0 }, { Ready: 'True Bound', Reconciling: 'False Bound', Stalled: 'False Bound' }],
    ['bound, one ready pod still without it', { state: 'Bound', message: 'bound' }, { podsWith: 1, readyPods: 2 }, { Ready: 'False Propagating', Reconciling: 'True Propagating', Stalled: 'False Propagating' }],
    ['a conflict', { state: 'Conflict', message: 'taken' }, undefined, { Ready: 'False Conflict', Reconciling: 'False Conflict', Stalled: 'True Conflict' }],
    ['a missing topic', { state: 'TopicNotFound', message: 'no topic' }, { podsWith: 0, readyPods: 2 }, { Ready: 'False TopicNotFound', Reconciling: 'False TopicNotFound', Stalled: 'True TopicNotFound' }],
    ['no bridge', { state: 'BridgeNotFound', message: 'no bridge' }, undefined, { Ready: 'False BridgeNotFound', Reconciling: 'False BridgeNotFound', Stalled: 'True BridgeNotFound' }],
    ['a forbidden topic', { state: 'Forbidden', message: 'policy' }, undefined, { Ready: 'False Forbidden', Reconciling: 'False Forbidden', Stalled: 'True Forbidden' }],
  ])('%s', (_name, verdict, rollout, want) => {
    expect(conditions(verdict, rollout && { ...rollout, message: `in force on ${rollout.podsWith} of ${rollout.readyPods}` })).toEqual(want);
  });

  test('the message says how many ready pods have it; observedGeneration is the binding generation', () => {
    const status = bindingStatus(binding, { state: 'Bound', message: 'bound to bridge br' }, { podsWith: 1, readyPods: 2, message: 'in force on 1 of 2 ready bridge pods' }, NOW);
    expect(status.observedGeneration).toBe(3);
    expect(status.conditions!.find((c) => c.type === 'Ready')).toMatchObject({ message: 'bound to bridge br; in force on 1 of 2 ready bridge pods', observedGeneration: 3 });
  });
});

describe('MqttBridge status while a config propagates', () => {
  const bridge = { apiVersion: 'mqbridge.dev/v1alpha1', kind: 'MqttBridge', metadata: { name: 'br', namespace: 'ns', generation: 1 }, spec: {} } as unknown as MqttBridge;
  const deployment = { generation: 1, specReplicas: 2, status: { observedGeneration: 1, replicas: 2, readyReplicas: 2, updatedReplicas: 2 } };
  const status = (current: number) =>
    bridgeStatus(bridge, { ok: true }, deployment, { bindings: 1, selector: 's', endpoint: 'e', configured: { current, readyPods: 2, detail: '' } }, NOW);

  test('ready and reconciling until every ready pod runs the current configuration', () => {
    const propagating = status(1);
    expect(propagating.configuredReplicas).toBe(1);
    expect(propagating.conditions!.map((c) => `${c.type} ${c.status} ${c.reason}`)).toEqual(['Ready True Available', 'Reconciling True Propagating', 'Stalled False Progressing']);
    expect(propagating.conditions!.find((c) => c.type === 'Reconciling')!.message).toBe('1 of 2 ready bridge pods run the current configuration');
    expect(status(2).conditions!.find((c) => c.type === 'Reconciling')).toMatchObject({ status: 'False', reason: 'UpToDate' });
  });
});

describe('config reports', () => {
  test('bindings compare by the fields that decide what they do', () => {
    expect(bindingKey({ ...A, extra: 'x' } as typeof A)).toBe(bindingKey(A));
    expect(bindingKey({ ...A, direction: 'RocketmqToMqtt' })).not.toBe(bindingKey(A));
  });

  test.each([
    ['a report', report('h', [A]), true],
    ['a report of a refused file', report('h', [], { rejected: { hash: 'x', problems: ['p'] } }), true],
    ['no hash', { bindings: [], restartPending: [] }, false],
    ['a page', '<html>', false],
    ['nothing', null, false],
  ])('%s', (_name, body, ok) => {
    expect(parseConfigReport(body) !== undefined).toBe(ok);
  });

  test('the poll is quick at first, then calm', () => {
    expect([0, 29_999, 30_000, 600_000].map(propagationPollMs)).toEqual([500, 500, 5_000, 5_000]);
  });
});
