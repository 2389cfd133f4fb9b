/**
 * Whether every field the operator sets is already so in the live object. The API server
 * adds defaults and other managers add fields, so "live contains desired" is the test, not
 * equality. Lists must match in length (the operator owns its lists whole) and element-wise.
 * This is what keeps an idle resync from writing anything.
 */
export function containsDesired(live: unknown, desired: unknown): boolean {
  if (desired === undefined) return true;
  if (desired === null || typeof desired !== 'object') return equalScalars(live, desired);
  if (Array.isArray(desired)) {
    return Array.isArray(live) && live.length === desired.length && desired.every((d, i) => containsDesired(live[i], d));
  }
  if (live === null || typeof live !== 'object' || Array.isArray(live)) return false;
  const l = live as Record<string, unknown>;
  return Object.entries(desired as Record<string, unknown>).every(([k, v]) => containsDesired(l[k], v));
}

function equalScalars(live: unknown, desired: unknown): boolean {
  if (live === desired) return true;
  // Quantities and int-or-string values may come back in the other form ("1" vs 1).
  return (typeof live === 'number' || typeof live === 'string') && (typeof desired === 'number' || typeof desired === 'string') && String(live) === String(desired);
}

/**
 * The parts of an object the operator compares: the metadata it sets and the body. Not
 * apiVersion and kind: list responses leave them out of their items.
 */
export function comparable(obj: { metadata?: Record<string, unknown> } & Record<string, unknown>) {
  const { metadata = {}, apiVersion: _apiVersion, kind: _kind, ...rest } = obj;
  const { labels, annotations, ownerReferences } = metadata as Record<string, unknown>;
  return { metadata: { labels, annotations, ownerReferences }, ...rest };
}
