/**
 * The token API (modelled on the ApplyToken, QueryToken and RevokeToken calls of Alibaba
 * Cloud's MQTT service): what each call does once the caller's access key is verified. No
 * HTTP here, so the rules are tested as tables; bridge/http/token-api-server.ts serves them.
 */
import { z } from 'zod';
import type { RevocationList } from './revocations.js';
import { actionsOf, issueToken, TOKEN_TYPES, TokenIssueError, verifyToken, type TokenClaims, type TokenType } from './token.js';

export type TokenApiAction = 'apply' | 'query' | 'revoke';
export const TOKEN_API_ACTIONS: readonly TokenApiAction[] = ['apply', 'query', 'revoke'];

export interface TokenApiDeps {
  instanceId: string;
  secretOf: (accessKeyId: string) => string | undefined;
  revocations: RevocationList;
  /** Unix seconds. */
  now: () => number;
}

export interface TokenApiResponse {
  status: number;
  body: Record<string, unknown>;
}

const applySchema = z
  .strictObject({
    instanceId: z.string(),
    resources: z.array(z.string()).min(1),
    actions: z.enum(TOKEN_TYPES as [TokenType, ...TokenType[]]),
    /** Milliseconds since the epoch, as ApplyToken's ExpireTime. */
    expireTime: z.number().int().positive().optional(),
    ttlSeconds: z.number().int().positive().optional(),
    /** Binds the token to one client id, or `GID_xxx@@@<prefix>*`; unbound (any client id) when absent. */
    clientId: z.string().optional(),
  })
  .refine((b) => (b.expireTime === undefined) !== (b.ttlSeconds === undefined), 'give exactly one of expireTime (ms since the epoch) and ttlSeconds');
const tokenSchema = z.strictObject({ instanceId: z.string(), token: z.string().min(1) });

const error = (status: number, code: string, message: string): TokenApiResponse => ({ status, body: { code, message } });

function describe(claims: TokenClaims): Record<string, unknown> {
  return {
    tokenId: claims.id,
    accessKeyId: claims.ak,
    resources: claims.res,
    actions: claims.act.join(''),
    expireTime: claims.exp * 1000,
    ...(claims.cid !== undefined ? { clientId: claims.cid } : {}),
  };
}

/** Runs one call for the (already authenticated) caller `accessKeyId`. */
export async function handleTokenApi(action: TokenApiAction, accessKeyId: string, body: unknown, deps: TokenApiDeps): Promise<TokenApiResponse> {
  const schema = action === 'apply' ? applySchema : tokenSchema;
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`);
    return error(400, 'InvalidParameter', problems.join('; '));
  }
  if (parsed.data.instanceId !== deps.instanceId) return error(400, 'InvalidInstanceId', `instance ${parsed.data.instanceId} is not this bridge's`);
  if (action === 'apply') return apply(accessKeyId, parsed.data as z.infer<typeof applySchema>, deps);
  const { token } = parsed.data as z.infer<typeof tokenSchema>;
  return action === 'query' ? query(accessKeyId, token, deps) : revoke(accessKeyId, token, deps);
}

function apply(accessKeyId: string, b: z.infer<typeof applySchema>, deps: TokenApiDeps): TokenApiResponse {
  const now = deps.now();
  const ttlSeconds = b.ttlSeconds ?? Math.floor(b.expireTime! / 1000) - now;
  try {
    const { token, claims } = issueToken({
      accessKeyId,
      secret: deps.secretOf(accessKeyId)!,
      resources: b.resources,
      actions: actionsOf(b.actions),
      ttlSeconds,
      now,
      ...(b.clientId !== undefined ? { clientId: b.clientId } : {}),
    });
    return { status: 200, body: { token, ...describe(claims) } };
  } catch (err) {
    if (err instanceof TokenIssueError) return error(400, 'InvalidParameter', err.message);
    throw err;
  }
}

type Judged =
  | { kind: 'valid'; claims: TokenClaims }
  | { kind: 'ended'; status: 'Expired' | 'Revoked'; claims: TokenClaims | undefined }
  | { kind: 'invalid'; reason: string }
  | { kind: 'denied'; response: TokenApiResponse };

const otherKey = (): Judged => ({ kind: 'denied', response: error(403, 'Forbidden', 'the token was issued with another AccessKeyId') });

/** What a token is, for the caller: only the key that issued a token may query or revoke it. */
function judge(accessKeyId: string, token: string, deps: TokenApiDeps): Judged {
  const verified = verifyToken(token, deps.secretOf, deps.now(), { isRevoked: (id) => deps.revocations.isRevoked(id) });
  if (verified.ok) return verified.claims.ak === accessKeyId ? { kind: 'valid', claims: verified.claims } : otherKey();
  if (verified.reason !== 'expired' && verified.reason !== 'revoked') return { kind: 'invalid', reason: verified.reason };
  // The signature was checked before the time and the revocation, so these claims are authentic.
  const claims = decodeClaims(token);
  if (claims && claims.ak !== accessKeyId) return otherKey();
  return { kind: 'ended', status: verified.reason === 'expired' ? 'Expired' : 'Revoked', claims };
}

function query(accessKeyId: string, token: string, deps: TokenApiDeps): TokenApiResponse {
  const j = judge(accessKeyId, token, deps);
  switch (j.kind) {
    case 'denied':
      return j.response;
    case 'valid':
      return { status: 200, body: { tokenStatus: true, status: 'Valid', ...describe(j.claims) } };
    case 'ended':
      return { status: 200, body: { tokenStatus: false, status: j.status, ...(j.claims ? describe(j.claims) : {}) } };
    case 'invalid':
      return { status: 200, body: { tokenStatus: false, status: 'Invalid', reason: j.reason } };
  }
}

async function revoke(accessKeyId: string, token: string, deps: TokenApiDeps): Promise<TokenApiResponse> {
  const j = judge(accessKeyId, token, deps);
  switch (j.kind) {
    case 'denied':
      return j.response;
    case 'invalid':
      return error(400, 'InvalidToken', `not a token of this bridge (${j.reason})`);
    case 'ended':
      // Nothing to do: an expired token is refused anyway, a revoked one already is.
      return { status: 200, body: { revoked: j.status === 'Revoked', status: j.status, ...(j.claims ? describe(j.claims) : {}) } };
    case 'valid':
      try {
        await deps.revocations.revoke(j.claims.id, j.claims.exp);
      } catch (err) {
        return error(503, 'ServiceUnavailable', `the revocation could not be stored: ${(err as Error).message}`);
      }
      return { status: 200, body: { revoked: true, status: 'Revoked', ...describe(j.claims) } };
  }
}

/** The claims of a token without checking it: only used to name an expired or revoked token. */
function decodeClaims(token: string): TokenClaims | undefined {
  try {
    const claims = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString('utf8')) as TokenClaims;
    return typeof claims.id === 'string' && typeof claims.ak === 'string' && Array.isArray(claims.res) && Array.isArray(claims.act) ? claims : undefined;
  } catch {
    return undefined;
  }
}
