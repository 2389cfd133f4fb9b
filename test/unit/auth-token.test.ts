import { createHmac } from 'node:crypto';
import {
  TOKEN_MAX_TTL_SECONDS,
  TOKEN_MIN_TTL_SECONDS,
  TokenIssueError,
  claimsForType,
  issueToken,
  parseTokenPassword,
  tokenRenewal,
  verifyToken,
  verifyTokenPassword,
  type IssueTokenInput,
  type TokenClaims,
} from '../../bridge/auth/token.js';

const NOW = 1_700_000_000;
const ID = '00112233445566778899aabbccddeeff';
const SECRETS: Record<string, string> = { LTAItest: 'tokenSecret-123', LTAIother: 'otherSecret', LTAIrotated: 'newSecret' };
const lookup = (ak: string): string | undefined => SECRETS[ak];

/**
 * Computed independently with OpenSSL 3.0 from
 *   json='{"v":1,"id":"00112233445566778899aabbccddeeff","ak":"LTAItest","res":["sensors/#","cmd/+/set"],"act":["R","W"],"iat":1700000000,"exp":1700003600}'
 *   payload=$(printf '%s' "$json" | base64 -w0 | tr '+/' '-_' | tr -d '=')
 *   key=$(printf '%s' mqbridge-token-v1 | openssl dgst -sha256 -hmac tokenSecret-123 -binary | xxd -p -c 64)
 *   sig=$(printf '%s' "$payload" | openssl dgst -sha256 -mac HMAC -macopt hexkey:$key -binary | base64 -w0 | tr '+/' '-_' | tr -d '=')
 */
const VECTOR =
  'eyJ2IjoxLCJpZCI6IjAwMTEyMjMzNDQ1NTY2Nzc4ODk5YWFiYmNjZGRlZWZmIiwiYWsiOiJMVEFJdGVzdCIsInJlcyI6WyJzZW5zb3JzLyMiLCJjbWQvKy9zZXQiXSwiYWN0IjpbIlIiLCJXIl0sImlhdCI6MTcwMDAwMDAwMCwiZXhwIjoxNzAwMDAzNjAwfQ' +
  '.uGVQ2GPhgQ14oO6WCsnAInZlYIsKgB5WtI1Eh6pl_bs';
const VECTOR_CLAIMS: TokenClaims = { v: 1, id: ID, ak: 'LTAItest', res: ['sensors/#', 'cmd/+/set'], act: ['R', 'W'], iat: NOW, exp: NOW + 3600 };

const base: IssueTokenInput = { accessKeyId: 'LTAItest', secret: 'tokenSecret-123', resources: ['sensors/#', 'cmd/+/set'], actions: ['R', 'W'], ttlSeconds: 3600, now: NOW, id: ID };
const issue = (over: Partial<IssueTokenInput> = {}) => issueToken({ ...base, ...over }).token;

/** Signs any payload the way the format says, to forge tokens with a valid signature. */
function signRaw(payloadJson: string, secret = 'tokenSecret-123'): string {
  const payload = Buffer.from(payloadJson, 'utf8').toString('base64url');
  const key = createHmac('sha256', secret).update('mqbridge-token-v1').digest();
  return `${payload}.${createHmac('sha256', key).update(payload).digest('base64url')}`;
}
const claimsJson = (over: Record<string, unknown> = {}, drop: string[] = []) => {
  const c: Record<string, unknown> = { ...VECTOR_CLAIMS, ...over };
  for (const k of drop) delete c[k];
  return JSON.stringify(c);
};

describe('issueToken', () => {
  test('matches the OpenSSL vector', () => {
    expect(issueToken(base)).toEqual({ token: VECTOR, claims: VECTOR_CLAIMS });
  });

  test('normalizes actions to R before W without duplicates', () => {
    expect(issueToken({ ...base, actions: ['W', 'R', 'W'] }).claims.act).toEqual(['R', 'W']);
    expect(issueToken({ ...base, actions: ['W'] }).claims.act).toEqual(['W']);
  });

  test('draws a random 16-byte hex id when none is given', () => {
    const a = issueToken({ ...base, id: undefined }).claims.id;
    const b = issueToken({ ...base, id: undefined }).claims.id;
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    expect(a).not.toBe(b);
  });

  test.each([TOKEN_MIN_TTL_SECONDS, 3600, TOKEN_MAX_TTL_SECONDS])('accepts ttl %d', (ttlSeconds) => {
    const { claims } = issueToken({ ...base, ttlSeconds });
    expect(claims.exp - claims.iat).toBe(ttlSeconds);
  });

  test('accepts 100 resources of 200 chars, and two such tokens fit in an MQTT password', () => {
    const resources = Array.from({ length: 100 }, (_, i) => `${String(i).padStart(3, '0')}/${'x'.repeat(196)}`);
    expect(resources[0]).toHaveLength(200);
    const { token } = issueToken({ ...base, resources });
    expect(verifyToken(token, lookup, NOW).ok).toBe(true);
    const password = `R|${token}|W|${issue({ resources, actions: ['W'] })}`;
    expect(Buffer.byteLength(password)).toBeLessThanOrEqual(65535);
    expect(parseTokenPassword(password).ok).toBe(true);
  });

  test('refuses a token that would not fit (100 resources of 256 chars)', () => {
    const resources = Array.from({ length: 100 }, (_, i) => `${String(i).padStart(3, '0')}/${'x'.repeat(252)}`);
    expect(() => issueToken({ ...base, resources })).toThrow(expect.objectContaining({ code: 'token_too_long' }));
  });

  test.each<[string, Partial<IssueTokenInput>, string]>([
    ['ttl below 60 s', { ttlSeconds: TOKEN_MIN_TTL_SECONDS - 1 }, 'invalid_ttl'],
    ['ttl above 30 days', { ttlSeconds: TOKEN_MAX_TTL_SECONDS + 1 }, 'invalid_ttl'],
    ['ttl 0', { ttlSeconds: 0 }, 'invalid_ttl'],
    ['negative ttl', { ttlSeconds: -3600 }, 'invalid_ttl'],
    ['fractional ttl', { ttlSeconds: 60.5 }, 'invalid_ttl'],
    ['NaN ttl', { ttlSeconds: NaN }, 'invalid_ttl'],
    ['now in milliseconds', { now: NOW * 1000 }, 'invalid_now'],
    ['fractional now', { now: NOW + 0.5 }, 'invalid_now'],
    ['negative now', { now: -1 }, 'invalid_now'],
    ['no resources', { resources: [] }, 'invalid_resources'],
    ['101 resources', { resources: Array.from({ length: 101 }, (_, i) => `r/${i}`) }, 'invalid_resources'],
    ['empty resource', { resources: [''] }, 'invalid_resources'],
    ['resource of 257 chars', { resources: ['x'.repeat(257)] }, 'invalid_resources'],
    ['# not last', { resources: ['a/#/b'] }, 'invalid_resources'],
    ['+ inside a level', { resources: ['a/b+'] }, 'invalid_resources'],
    ['$ resource', { resources: ['$SYS/#'] }, 'invalid_resources'],
    ['NUL in resource', { resources: ['a\u0000'] }, 'invalid_resources'],
    ['no actions', { actions: [] }, 'invalid_actions'],
    ['unknown action', { actions: ['X' as 'R'] }, 'invalid_actions'],
    ['lower-case action', { actions: ['r' as 'R'] }, 'invalid_actions'],
    ['empty secret', { secret: '' }, 'invalid_secret'],
    ['empty AccessKeyId', { accessKeyId: '' }, 'invalid_access_key_id'],
    ['AccessKeyId with |', { accessKeyId: 'a|b' }, 'invalid_access_key_id'],
    ['upper-case id', { id: ID.toUpperCase() }, 'invalid_id'],
    ['short id', { id: 'abc' }, 'invalid_id'],
  ])('refuses %s', (_what, over, code) => {
    let thrown: unknown;
    try {
      issueToken({ ...base, ...over });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(TokenIssueError);
    expect((thrown as TokenIssueError).code).toBe(code);
  });
});

describe('verifyToken', () => {
  test('accepts the OpenSSL vector inside its lifetime', () => {
    for (const now of [NOW, NOW + 1, NOW + 3599]) expect(verifyToken(VECTOR, lookup, now)).toEqual({ ok: true, claims: VECTOR_CLAIMS });
  });

  test('accepts an iat up to the clock skew in the future', () => {
    expect(verifyToken(VECTOR, lookup, NOW - 60).ok).toBe(true);
    expect(verifyToken(VECTOR, lookup, NOW - 10, { clockSkewSeconds: 10 }).ok).toBe(true);
  });

  const [payload = '', sig = ''] = VECTOR.split('.');
  const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);

  test.each<[string, string, number, string]>([
    ['expired at exp', VECTOR, NOW + 3600, 'expired'],
    ['expired long ago', VECTOR, NOW + 365 * 86400, 'expired'],
    ['not yet valid', VECTOR, NOW - 61, 'not_yet_valid'],
    ['signed with another key', issue({ secret: 'otherSecret' }), NOW, 'bad_signature'],
    ['signed with the old secret of a rotated key', issue({ accessKeyId: 'LTAIrotated', secret: 'oldSecret' }), NOW, 'bad_signature'],
    ['unknown AccessKeyId', issue({ accessKeyId: 'LTAInobody' }), NOW, 'unknown_key'],
    ['exp extended, same signature', `${Buffer.from(claimsJson({ exp: NOW + 999_999 })).toString('base64url')}.${sig}`, NOW, 'bad_signature'],
    ['payload of another token', `${issue({ resources: ['#'] }).split('.')[0]}.${sig}`, NOW, 'bad_signature'],
    ['tampered signature', `${payload}.${flip(sig, 5)}`, NOW, 'bad_signature'],
    ['non-canonical signature bits', `${payload}.${sig.slice(0, -1)}${sig.endsWith('s') ? 't' : 's'}`, NOW, 'bad_signature'],
    ['truncated signature', `${payload}.${sig.slice(0, -2)}`, NOW, 'bad_signature'],
    ['extended signature', `${payload}.${sig}AA`, NOW, 'bad_signature'],
    ['widened resources, same signature', `${Buffer.from(claimsJson({ res: ['#'] })).toString('base64url')}.${sig}`, NOW, 'bad_signature'],
    ['empty', '', NOW, 'malformed'],
    ['no dot', payload, NOW, 'malformed'],
    ['empty signature', `${payload}.`, NOW, 'malformed'],
    ['empty payload', `.${sig}`, NOW, 'malformed'],
    ['three parts', `${VECTOR}.x`, NOW, 'malformed'],
    ['padding', `${payload}=.${sig}`, NOW, 'malformed'],
    ['standard base64 chars', `${payload}+/.${sig}`, NOW, 'malformed'],
    ['whitespace', ` ${VECTOR}`, NOW, 'malformed'],
    ['unicode', `${payload}é.${sig}`, NOW, 'malformed'],
    ['very long', `${'A'.repeat(40_000)}.${sig}`, NOW, 'malformed'],
    ['payload not JSON', `${Buffer.from('not json').toString('base64url')}.${sig}`, NOW, 'malformed'],
    ['payload an array', signRaw('[1]'), NOW, 'malformed'],
    ['payload null', signRaw('null'), NOW, 'malformed'],
    ['AccessKeyId missing', signRaw(claimsJson({}, ['ak'])), NOW, 'malformed'],
    ['AccessKeyId not a string', signRaw(claimsJson({ ak: 7 })), NOW, 'malformed'],
    ['version 2', signRaw(claimsJson({ v: 2 })), NOW, 'unsupported_version'],
    ['version "1"', signRaw(claimsJson({ v: '1' })), NOW, 'unsupported_version'],
    ['no version', signRaw(claimsJson({}, ['v'])), NOW, 'unsupported_version'],
    ['extra claim', signRaw(claimsJson({ admin: true })), NOW, 'invalid_claims'],
    ['missing exp', signRaw(claimsJson({}, ['exp'])), NOW, 'invalid_claims'],
    ['exp as string', signRaw(claimsJson({ exp: String(NOW + 3600) })), NOW, 'invalid_claims'],
    ['exp in milliseconds', signRaw(claimsJson({ exp: (NOW + 3600) * 1000 })), NOW, 'invalid_claims'],
    ['lifetime over 30 days', signRaw(claimsJson({ exp: NOW + TOKEN_MAX_TTL_SECONDS + 1 })), NOW, 'invalid_claims'],
    ['exp before iat', signRaw(claimsJson({ exp: NOW - 1 })), NOW, 'invalid_claims'],
    ['bad id', signRaw(claimsJson({ id: 'x' })), NOW, 'invalid_claims'],
    ['empty res', signRaw(claimsJson({ res: [] })), NOW, 'invalid_claims'],
    ['$ res', signRaw(claimsJson({ res: ['$SYS/#'] })), NOW, 'invalid_claims'],
    ['invalid filter in res', signRaw(claimsJson({ res: ['a/#/b'] })), NOW, 'invalid_claims'],
    ['res not an array', signRaw(claimsJson({ res: 'a/#' })), NOW, 'invalid_claims'],
    ['empty act', signRaw(claimsJson({ act: [] })), NOW, 'invalid_claims'],
    ['act W before R', signRaw(claimsJson({ act: ['W', 'R'] })), NOW, 'invalid_claims'],
    ['act duplicated', signRaw(claimsJson({ act: ['R', 'R'] })), NOW, 'invalid_claims'],
    ['act unknown', signRaw(claimsJson({ act: ['X'] })), NOW, 'invalid_claims'],
  ])('refuses %s', (_what, token, now, reason) => {
    expect(verifyToken(token, lookup, now)).toMatchObject({ ok: false, reason });
  });

  test('a change of any single char of the token is refused', () => {
    for (let i = 0; i < VECTOR.length; i++) {
      if (VECTOR[i] === '.') continue;
      const result = verifyToken(flip(VECTOR, i), lookup, NOW);
      // The last signature char has 2 unused bits; the canonical-encoding check catches those too.
      expect([i, result.ok]).toEqual([i, false]);
    }
  });

  test('judges time and claims only for authentic tokens', () => {
    const forged = signRaw(claimsJson({ exp: NOW - 1, iat: NOW - 7200 }), 'wrong');
    expect(verifyToken(forged, lookup, NOW)).toMatchObject({ ok: false, reason: 'bad_signature' });
    expect(verifyToken(signRaw(claimsJson({ act: [] }), 'wrong'), lookup, NOW)).toMatchObject({ ok: false, reason: 'bad_signature' });
  });

  test('a forged token with valid claims but a wrong key stays refused at every time', () => {
    const forged = signRaw(claimsJson(), 'otherSecret');
    for (const now of [NOW - 100, NOW, NOW + 5000]) expect(verifyToken(forged, lookup, now).ok).toBe(false);
  });

  test('an empty secret is an unknown key', () => {
    expect(verifyToken(VECTOR, () => '', NOW)).toMatchObject({ ok: false, reason: 'unknown_key' });
  });

  test('the AccessKeyId of the username must be the issuing one', () => {
    expect(verifyToken(VECTOR, lookup, NOW, { accessKeyId: 'LTAItest' }).ok).toBe(true);
    expect(verifyToken(VECTOR, lookup, NOW, { accessKeyId: 'LTAIother' })).toMatchObject({ ok: false, reason: 'access_key_mismatch' });
  });

  test('revoked ids are refused', () => {
    expect(verifyToken(VECTOR, lookup, NOW, { isRevoked: (id) => id === ID })).toMatchObject({ ok: false, reason: 'revoked' });
    expect(verifyToken(VECTOR, lookup, NOW, { isRevoked: () => false }).ok).toBe(true);
  });

  test.each([NOW * 1000, NOW + 0.5, -1, NaN])('throws for an invalid now (%d)', (now) => {
    expect(() => verifyToken(VECTOR, lookup, now)).toThrow(RangeError);
  });
});

describe('parseTokenPassword', () => {
  const t1 = issue();
  const t2 = issue({ actions: ['W'] });

  test.each<[string, { type: string; token: string }[]]>([
    [`R|${t1}`, [{ type: 'R', token: t1 }]],
    [`W|${t1}`, [{ type: 'W', token: t1 }]],
    [`RW|${t1}`, [{ type: 'RW', token: t1 }]],
    [`R|${t1}|W|${t2}`, [{ type: 'R', token: t1 }, { type: 'W', token: t2 }]],
    [`W|${t2}|R|${t1}`, [{ type: 'W', token: t2 }, { type: 'R', token: t1 }]],
    [`R|${t1}|W|${t2}|RW|${t1}`, [{ type: 'R', token: t1 }, { type: 'W', token: t2 }, { type: 'RW', token: t1 }]],
    ['R|a.b', [{ type: 'R', token: 'a.b' }]],
  ])('accepts %j', (password, entries) => {
    expect(parseTokenPassword(password)).toEqual({ ok: true, entries });
    expect(parseTokenPassword(Buffer.from(password))).toEqual({ ok: true, entries });
  });

  test.each<[string, string | Buffer | undefined | null, string]>([
    ['empty', '', 'missing_password'],
    ['undefined', undefined, 'missing_password'],
    ['null', null, 'missing_password'],
    ['empty Buffer', Buffer.alloc(0), 'missing_password'],
    ['type only', 'R', 'malformed_password'],
    ['token only', t1, 'malformed_password'],
    ['trailing |', `R|${t1}|`, 'malformed_password'],
    ['leading |', `|R|${t1}`, 'malformed_password'],
    ['three parts', `R|${t1}|W`, 'malformed_password'],
    ['empty token', 'R|', 'malformed_password'],
    ['empty type', `|${t1}`, 'malformed_password'],
    ['empty middle', `R||W|${t2}`, 'malformed_password'],
    ['four pairs', `R|${t1}|W|${t2}|RW|${t1}|R|${t1}`, 'malformed_password'],
    ['token without dot', 'R|abc', 'malformed_password'],
    ['token with spaces', `R| ${t1}`, 'malformed_password'],
    ['unicode token', 'R|ä.b', 'malformed_password'],
    ['not UTF-8', Buffer.from([0x52, 0x7c, 0xff, 0x2e, 0x61]), 'malformed_password'],
    ['longer than MQTT allows', `R|${'a'.repeat(70_000)}.b`, 'malformed_password'],
    ['token over 32760 chars', `R|${'a'.repeat(33_000)}.b`, 'token_too_long'],
    ['lower-case type', `r|${t1}`, 'unknown_type'],
    ['WR', `WR|${t1}`, 'unknown_type'],
    ['Token type', `Token|${t1}`, 'unknown_type'],
    ['unicode type', `Ｒ|${t1}`, 'unknown_type'],
    ['same type twice', `R|${t1}|R|${t2}`, 'duplicate_type'],
  ])('refuses %s', (_what, password, reason) => {
    expect(parseTokenPassword(password)).toMatchObject({ ok: false, reason });
  });
});

describe('tokenRenewal', () => {
  test.each<[string | Buffer, string, string]>([
    [`{"token":"${VECTOR}","type":"RW"}`, 'RW', VECTOR],
    [`{"type":"R","token":"a.b"}`, 'R', 'a.b'],
    [Buffer.from(`{"token":"a.b","type":"W","extra":1}`), 'W', 'a.b'],
    [` {"token":"a.b","type":"W"}\n`, 'W', 'a.b'],
  ])('accepts %j', (payload, type, token) => {
    expect(tokenRenewal(payload)).toEqual({ ok: true, entry: { type, token } });
  });

  test.each<[string, string | Buffer, string]>([
    ['empty', '', 'malformed_renewal'],
    ['not JSON', 'RW|a.b', 'malformed_renewal'],
    ['array', '[]', 'malformed_renewal'],
    ['null', 'null', 'malformed_renewal'],
    ['string', '"a.b"', 'malformed_renewal'],
    ['not UTF-8', Buffer.from([0x7b, 0xff, 0x7d]), 'malformed_renewal'],
    ['huge', `{"token":"${'a'.repeat(100_000)}.b","type":"RW"}`, 'malformed_renewal'],
    ['no token', '{"type":"RW"}', 'malformed_renewal'],
    ['empty token', '{"token":"","type":"RW"}', 'malformed_renewal'],
    ['token not a string', '{"token":5,"type":"RW"}', 'malformed_renewal'],
    ['token with |', '{"token":"a.b|W|c.d","type":"RW"}', 'malformed_renewal'],
    ['token over 32760 chars', `{"token":"${'a'.repeat(32_800)}.b","type":"RW"}`, 'token_too_long'],
    ['no type', '{"token":"a.b"}', 'unknown_type'],
    ['unknown type', '{"token":"a.b","type":"X"}', 'unknown_type'],
    ['lower-case type', '{"token":"a.b","type":"rw"}', 'unknown_type'],
    ['type not a string', '{"token":"a.b","type":["R"]}', 'unknown_type'],
  ])('refuses %s', (_what, payload, reason) => {
    expect(tokenRenewal(payload)).toMatchObject({ ok: false, reason });
  });
});

describe('verifyTokenPassword and claimsForType', () => {
  const rw = issue();
  const r = issue({ actions: ['R'], resources: ['down/#'] });
  const w = issue({ actions: ['W'], resources: ['up/+'] });

  test('restricts each token to its declared type', () => {
    const result = verifyTokenPassword(`R|${rw}`, lookup, NOW);
    expect(result.ok && result.tokens.map((c) => c.act)).toEqual([['R']]);
    const both = verifyTokenPassword(`R|${r}|W|${w}`, lookup, NOW);
    expect(both.ok && both.tokens.map((c) => [c.act, c.res])).toEqual([
      [['R'], ['down/#']],
      [['W'], ['up/+']],
    ]);
  });

  test.each<[string, string, string]>([
    ['declared W for an R token', `W|${r}`, 'type_mismatch'],
    ['declared RW for a W token', `RW|${w}`, 'type_mismatch'],
    ['one token expired', `R|${r}|W|${issue({ actions: ['W'], now: NOW - 7200 })}`, 'expired'],
    ['one token forged', `R|${r}|W|${issue({ actions: ['W'], secret: 'x' })}`, 'bad_signature'],
    ['malformed password', `R|${r}|`, 'malformed_password'],
  ])('refuses %s', (_what, password, reason) => {
    expect(verifyTokenPassword(password, lookup, NOW)).toMatchObject({ ok: false, reason });
  });

  test('claimsForType', () => {
    expect(claimsForType(VECTOR_CLAIMS, 'RW')?.act).toEqual(['R', 'W']);
    expect(claimsForType(VECTOR_CLAIMS, 'W')?.act).toEqual(['W']);
    expect(claimsForType({ ...VECTOR_CLAIMS, act: ['R'] }, 'W')).toBeUndefined();
  });
});
