/**
 * The MQTT username of the compatible auth modes (mapping contract, "Authentication modes"):
 * `Signature|<AccessKeyId>|<InstanceId>` or `Token|<AccessKeyId>|<InstanceId>`. Pure: no I/O.
 */

export const AUTH_MODES = ['Signature', 'Token'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

/** Modes of the service that the bridge knows of but does not offer. */
export const UNSUPPORTED_AUTH_MODES = ['DeviceCredential'] as const;

export const CREDENTIAL_PART_MAX_LENGTH = 128;
/**
 * AccessKeyIds and InstanceIds: 1–128 chars of `[A-Za-z0-9_.-]` (the service's look like
 * `LTAI5tXXXX` and `mqtt-cn-0pp1ldu0000`). Never `|`, whitespace or non-ASCII, so they are
 * safe to log and to use as map keys.
 */
export const ACCESS_KEY_ID_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;
export const INSTANCE_ID_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;

const USERNAME_MAX_LENGTH = 'Signature'.length + 2 * (CREDENTIAL_PART_MAX_LENGTH + 1);

export type UsernameFailureReason =
  | 'missing_username'
  | 'malformed_username'
  | 'unknown_mode'
  | 'unsupported_mode'
  | 'invalid_access_key_id'
  | 'invalid_instance_id';

export interface ParsedUsername {
  mode: AuthMode;
  accessKeyId: string;
  instanceId: string;
}

export type UsernameResult =
  | ({ ok: true } & ParsedUsername)
  | { ok: false; reason: UsernameFailureReason; detail: string };

function fail(reason: UsernameFailureReason, detail: string): UsernameResult {
  return { ok: false, reason, detail };
}

export function isAccessKeyId(value: unknown): value is string {
  return typeof value === 'string' && ACCESS_KEY_ID_PATTERN.test(value);
}

/** The mode name is case-sensitive, as in the service (`signature|…` is an unknown mode). */
export function parseUsername(username: string | undefined | null): UsernameResult {
  if (typeof username !== 'string' || username.length === 0) {
    return fail('missing_username', 'the compatible auth modes need a username');
  }
  if (username.length > USERNAME_MAX_LENGTH) {
    return fail('malformed_username', `${username.length} chars, at most ${USERNAME_MAX_LENGTH}`);
  }
  const parts = username.split('|');
  if (parts.length !== 3) {
    return fail('malformed_username', `expected 3 |-separated parts, got ${parts.length}`);
  }
  const [mode = '', accessKeyId = '', instanceId = ''] = parts;
  if (mode === '' || accessKeyId === '' || instanceId === '') {
    return fail('malformed_username', 'empty part');
  }
  if ((UNSUPPORTED_AUTH_MODES as readonly string[]).includes(mode)) {
    return fail('unsupported_mode', `${mode} mode is not offered`);
  }
  if (!(AUTH_MODES as readonly string[]).includes(mode)) {
    return fail('unknown_mode', `expected one of ${AUTH_MODES.join(', ')}`);
  }
  if (!ACCESS_KEY_ID_PATTERN.test(accessKeyId)) {
    return fail('invalid_access_key_id', 'must be 1-128 chars of A-Z a-z 0-9 _ . -');
  }
  if (!INSTANCE_ID_PATTERN.test(instanceId)) {
    return fail('invalid_instance_id', 'must be 1-128 chars of A-Z a-z 0-9 _ . -');
  }
  return { ok: true, mode: mode as AuthMode, accessKeyId, instanceId };
}
