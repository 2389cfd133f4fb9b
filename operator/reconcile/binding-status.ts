import type { TopicBinding, TopicBindingStatus } from '../api/types.js';
import { setConditions } from '../status/conditions.js';
import type { BindingVerdict } from './resolve-bindings.js';

/** How many ready pods of its bridge serve a bound binding, and the line that says so. */
export interface BindingRollout {
  podsWith: number;
  readyPods: number;
  message: string;
}

/**
 * The TopicBinding status for its verdict and rollout, in kstatus' terms so Flux and Argo CD
 * read it: Bound on every ready pod is Ready; Bound but not yet loaded everywhere is
 * Reconciling (`Propagating`); a binding that cannot work until someone changes something
 * (Conflict, TopicNotFound, BridgeNotFound, Forbidden) is Stalled. Pure.
 */
export function bindingStatus(binding: TopicBinding, verdict: BindingVerdict, rollout: BindingRollout | undefined, now: Date): TopicBindingStatus {
  const generation = binding.metadata.generation;
  const cond = (type: string, status: boolean, reason: string, message: string) => ({
    type,
    status: status ? ('True' as const) : ('False' as const),
    reason,
    message,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
  });
  let inputs;
  if (verdict.state !== 'Bound') {
    inputs = [cond('Ready', false, verdict.state, verdict.message), cond('Reconciling', false, verdict.state, verdict.message), cond('Stalled', true, verdict.state, verdict.message)];
  } else if (rollout && rollout.podsWith < rollout.readyPods) {
    const message = `${verdict.message}; ${rollout.message}`;
    inputs = [cond('Ready', false, 'Propagating', message), cond('Reconciling', true, 'Propagating', message), cond('Stalled', false, 'Propagating', message)];
  } else {
    const message = rollout ? `${verdict.message}; ${rollout.message}` : verdict.message;
    inputs = [cond('Ready', true, 'Bound', message), cond('Reconciling', false, 'Bound', message), cond('Stalled', false, 'Bound', message)];
  }
  return { observedGeneration: generation, conditions: setConditions(binding.status?.conditions, inputs, now) };
}

/**
 * Compares statuses as the API server stores them: key order does not matter (it returns
 * keys sorted), and undefined fields are absent either way.
 */
export function sameStatus(a: unknown, b: unknown): boolean {
  return canonical(a ?? {}) === canonical(b ?? {});
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([x], [y]) => x.localeCompare(y)))
      : v,
  );
}
