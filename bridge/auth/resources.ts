/**
 * Token resources: MQTT topic filters (with `+` and `#`) and the rights a set of verified tokens
 * gives. Pure: no I/O.
 */
import type { TokenClaims } from './token.js';

/** A topic name: non-empty, no wildcard, no NUL (MQTT-4.7.3-1, MQTT-4.7.3-2). */
export function isValidTopicName(topic: string): boolean {
  return typeof topic === 'string' && topic.length > 0 && !topic.includes('+') && !topic.includes('#') && !topic.includes('\u0000');
}

/** A topic filter: non-empty, no NUL, `+` a whole level, `#` a whole and last level (MQTT-4.7.1). */
export function isValidTopicFilter(filter: string): boolean {
  if (typeof filter !== 'string' || filter.length === 0 || filter.includes('\u0000')) return false;
  const levels = filter.split('/');
  return levels.every((level, i) => {
    if (level === '#') return i === levels.length - 1;
    if (level === '+') return true;
    return !level.includes('+') && !level.includes('#');
  });
}

/**
 * MQTT matching of a topic name against a filter: `+` matches exactly one level (possibly empty),
 * `#` matches the remaining levels including none (`a/#` matches `a`), and a topic whose first
 * level starts with `$` is not matched by a filter starting with a wildcard (MQTT-4.7.2-1).
 * Invalid filters and topics match nothing.
 */
export function matchesFilter(filter: string, topic: string): boolean {
  if (!isValidTopicFilter(filter) || !isValidTopicName(topic)) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  for (let i = 0; i < f.length; i++) {
    const level = f[i];
    if (level === '#') return true;
    if (i >= t.length) return false;
    if (level !== '+' && level !== t[i]) return false;
  }
  return f.length === t.length;
}

/**
 * Whether every topic that `requested` (a SUBSCRIBE filter) can match is also matched by
 * `granted`: `a/#` covers `a/b/+`, `a/+` covers `a/b` but not `a/#` nor `a/+/c`, `#` covers `+/x`
 * but not `$SYS/x`. Invalid filters cover / are covered by nothing.
 */
export function filterCovers(granted: string, requested: string): boolean {
  if (!isValidTopicFilter(granted) || !isValidTopicFilter(requested)) return false;
  const g = granted.split('/');
  const r = requested.split('/');
  // A `$` topic is only reachable through a literal first level, never through a wildcard.
  if (requested.startsWith('$') && (g[0] === '+' || g[0] === '#')) return false;
  for (let i = 0; i < g.length; i++) {
    const gl = g[i];
    if (gl === '#') return true;
    const rl = r[i];
    // `requested` ended: it matches topics of exactly i levels; `granted` needs at least i + 1.
    if (rl === undefined) return false;
    // `requested` also matches the topic that ends before this level; a `+` or a literal does not.
    if (rl === '#') return false;
    if (gl === '+') continue; // covers a literal or a `+`
    if (rl === '+' || rl !== gl) return false;
  }
  return g.length === r.length;
}

export interface Rights {
  /** Whether some token with W has a resource matching this topic name. */
  canPublish(topic: string): boolean;
  /** Whether some token with R has a resource that alone covers this filter. */
  canSubscribe(filter: string): boolean;
  /** Whether some token with R has a resource matching this topic name (checked for every delivery). */
  canReceive(topic: string): boolean;
}

/** Topics a client receives repeat; the answers of the last ones are kept (per connection). */
const RECEIVE_MEMO_SIZE = 256;

/**
 * What a client holding these verified (unexpired) tokens may do: R grants SUBSCRIBE and W grants
 * PUBLISH, on the resources of the same token. A SUBSCRIBE filter must be covered by a single
 * resource (`a/#` is refused on resources `a` + `a/+` + `a/+/#` even though their union covers it):
 * conservative and cheap. The caller rebuilds the rights when tokens are renewed or expire.
 */
export function rightsFor(tokens: readonly Pick<TokenClaims, 'res' | 'act'>[]): Rights {
  const publish: string[] = [];
  const subscribe: string[] = [];
  for (const claims of tokens) {
    if (claims.act.includes('W')) publish.push(...claims.res);
    if (claims.act.includes('R')) subscribe.push(...claims.res);
  }
  const received = new Map<string, boolean>();
  return {
    canPublish: (topic) => publish.some((res) => matchesFilter(res, topic)),
    canSubscribe: (filter) => subscribe.some((res) => filterCovers(res, filter)),
    canReceive: (topic) => {
      let answer = received.get(topic);
      if (answer === undefined) {
        answer = subscribe.some((res) => matchesFilter(res, topic));
        if (received.size >= RECEIVE_MEMO_SIZE) received.clear();
        received.set(topic, answer);
      }
      return answer;
    },
  };
}

