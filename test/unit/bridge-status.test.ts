import { API_VERSION, MQTT_BRIDGE_KIND, type MqttBridge } from '../../operator/api/types.js';
import { bridgeStatus, type ApplyOutcome, type ConfiguredPods, type DeploymentState } from '../../operator/reconcile/bridge-status.js';
import { findCondition } from '../../operator/status/conditions.js';

const now = new Date('2026-12-04T10:00:00.000Z');
const earlier = '2026-12-01T08:00:00Z';

function bridge(generation = 3, status?: MqttBridge['status']): MqttBridge {
  return {
    apiVersion: API_VERSION,
    kind: MQTT_BRIDGE_KIND,
    metadata: { name: 'b', namespace: 'iot', generation },
    spec: {} as MqttBridge['spec'],
    ...(status ? { status } : {}),
  };
}

function deployment(desired: number, ready: number, updated = desired, observedGeneration = 2): DeploymentState {
  return { generation: 2, specReplicas: desired, status: { observedGeneration, replicas: desired, readyReplicas: ready, updatedReplicas: updated } };
}

const allConfigured = (n: number): ConfiguredPods => ({ current: n, readyPods: n, detail: '' });
const facts = (configured: ConfiguredPods) => ({ bindings: 4, selector: 'app=b', endpoint: 'b.iot.svc:1883', configured });

/** Ready / Reconciling / Stalled as `status:reason` each. */
function summary(outcome: ApplyOutcome, dep: DeploymentState | undefined, configured: ConfiguredPods): string[] {
  const { conditions } = bridgeStatus(bridge(), outcome, dep, facts(configured), now);
  return ['Ready', 'Reconciling', 'Stalled'].map((t) => {
    const c = findCondition(conditions, t);
    return `${c?.status}:${c?.reason}`;
  });
}

const ok: ApplyOutcome = { ok: true };

test.each<[string, ApplyOutcome, DeploymentState | undefined, ConfiguredPods, string[]]>([
  ['every pod ready and configured', ok, deployment(2, 2), allConfigured(2), ['True:Available', 'False:UpToDate', 'False:Progressing']],
  ['scaled to zero', ok, deployment(0, 0), allConfigured(0), ['False:ScaledToZero', 'False:UpToDate', 'False:Progressing']],
  ['rolled out, one pod not ready', ok, deployment(2, 1), allConfigured(1), ['False:PodsNotReady', 'True:WaitingForPods', 'False:Progressing']],
  ['the Deployment not yet observed', ok, deployment(2, 2, 2, 1), allConfigured(2), ['False:RollingOut', 'True:RollingOut', 'False:Progressing']],
  ['pods not yet updated', ok, deployment(2, 2, 1), allConfigured(2), ['False:RollingOut', 'True:RollingOut', 'False:Progressing']],
  ['ready, one pod still on the old config', ok, deployment(2, 2), { current: 1, readyPods: 2, detail: '' }, ['True:Available', 'True:Propagating', 'False:Progressing']],
  ['a stalled apply with its reason', { ok: false, stalled: true, message: 'denied', reason: 'PolicyDenied' }, deployment(2, 2), allConfigured(2), ['False:PolicyDenied', 'False:Stalled', 'True:PolicyDenied']],
  ['a stalled apply without a reason', { ok: false, stalled: true, message: 'bad' }, deployment(2, 2), allConfigured(2), ['False:InvalidSpec', 'False:Stalled', 'True:InvalidSpec']],
  ['a failed apply that will be retried', { ok: false, stalled: false, message: 'timeout' }, deployment(2, 2), allConfigured(2), ['False:ApplyFailed', 'True:Retrying', 'False:Progressing']],
])('%s', (_name, outcome, dep, configured, expected) => {
  expect(summary(outcome, dep, configured)).toEqual(expected);
});

test('the Propagating message counts the pods and carries what holds the others back', () => {
  const { conditions } = bridgeStatus(bridge(), ok, deployment(3, 3), facts({ current: 1, readyPods: 3, detail: 'b-2 reports config abc' }), now);
  expect(findCondition(conditions, 'Reconciling')?.message).toBe('1 of 3 ready bridge pods run the current configuration; b-2 reports config abc');
});

test('counts, selector, endpoint and observedGeneration come from the inputs', () => {
  const status = bridgeStatus(bridge(7), ok, deployment(3, 2), facts({ current: 1, readyPods: 2, detail: '' }), now);
  expect(status).toMatchObject({ observedGeneration: 7, replicas: 3, readyReplicas: 2, configuredReplicas: 1, selector: 'app=b', bindings: 4, endpoint: 'b.iot.svc:1883' });
  expect((status.conditions ?? []).every((c) => c.observedGeneration === 7)).toBe(true);
});

test('a condition keeps its lastTransitionTime while its status holds, and takes the new time when it flips', () => {
  const before = bridgeStatus(bridge(), ok, deployment(2, 2), facts(allConfigured(2)), new Date(earlier));
  const held = bridgeStatus(bridge(3, before), ok, deployment(2, 2), facts({ current: 1, readyPods: 2, detail: '' }), now);
  expect(findCondition(held.conditions, 'Ready')?.lastTransitionTime).toBe(earlier);
  expect(findCondition(held.conditions, 'Reconciling')?.lastTransitionTime).toBe('2026-12-04T10:00:00Z');
});
