import type { BridgeConfig } from '../config/schema.js';
import { parseClientId } from './client-id.js';
import { parseUsername } from './credentials.js';
import { rightsFor, type Rights } from './resources.js';
import { verifySignature } from './signature.js';
import { bindingOf, claimsForType, tokenRenewal, verifyToken, verifyTokenPassword, type TokenClaims } from './token.js';

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
  /**
   * The credential proved the client id: auth off, a Signature (an HMAC of the client id), or
   * tokens all bound to it. Only then is the client's P2P inbox its own without a right.
   */
  ownsClientId: boolean;
  /** Who vouches for the client id, for the takeover rule: see {@link credentialOf}. */
  credential: string;
}

/**
 * The credential class of a login: `key:<AccessKeyId>` when the key vouched for this client id
 * (a Signature, or tokens bound to it), `unbound:<AccessKeyId>` for tokens bound to no client id
 * (any holder may claim any id with them), `anonymous` with auth off.
 */
export function credentialOf(mode: Session['mode'], accessKeyId: string | undefined, ownsClientId: boolean): string {
  if (mode === 'None') return 'anonymous';
  return `${ownsClientId ? 'key' : 'unbound'}:${accessKeyId}`;
}

/**
 * Whether a login with `next` may take over (kick, resume or wipe) a session `current` holds:
 * the same credential class, or a key's proven login over its own unbound one.
 */
export function mayTakeOver(current: string, next: string): boolean {
  if (current === next) return true;
  const [kind, key] = current.split(':');
  return kind === 'unbound' && next === `key:${key}`;
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
  if (cfg.mode === 'None') return { ok: true, session: { mode: 'None', tokens: [], ownsClientId: true, credential: credentialOf('None', undefined, true) } };
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
    return { ok: true, session: { mode: 'Signature', accessKeyId: user.accessKeyId, tokens: [], ownsClientId: true, credential: credentialOf('Signature', user.accessKeyId, true) } };
  }
  const verified = verifyTokenPassword(password, secretOf, now, { accessKeyId: user.accessKeyId, isRevoked });
  if (!verified.ok) return refuse(CONNACK.badCredentials, `token_${verified.reason}`, verified.detail);
  const binding = bindingProblem(cfg, verified.tokens, clientId);
  if (binding) return refuse(CONNACK.notAuthorized, binding.reason, binding.detail);
  return { ok: true, session: tokenSession(user.accessKeyId, verified.tokens, clientId) };
}

/** A token bound to another client id is refused; so is an unbound one where bound tokens are required. */
function bindingProblem(cfg: AuthConfig, tokens: readonly TokenClaims[], clientId: string): { reason: string; detail: string } | undefined {
  for (const t of tokens) {
    const binding = bindingOf(t, clientId);
    if (binding === 'mismatch') return { reason: 'token_client_id_mismatch', detail: `token ${t.id} is bound to ${t.cid}, not ${clientId}` };
    if (binding === 'unbound' && cfg.requireBoundTokens) return { reason: 'token_not_bound', detail: `token ${t.id} is bound to no client id (auth.requireBoundTokens)` };
  }
  return undefined;
}

function tokenSession(accessKeyId: string, tokens: TokenClaims[], clientId: string): Session {
  const ownsClientId = tokens.every((t) => bindingOf(t, clientId) === 'bound');
  return {
    mode: 'Token',
    accessKeyId,
    tokens,
    rights: rightsFor(tokens),
    expiresAt: Math.min(...tokens.map((t) => t.exp)),
    ownsClientId,
    credential: credentialOf('Token', accessKeyId, ownsClientId),
  };
}

/**
 * A token uploaded to `$SYS/uploadToken` by a connected Token-mode client: replaces the
 * client's token of that type. Returns the new session, or why the upload is refused.
 */
export function renewSession(
  cfg: Pick<AuthConfig, 'requireBoundTokens'>,
  clientId: string,
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
  const binding = bindingProblem(cfg as AuthConfig, [claims], clientId);
  if (binding) return { ok: false, ...binding };
  // The new token replaces the ones whose actions it covers; the connection keeps the credential it logged in with.
  const kept = session.tokens.filter((t) => !t.act.every((a) => claims.act.includes(a)));
  return { ok: true, session: { ...tokenSession(session.accessKeyId!, [...kept, claims], clientId), credential: session.credential } };
}
