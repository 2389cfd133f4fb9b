/**
 * Token mode (mapping contract, "Authentication modes"): self-contained signed tokens, so that
 * any bridge pod can verify them without shared state. Pure apart from the random token id.
 *
 * Format: `<payload>.<signature>`
 * - payload   = base64url(JSON of { v: 1, id, ak, res, act, iat, exp } and, when bound, cid), no padding
 * - signature = base64url(HMAC-SHA256(key = signingKey, data = the payload text)), no padding
 * - signingKey = HMAC-SHA256(key = AccessKeySecret of `ak`, data = "mqbridge-token-v1")
 * `id` is 16 random bytes in lowercase hex (for revocation), `ak` the issuing AccessKeyId,
 * `res` 1–100 MQTT topic filters, `act` a non-empty subset of R (subscribe) and W (publish) in
 * that order, `iat`/`exp` unix seconds, `cid` (optional) the client ids the token may be used
 * with: one client id or `GID_x@@@<prefix>*`. A token without `cid` (as the Alibaba service
 * issues them) is unbound: it grants its resources to whoever presents it, under any client id.
 * Rotating an AccessKeySecret invalidates its tokens.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { clientIdMatches, isClientIdPattern } from './client-id.js';
import { isAccessKeyId } from './credentials.js';
import { isValidTopicFilter } from './resources.js';

export const TOKEN_VERSION = 1;
export const TOKEN_KEY_LABEL = 'mqbridge-token-v1';
export const TOKEN_MIN_TTL_SECONDS = 60;
export const TOKEN_MAX_TTL_SECONDS = 30 * 24 * 3600;
export const TOKEN_MAX_RESOURCES = 100;
export const TOKEN_RESOURCE_MAX_LENGTH = 256;
/**
 * Two tokens and their types (`R|<t1>|W|<t2>`) must fit in an MQTT password (65535 bytes).
 * 100 resources of 256 chars do not fit: {@link issueToken} refuses such a token (`token_too_long`).
 */
export const TOKEN_MAX_LENGTH = 32_760;
/** How far a token's `iat` may lie in the future (clocks of the pods differ), by default. */
export const DEFAULT_CLOCK_SKEW_SECONDS = 60;
/** Where a connected client publishes a renewed token. */
export const TOKEN_RENEWAL_TOPIC = '$SYS/uploadToken';

export type TokenAction = 'R' | 'W';
export type TokenType = 'R' | 'W' | 'RW';
export const TOKEN_TYPES: readonly TokenType[] = ['R', 'W', 'RW'];

export interface TokenClaims {
  v: 1;
  id: string;
  ak: string;
  res: string[];
  act: TokenAction[];
  iat: number;
  exp: number;
  /** The client id (or `GID_x@@@<prefix>*`) the token is bound to; absent: unbound. */
  cid?: string;
}

const ID_PATTERN = /^[0-9a-f]{32}$/;
const TOKEN_PATTERN = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** Unix seconds up to the year 5138: a millisecond timestamp passed by mistake is refused. */
const MAX_UNIX_SECONDS = 1e11;

function isUnixSeconds(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 && n < MAX_UNIX_SECONDS;
}

function assertNow(now: number): void {
  if (!isUnixSeconds(now)) throw new RangeError(`now must be whole unix seconds, got ${now}`);
}

export function actionsOf(type: TokenType): TokenAction[] {
  return type === 'RW' ? ['R', 'W'] : [type];
}

function normalizeActions(actions: readonly unknown[]): TokenAction[] | undefined {
  if (actions.length === 0 || actions.some((a) => a !== 'R' && a !== 'W')) return undefined;
  return (['R', 'W'] as const).filter((a) => actions.includes(a));
}

function isResource(res: unknown): res is string {
  return typeof res === 'string' && res.length <= TOKEN_RESOURCE_MAX_LENGTH && !res.startsWith('$') && isValidTopicFilter(res);
}

function signingKey(secret: string): Buffer {
  return createHmac('sha256', secret).update(TOKEN_KEY_LABEL, 'utf8').digest();
}

function sign(secret: string, encodedPayload: string): Buffer {
  return createHmac('sha256', signingKey(secret)).update(encodedPayload, 'utf8').digest();
}

// ---------------------------------------------------------------------------------------------
// Issuing

export type TokenIssueErrorCode =
  | 'invalid_access_key_id'
  | 'invalid_secret'
  | 'invalid_resources'
  | 'invalid_actions'
  | 'invalid_ttl'
  | 'invalid_now'
  | 'invalid_id'
  | 'invalid_client_id'
  | 'token_too_long';

export class TokenIssueError extends Error {
  override readonly name = 'TokenIssueError';
  constructor(
    readonly code: TokenIssueErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface IssueTokenInput {
  accessKeyId: string;
  secret: string;
  /** 1–100 MQTT topic filters, each at most 256 chars and not starting with `$`. */
  resources: readonly string[];
  /** Non-empty subset of R and W; order and duplicates do not matter. */
  actions: readonly TokenAction[];
  /** 60 s … 30 days. */
  ttlSeconds: number;
  /** Whole unix seconds. */
  now: number;
  /** 32 lowercase hex chars; random when absent. */
  id?: string;
  /** Binds the token to one client id, or to `GID_x@@@<prefix>*`; unbound when absent. */
  clientId?: string;
}

export interface IssuedToken {
  token: string;
  claims: TokenClaims;
}

/** Issues a token; throws a {@link TokenIssueError} (with a `code`) for invalid input. */
export function issueToken(input: IssueTokenInput): IssuedToken {
  const { accessKeyId, secret, resources, actions, ttlSeconds, now } = input;
  if (!isAccessKeyId(accessKeyId)) throw new TokenIssueError('invalid_access_key_id', 'the AccessKeyId must be 1-128 chars of A-Z a-z 0-9 _ . -');
  if (typeof secret !== 'string' || secret.length === 0) throw new TokenIssueError('invalid_secret', 'the AccessKeySecret must not be empty');
  if (!Array.isArray(resources) || resources.length === 0 || resources.length > TOKEN_MAX_RESOURCES) {
    throw new TokenIssueError('invalid_resources', `between 1 and ${TOKEN_MAX_RESOURCES} resources`);
  }
  const badResource = resources.find((r) => !isResource(r));
  if (badResource !== undefined) {
    throw new TokenIssueError('invalid_resources', `not a valid topic filter of at most ${TOKEN_RESOURCE_MAX_LENGTH} chars without a leading $: ${JSON.stringify(badResource).slice(0, 80)}`);
  }
  const act = Array.isArray(actions) ? normalizeActions(actions) : undefined;
  if (!act) throw new TokenIssueError('invalid_actions', 'actions must be a non-empty subset of R, W');
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < TOKEN_MIN_TTL_SECONDS || ttlSeconds > TOKEN_MAX_TTL_SECONDS) {
    throw new TokenIssueError('invalid_ttl', `ttlSeconds must be a whole number from ${TOKEN_MIN_TTL_SECONDS} to ${TOKEN_MAX_TTL_SECONDS}`);
  }
  if (!isUnixSeconds(now) || !isUnixSeconds(now + ttlSeconds)) throw new TokenIssueError('invalid_now', 'now must be whole unix seconds');
  const id = input.id ?? randomBytes(16).toString('hex');
  if (!ID_PATTERN.test(id)) throw new TokenIssueError('invalid_id', 'the id must be 32 lowercase hex chars');
  if (input.clientId !== undefined && !isClientIdPattern(input.clientId)) {
    throw new TokenIssueError('invalid_client_id', 'clientId must be a client id GID_xxx@@@DeviceID, or GID_xxx@@@<DeviceID prefix>*');
  }

  const claims: TokenClaims = {
    v: TOKEN_VERSION,
    id,
    ak: accessKeyId,
    res: [...resources],
    act,
    iat: now,
    exp: now + ttlSeconds,
    ...(input.clientId !== undefined ? { cid: input.clientId } : {}),
  };
  const payload = Buffer.from(JSON.stringify(claims), 'utf8').toString('base64url');
  const token = `${payload}.${sign(secret, payload).toString('base64url')}`;
  if (token.length > TOKEN_MAX_LENGTH) throw new TokenIssueError('token_too_long', `the token has ${token.length} chars, at most ${TOKEN_MAX_LENGTH}`);
  return { token, claims };
}

// ---------------------------------------------------------------------------------------------
// Verifying

export type TokenFailureReason =
  | 'malformed'
  | 'unsupported_version'
  | 'unknown_key'
  | 'bad_signature'
  | 'invalid_claims'
  | 'access_key_mismatch'
  | 'not_yet_valid'
  | 'expired'
  | 'revoked';

export type TokenVerifyResult = { ok: true; claims: TokenClaims } | { ok: false; reason: TokenFailureReason; detail: string };

export interface VerifyTokenOptions {
  /** The AccessKeyId of the username: the token must have been issued with it. */
  accessKeyId?: string;
  /** Whether a token id was revoked (RevokeToken). */
  isRevoked?: (id: string) => boolean;
  /** How far `iat` may lie after `now`; default {@link DEFAULT_CLOCK_SKEW_SECONDS}. Expiry has no grace. */
  clockSkewSeconds?: number;
}

function failure(reason: TokenFailureReason, detail: string): TokenVerifyResult {
  return { ok: false, reason, detail };
}

const CLAIM_KEYS = ['v', 'id', 'ak', 'res', 'act', 'iat', 'exp'];
const OPTIONAL_CLAIM_KEYS = ['cid'];

function claimsProblem(c: Record<string, unknown>): string | undefined {
  const keys = Object.keys(c);
  const known = (k: string) => CLAIM_KEYS.includes(k) || OPTIONAL_CLAIM_KEYS.includes(k);
  if (!CLAIM_KEYS.every((k) => keys.includes(k)) || !keys.every(known)) return `claims must be ${CLAIM_KEYS.join(', ')} and optionally ${OPTIONAL_CLAIM_KEYS.join(', ')}`;
  if ('cid' in c && !isClientIdPattern(c.cid)) return 'bad cid';
  if (typeof c.id !== 'string' || !ID_PATTERN.test(c.id)) return 'bad id';
  if (!Array.isArray(c.res) || c.res.length === 0 || c.res.length > TOKEN_MAX_RESOURCES || !c.res.every(isResource)) return 'bad res';
  const given = c.act;
  if (!Array.isArray(given)) return 'bad act';
  const act = normalizeActions(given);
  // Exactly as issued: R before W, no duplicates.
  if (!act || act.length !== given.length || act.some((a, i) => a !== given[i])) return 'bad act';
  if (!isUnixSeconds(c.iat) || !isUnixSeconds(c.exp)) return 'bad iat/exp';
  const ttl = c.exp - c.iat;
  if (ttl < TOKEN_MIN_TTL_SECONDS || ttl > TOKEN_MAX_TTL_SECONDS) return 'bad lifetime';
  return undefined;
}

/**
 * Verifies a token: its form, its AccessKeyId (`lookupSecret` gives the current secret, or
 * undefined for an unknown/disabled key), its signature (constant time), its claims, then its
 * time window (`now` in whole unix seconds; expired when `now >= exp`) and revocation. Time and
 * claims are only judged for authentic tokens. Throws a RangeError only for an invalid `now`.
 */
export function verifyToken(
  token: string,
  lookupSecret: (accessKeyId: string) => string | undefined,
  now: number,
  options: VerifyTokenOptions = {},
): TokenVerifyResult {
  assertNow(now);
  if (typeof token !== 'string' || token.length > TOKEN_MAX_LENGTH || !TOKEN_PATTERN.test(token)) {
    return failure('malformed', `expected base64url.base64url of at most ${TOKEN_MAX_LENGTH} chars`);
  }
  const [payload = '', sig = ''] = token.split('.');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return failure('malformed', 'the payload is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return failure('malformed', 'the payload is not an object');
  const c = parsed as Record<string, unknown>;
  if (c.v !== TOKEN_VERSION) return failure('unsupported_version', `version ${JSON.stringify(c.v)}`);
  if (!isAccessKeyId(c.ak)) return failure('malformed', 'bad ak');

  const secret = lookupSecret(c.ak);
  if (typeof secret !== 'string' || secret.length === 0) return failure('unknown_key', `unknown AccessKeyId ${c.ak}`);
  const given = Buffer.from(sig, 'base64url');
  const expected = sign(secret, payload);
  // Canonical encoding only: a signature with other trailing bits or length does not verify.
  if (given.length !== expected.length || given.toString('base64url') !== sig || !timingSafeEqual(given, expected)) {
    return failure('bad_signature', 'the signature does not match');
  }

  const problem = claimsProblem(c);
  if (problem !== undefined) return failure('invalid_claims', problem);
  const claims = c as unknown as TokenClaims;
  if (options.accessKeyId !== undefined && options.accessKeyId !== claims.ak) {
    return failure('access_key_mismatch', `issued for ${claims.ak}, not ${options.accessKeyId}`);
  }
  const skew = options.clockSkewSeconds ?? DEFAULT_CLOCK_SKEW_SECONDS;
  if (claims.iat > now + skew) return failure('not_yet_valid', `issued at ${claims.iat}, now ${now}`);
  if (now >= claims.exp) return failure('expired', `expired at ${claims.exp}, now ${now}`);
  if (options.isRevoked?.(claims.id)) return failure('revoked', `token ${claims.id} was revoked`);
  return { ok: true, claims };
}

// ---------------------------------------------------------------------------------------------
// Password and renewal

/** An MQTT password is at most 65535 bytes. */
export const PASSWORD_MAX_LENGTH = 65535;

export interface TokenPasswordEntry {
  type: TokenType;
  token: string;
}

export type TokenPasswordFailureReason = 'missing_password' | 'malformed_password' | 'unknown_type' | 'duplicate_type' | 'token_too_long';

export type TokenPasswordResult =
  | { ok: true; entries: TokenPasswordEntry[] }
  | { ok: false; reason: TokenPasswordFailureReason; detail: string };

const decoder = new TextDecoder('utf-8', { fatal: true });

function asText(value: string | Uint8Array): string | undefined {
  if (typeof value === 'string') return value;
  try {
    return decoder.decode(value);
  } catch {
    return undefined;
  }
}

/**
 * The Token mode password: `|`-separated `type|token` pairs, e.g. `RW|<t>` or `R|<t1>|W|<t2>`.
 * Types are R, W and RW (case-sensitive), each at most once, so at most three pairs. A token is
 * `base64url.base64url` of at most {@link TOKEN_MAX_LENGTH} chars; it is not verified here.
 */
export function parseTokenPassword(password: string | Uint8Array | undefined | null): TokenPasswordResult {
  const fail = (reason: TokenPasswordFailureReason, detail: string): TokenPasswordResult => ({ ok: false, reason, detail });
  if (password === undefined || password === null || password.length === 0) return fail('missing_password', 'Token mode needs a password');
  if (password.length > PASSWORD_MAX_LENGTH) return fail('malformed_password', `longer than ${PASSWORD_MAX_LENGTH}`);
  const text = asText(password);
  if (text === undefined) return fail('malformed_password', 'not UTF-8');
  const parts = text.split('|');
  if (parts.length % 2 !== 0) return fail('malformed_password', 'expected type|token pairs');
  if (parts.length > 2 * TOKEN_TYPES.length) return fail('malformed_password', `at most ${TOKEN_TYPES.length} pairs`);
  const entries: TokenPasswordEntry[] = [];
  for (let i = 0; i < parts.length; i += 2) {
    const type = parts[i] ?? '';
    const token = parts[i + 1] ?? '';
    if (type === '' || token === '') return fail('malformed_password', 'empty part');
    if (!(TOKEN_TYPES as readonly string[]).includes(type)) return fail('unknown_type', `type must be one of ${TOKEN_TYPES.join(', ')}`);
    if (entries.some((e) => e.type === type)) return fail('duplicate_type', `type ${type} given twice`);
    if (token.length > TOKEN_MAX_LENGTH) return fail('token_too_long', `a token has at most ${TOKEN_MAX_LENGTH} chars`);
    if (!TOKEN_PATTERN.test(token)) return fail('malformed_password', 'a token is base64url.base64url');
    entries.push({ type: type as TokenType, token });
  }
  return { ok: true, entries };
}

export type TokenRenewalResult =
  | { ok: true; entry: TokenPasswordEntry }
  | { ok: false; reason: 'malformed_renewal' | 'unknown_type' | 'token_too_long'; detail: string };

/**
 * The payload a connected client publishes to `$SYS/uploadToken` to renew a token:
 * JSON `{"token":"...","type":"RW"}`. Other keys are ignored. The token is not verified here.
 */
export function tokenRenewal(payload: string | Uint8Array): TokenRenewalResult {
  const fail = (reason: 'malformed_renewal' | 'unknown_type' | 'token_too_long', detail: string): TokenRenewalResult => ({ ok: false, reason, detail });
  if (payload === undefined || payload === null || payload.length > TOKEN_MAX_LENGTH + 1024) return fail('malformed_renewal', 'missing or too large');
  const text = asText(payload);
  if (text === undefined) return fail('malformed_renewal', 'not UTF-8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return fail('malformed_renewal', 'not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return fail('malformed_renewal', 'not a JSON object');
  const { token, type } = parsed as Record<string, unknown>;
  if (typeof type !== 'string' || !(TOKEN_TYPES as readonly string[]).includes(type)) return fail('unknown_type', `type must be one of ${TOKEN_TYPES.join(', ')}`);
  if (typeof token !== 'string' || token.length === 0) return fail('malformed_renewal', 'token must be a non-empty string');
  if (token.length > TOKEN_MAX_LENGTH) return fail('token_too_long', `a token has at most ${TOKEN_MAX_LENGTH} chars`);
  if (!TOKEN_PATTERN.test(token)) return fail('malformed_renewal', 'a token is base64url.base64url');
  return { ok: true, entry: { type: type as TokenType, token } };
}

// ---------------------------------------------------------------------------------------------
// Putting it together

export type TokenPasswordVerifyResult =
  | { ok: true; tokens: TokenClaims[] }
  | { ok: false; reason: TokenPasswordFailureReason | TokenFailureReason | 'type_mismatch'; detail: string };

/** How a token relates to the client id it is used with. */
export type TokenBinding = 'unbound' | 'bound' | 'mismatch';

export function bindingOf(claims: Pick<TokenClaims, 'cid'>, clientId: string): TokenBinding {
  if (claims.cid === undefined) return 'unbound';
  return clientIdMatches(claims.cid, clientId) ? 'bound' : 'mismatch';
}

/**
 * Claims as used under a declared type: the declared type must be granted by the token
 * (`W|<t>` with an R-only token is a mismatch); a token is used only for what it is declared
 * for (`R|<t>` with an RW token gives R only).
 */
export function claimsForType(claims: TokenClaims, type: TokenType): TokenClaims | undefined {
  const declared = actionsOf(type);
  if (!declared.every((a) => claims.act.includes(a))) return undefined;
  return { ...claims, res: [...claims.res], act: declared };
}

/**
 * Parses a Token mode password and verifies every token in it; all must verify. Returns the
 * claims restricted to their declared types, ready for `rightsFor`.
 */
export function verifyTokenPassword(
  password: string | Uint8Array | undefined | null,
  lookupSecret: (accessKeyId: string) => string | undefined,
  now: number,
  options: VerifyTokenOptions = {},
): TokenPasswordVerifyResult {
  assertNow(now);
  const parsed = parseTokenPassword(password);
  if (!parsed.ok) return parsed;
  const tokens: TokenClaims[] = [];
  for (const entry of parsed.entries) {
    const verified = verifyToken(entry.token, lookupSecret, now, options);
    if (!verified.ok) return verified;
    const claims = claimsForType(verified.claims, entry.type);
    if (!claims) return { ok: false, reason: 'type_mismatch', detail: `declared ${entry.type}, the token grants ${verified.claims.act.join('')}` };
    tokens.push(claims);
  }
  return { ok: true, tokens };
}
