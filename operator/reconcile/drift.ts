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

/**
 * Leaf paths of a managedFields `fieldsV1` tree, with list elements (`k:`, `v:`, `i:`)
 * written as `[]`: `spec.template.spec.containers[].image`.
 */
export function managedPaths(fields: Record<string, unknown>, prefix = ''): Set<string> {
  const paths = new Set<string>();
  for (const [key, sub] of Object.entries(fields)) {
    if (key === '.') continue;
    const step = key.startsWith('f:') ? `${prefix ? `${prefix}.` : ''}${key.slice(2)}` : `${prefix}[]`;
    const children = Object.keys((sub ?? {}) as object).filter((k) => k !== '.');
    if (children.length === 0) paths.add(step);
    else for (const p of managedPaths(sub as Record<string, unknown>, step)) paths.add(p);
  }
  return paths;
}

/** Leaf paths of an object in the same notation; a list of scalars is one leaf. */
export function objectPaths(value: unknown, prefix = ''): Set<string> {
  const paths = new Set<string>();
  const walk = (v: unknown, at: string) => {
    if (Array.isArray(v)) {
      if (v.every((e) => e === null || typeof e !== 'object')) return void paths.add(at);
      for (const e of v) walk(e, `${at}[]`);
    } else if (v && typeof v === 'object' && Object.keys(v).length > 0) {
      for (const [k, sub] of Object.entries(v)) walk(sub, at ? `${at}.${k}` : k);
    } else {
      paths.add(at);
    }
  };
  walk(value, prefix);
  return paths;
}

/**
 * Whether the operator's field manager owns a field the desired object no longer sets.
 * Server-side apply drops such a field (or hands it to its other managers, as it does
 * spec.replicas to an HPA) only when an apply without it is sent, so this forces one.
 */
export function ownsFieldsNoLongerDesired(live: { metadata?: { managedFields?: unknown } }, desired: unknown, manager: string): boolean {
  const entries = (live.metadata?.managedFields ?? []) as { manager?: string; operation?: string; subresource?: string; fieldsV1?: Record<string, unknown> }[];
  const mine = entries.find((e) => e.manager === manager && e.operation === 'Apply' && !e.subresource);
  if (!mine?.fieldsV1) return false;
  // An owned path may stop above the desired leaves: atomic maps and list elements are
  // owned whole (`spec.selector`, `metadata.ownerReferences[]`).
  const wanted = new Set<string>();
  for (const path of objectPaths(desired)) {
    for (let i = 0; i <= path.length; i++) if (i === path.length || path[i] === '.' || path[i] === '[') wanted.add(path.slice(0, i));
  }
  return [...managedPaths(mine.fieldsV1)].some((p) => !wanted.has(p));
}
