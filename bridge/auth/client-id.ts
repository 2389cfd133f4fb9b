/**
 * Client ids in the compatible auth modes: `GroupID@@@DeviceID` (mapping contract, "Client ids
 * and P2P"). Pure: no I/O.
 */

export const CLIENT_ID_MAX_LENGTH = 64;
export const CLIENT_ID_SEPARATOR = '@@@';

/** `GID_` or `GID-` followed by 3–60 more chars of `[A-Za-z0-9_-]`: 7–64 chars in all. */
export const GROUP_ID_PATTERN = /^GID[_-][A-Za-z0-9_-]{3,60}$/;

/**
 * DeviceID charset, chosen by the project (the service only says "defined by the client"):
 * one or more chars of `[A-Za-z0-9_.-]`.
 * - No `: , %`: topics and client ids never contain them in the convention.
 * - No `/ + #`: the client id is a topic level in P2P topics (`<parent>/p2p/<clientId>`), so it
 *   must be exactly one level and never a wildcard.
 * - No `@`: the id is split at the first `@@@`; an `@` in the DeviceID would make that ambiguous.
 * - No `$`, whitespace, control chars or non-ASCII: safe in logs, metric labels and as a RocketMQ
 *   message group.
 * Every char of the GroupID and DeviceID sets is left unchanged by `encodeURIComponent`, so in
 * the bridge's internal P2P inbox topic only the `@@@` separator is escaped (`%40%40%40`).
 */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9_.-]+$/;

export type ClientIdFailureReason =
  | 'missing_client_id'
  | 'client_id_too_long'
  | 'missing_separator'
  | 'invalid_group_id'
  | 'invalid_device_id';

export type ClientIdResult =
  | { ok: true; groupId: string; deviceId: string }
  | { ok: false; reason: ClientIdFailureReason; detail: string };

export function parseClientId(clientId: string | undefined | null): ClientIdResult {
  if (typeof clientId !== 'string' || clientId.length === 0) {
    return { ok: false, reason: 'missing_client_id', detail: 'the client id is empty' };
  }
  if (clientId.length > CLIENT_ID_MAX_LENGTH) {
    return { ok: false, reason: 'client_id_too_long', detail: `${clientId.length} chars, at most ${CLIENT_ID_MAX_LENGTH}` };
  }
  const at = clientId.indexOf(CLIENT_ID_SEPARATOR);
  if (at < 0) {
    return { ok: false, reason: 'missing_separator', detail: `expected GroupID${CLIENT_ID_SEPARATOR}DeviceID` };
  }
  const groupId = clientId.slice(0, at);
  const deviceId = clientId.slice(at + CLIENT_ID_SEPARATOR.length);
  if (!GROUP_ID_PATTERN.test(groupId)) {
    return { ok: false, reason: 'invalid_group_id', detail: 'the GroupID must start with GID_ or GID- and be 7-64 chars of A-Z a-z 0-9 _ -' };
  }
  if (!DEVICE_ID_PATTERN.test(deviceId)) {
    return { ok: false, reason: 'invalid_device_id', detail: 'the DeviceID must be one or more chars of A-Z a-z 0-9 _ . -' };
  }
  return { ok: true, groupId, deviceId };
}

export function isValidClientId(clientId: string | undefined | null): boolean {
  return parseClientId(clientId).ok;
}

/**
 * What a token may be bound to (its `cid` claim): one client id, or the client ids of a group
 * whose DeviceID starts with a prefix: `GID_x@@@*` (the whole group), `GID_x@@@line1-*`.
 */
export function isClientIdPattern(pattern: unknown): pattern is string {
  if (typeof pattern !== 'string' || pattern.length === 0 || pattern.length > CLIENT_ID_MAX_LENGTH + 1) return false;
  if (!pattern.endsWith('*')) return isValidClientId(pattern);
  const at = pattern.indexOf(CLIENT_ID_SEPARATOR);
  if (at < 0) return false;
  const group = pattern.slice(0, at);
  const devicePrefix = pattern.slice(at + CLIENT_ID_SEPARATOR.length, -1);
  return GROUP_ID_PATTERN.test(group) && /^[A-Za-z0-9_.-]*$/.test(devicePrefix);
}

/** Whether a client id is one a token bound to `pattern` may use. */
export function clientIdMatches(pattern: string, clientId: string): boolean {
  if (!pattern.endsWith('*')) return pattern === clientId;
  return clientId.startsWith(pattern.slice(0, -1)) && isValidClientId(clientId);
}
