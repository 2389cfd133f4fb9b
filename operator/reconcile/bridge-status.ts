import type { MqttBridge, MqttBridgeStatus } from '../api/types.js';
import { setConditions, type ConditionInput } from '../status/conditions.js';

export interface DeploymentState {
  generation?: number;
  specReplicas?: number;
  status?: { observedGeneration?: number; replicas?: number; readyReplicas?: number; updatedReplicas?: number };
}

/** How many ready pods run the current config, and what holds the others back. */
export interface ConfiguredPods {
  current: number;
  readyPods: number;
  detail: string;
}

/** A stalled outcome may name its reason (a policy refusal, a Conflict); else InvalidSpec or ApplyFailed. */
export type ApplyOutcome = { ok: true } | { ok: false; stalled: boolean; message: string; reason?: string };

/** The MqttBridge status for what the reconcile did and what the Deployment reports. Pure. */
export function bridgeStatus(
  bridge: MqttBridge,
  outcome: ApplyOutcome,
  deployment: DeploymentState | undefined,
  facts: { bindings: number; selector: string; endpoint: string; configured: ConfiguredPods },
  now: Date,
): MqttBridgeStatus {
  const generation = bridge.metadata.generation;
  const cond = (type: string, status: ConditionInput['status'], reason: string, message: string): ConditionInput => ({
    type,
    status,
    reason,
    message,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
  });
  const inputs: ConditionInput[] = [];
  if (!outcome.ok) {
    const reason = outcome.reason ?? (outcome.stalled ? 'InvalidSpec' : 'ApplyFailed');
    inputs.push(cond('Ready', 'False', reason, outcome.message));
    inputs.push(cond('Reconciling', outcome.stalled ? 'False' : 'True', outcome.stalled ? 'Stalled' : 'Retrying', outcome.message));
    inputs.push(cond('Stalled', outcome.stalled ? 'True' : 'False', outcome.stalled ? reason : 'Progressing', outcome.message));
  } else {
    const desired = deployment?.specReplicas ?? 0;
    const s = deployment?.status ?? {};
    const ready = s.readyReplicas ?? 0;
    const rolledOut = (s.observedGeneration ?? 0) >= (deployment?.generation ?? 1) && (s.updatedReplicas ?? 0) >= desired;
    if (desired === 0) {
      inputs.push(cond('Ready', 'False', 'ScaledToZero', 'the bridge has zero replicas'));
      inputs.push(cond('Reconciling', 'False', 'UpToDate', 'all objects are applied'));
    } else if (!rolledOut || ready < desired) {
      inputs.push(cond('Ready', 'False', rolledOut ? 'PodsNotReady' : 'RollingOut', `${ready}/${desired} bridge pods ready`));
      inputs.push(cond('Reconciling', 'True', rolledOut ? 'WaitingForPods' : 'RollingOut', `${ready}/${desired} bridge pods ready`));
    } else if (facts.configured.current < facts.configured.readyPods) {
      const { current, readyPods, detail } = facts.configured;
      const message = `${current} of ${readyPods} ready bridge pods run the current configuration${detail ? `; ${detail}` : ''}`;
      inputs.push(cond('Ready', 'True', 'Available', `${ready}/${desired} bridge pods ready`));
      inputs.push(cond('Reconciling', 'True', 'Propagating', message));
    } else {
      inputs.push(cond('Ready', 'True', 'Available', `${ready}/${desired} bridge pods ready`));
      inputs.push(cond('Reconciling', 'False', 'UpToDate', 'all objects are applied and rolled out'));
    }
    inputs.push(cond('Stalled', 'False', 'Progressing', 'no error'));
  }
  return {
    observedGeneration: generation,
    conditions: setConditions(bridge.status?.conditions, inputs, now),
    replicas: deployment?.status?.replicas ?? 0,
    readyReplicas: deployment?.status?.readyReplicas ?? 0,
    configuredReplicas: facts.configured.current,
    selector: facts.selector,
    bindings: facts.bindings,
    endpoint: facts.endpoint,
  };
}
