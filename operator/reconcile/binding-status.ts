import type { TopicBinding, TopicBindingStatus } from '../api/types.js';
import { setConditions } from '../status/conditions.js';
import type { BindingVerdict } from './resolve-bindings.js';

/** The TopicBinding status for its verdict. Pure. */
export function bindingStatus(binding: TopicBinding, verdict: BindingVerdict, now: Date): TopicBindingStatus {
  const generation = binding.metadata.generation;
  return {
    observedGeneration: generation,
    conditions: setConditions(
      binding.status?.conditions,
      [
        {
          type: 'Ready',
          status: verdict.state === 'Bound' ? 'True' : 'False',
          reason: verdict.state,
          message: verdict.message,
          ...(generation !== undefined ? { observedGeneration: generation } : {}),
        },
      ],
      now,
    ),
  };
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
