import type { Condition } from '../api/types.js';

export type ConditionInput = Omit<Condition, 'lastTransitionTime'>;

/**
 * Sets conditions the way Kubernetes API conventions ask: lastTransitionTime changes only
 * when a condition's status flips; reason, message and observedGeneration follow the input.
 * Returns a new list in a stable order.
 */
export function setConditions(current: readonly Condition[] | undefined, inputs: readonly ConditionInput[], now: Date): Condition[] {
  const byType = new Map((current ?? []).map((c) => [c.type, c]));
  for (const input of inputs) {
    const old = byType.get(input.type);
    const lastTransitionTime = old && old.status === input.status ? old.lastTransitionTime : now.toISOString().replace(/\.\d{3}Z$/, 'Z');
    byType.set(input.type, { ...input, lastTransitionTime });
  }
  return [...byType.values()].sort((a, b) => a.type.localeCompare(b.type));
}

export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}
