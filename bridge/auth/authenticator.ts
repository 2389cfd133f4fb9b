import type { BridgeConfig } from '../config/schema.js';
import { parseClientId } from './client-id.js';
import { parseUsername } from './credentials.js';
import { rightsFor, type Rights } from './resources.js';
import { verifySignature } from './signature.js';
import { claimsForType, tokenRenewal, verifyToken, verifyTokenPassword, type TokenClaims } from './token.js';

export type AuthConfig = BridgeConfig['auth'];

/** CONNACK return codes of MQTT 3.1.1 used for refusals. */
export const CONNACK = { identifierRejected: 2, badCredentials: 4, notAuthorized: 5 } as const;

export type AuthOutcome =
  | { ok: true; session: Session }
  | { ok: false; returnCode: 2 | 4 | 5; reason: string; detail: string };

/** What one authenticated connection may do. Signature sessions may do everything. */
export interface Session {
  mode: 'None' | 'Signature' | 'Token';
  accessKeyId?: string;
  tokens: TokenClaims[];
  rights?: Rights;
  /** Unix seconds when the earliest token expires (Token mode). */
  expiresAt?: number;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);
const refuse = (returnCode: 2 | 4 | 5, reason: string, detail: string): AuthOutcome => ({ ok: false, returnCode, reason, detail });

/**
 * Decides a CONNECT the way the Alibaba Cloud MQTT service does: client id
 * `GID_xxx@@@DeviceID`, username `Signature|AccessKeyId|InstanceId` with password
 * Base64(HMAC-SHA1(secret, clientId)), or `Token|AccessKeyId|InstanceId` with `R|t|W|t`
 * tokens. Never includes a secret or a password in what it returns.
 */
export function authenticate(
  cfg: AuthConfig,
  secretOf: (accessKeyId: string) => string | undefined,
  clientId: string,
  username: string | undefined,
  password: Buffer | undefined,
  now = nowSeconds(),
  isRevoked: (tokenId: string) => boolean = () => false,
): AuthOutcome {
  if (cfg.mode === 'None') return { ok: true, session: { mode: 'None', tokens: [] } };
  const id = parseClientId(clientId);
  if (!id.ok) return refuse(CONNACK.identifierRejected, 'invalid_client_id', `client id must be GID_xxx@@@DeviceID: ${id.reason}`);
  const user = parseUsername(username);
  if (!user.ok) return refuse(CONNACK.badCredentials, user.reason, 'username must be Signature|AccessKeyId|InstanceId or Token|AccessKeyId|InstanceId');
  if (user.instanceId !== cfg.instanceId) return refuse(CONNACK.notAuthorized, 'wrong_instance', `instance ${user.instanceId} is not this bridge's`);
  const allowed = cfg.mode === 'SignatureOrToken' || cfg.mode === user.mode;
  if (!allowed) return refuse(CONNACK.notAuthorized, 'mode_not_allowed', `${user.mode} mode is not enabled (auth.mode is ${cfg.mode})`);
  const secret = secretOf(user.accessKeyId);
  if (secret === undefined) return refuse(CONNACK.badCredentials, 'unknown_access_key', `unknown AccessKeyId ${user.accessKeyId}`);
  const groups = cfg.groupAllowList[user.accessKeyId];
  if (groups && !groups.includes(id.groupId)) return refuse(CONNACK.notAuthorized, 'group_not_allowed', `group ${id.groupId} may not use key ${user.accessKeyId}`);

  if (user.mode === 'Signature') {
    if (!verifySignature(secret, clientId, password)) return refuse(CONNACK.badCredentials, 'bad_signature', 'signature does not match');
    return { ok: true, session: { mode: 'Signature', accessKeyId: user.accessKeyId, tokens: [] } };
  }
  const verified = verifyTokenPassword(password, secretOf, now, { accessKeyId: user.accessKeyId, isRevoked });
  if (!verified.ok) return refuse(CONNACK.badCredentials, `token_${verified.reason}`, verified.detail);
  return { ok: true, session: tokenSession(user.accessKeyId, verified.tokens) };
}

function tokenSession(accessKeyId: string, tokens: TokenClaims[]): Session {
  return { mode: 'Token', accessKeyId, tokens, rights: rightsFor(tokens), expiresAt: Math.min(...tokens.map((t) => t.exp)) };
}

/**
 * A token uploaded to `$SYS/uploadToken` by a connected Token-mode client: replaces the
 * client's token of that type. Returns the new session, or why the upload is refused.
 */
export function renewSession(
  session: Session,
  payload: Buffer,
  secretOf: (accessKeyId: string) => string | undefined,
  now = nowSeconds(),
  isRevoked: (tokenId: string) => boolean = () => false,
): { ok: true; session: Session } | { ok: false; reason: string; detail: string } {
  if (session.mode !== 'Token') return { ok: false, reason: 'not_token_mode', detail: 'only Token-mode sessions upload tokens' };
  const upload = tokenRenewal(payload);
  if (!upload.ok) return { ok: false, reason: upload.reason, detail: 'expected {"token":"...","type":"R|W|RW"}' };
  const { token, type } = upload.entry;
  const verified = verifyToken(token, secretOf, now, { accessKeyId: session.accessKeyId, isRevoked });
  if (!verified.ok) return { ok: false, reason: `token_${verified.reason}`, detail: verified.detail };
  const claims = claimsForType(verified.claims, type);
  if (!claims) return { ok: false, reason: 'token_type_mismatch', detail: `declared ${type}, the token grants ${verified.claims.act.join('')}` };
  // The new token replaces the ones whose actions it covers.
  const kept = session.tokens.filter((t) => !t.act.every((a) => claims.act.includes(a)));
  return { ok: true, session: tokenSession(session.accessKeyId!, [...kept, claims]) };
}
