import { MemoryRevocationList, RevokedIds, type RevocationList } from '../../bridge/auth/revocations.js';
import { handleTokenApi, type TokenApiDeps } from '../../bridge/auth/token-api.js';
import { issueToken } from '../../bridge/auth/token.js';

const NOW = 1_764_000_000;
const SECRETS: Record<string, string> = { AK_ONE: 'secret-one', AK_TWO: 'secret-two' };

function deps(revocations: RevocationList = new MemoryRevocationList()): TokenApiDeps {
  return { instanceId: 'inst-1', secretOf: (ak) => SECRETS[ak], revocations, now: () => NOW };
}

const tokenOf = (ak: 'AK_ONE' | 'AK_TWO', o: { now?: number; ttl?: number } = {}) =>
  issueToken({ accessKeyId: ak, secret: SECRETS[ak]!, resources: ['dev/#'], actions: ['R', 'W'], ttlSeconds: o.ttl ?? 3600, now: o.now ?? NOW });

describe('apply', () => {
  test.each([
    ['a lifetime in seconds', { ttlSeconds: 600 }, NOW + 600],
    ['an expiry time in ms, as ApplyToken', { expireTime: (NOW + 7200) * 1000 }, NOW + 7200],
  ])('issues a token with %s', async (_name, lifetime, exp) => {
    const res = await handleTokenApi('apply', 'AK_ONE', { instanceId: 'inst-1', resources: ['dev/+/up', 'dev/#'], actions: 'RW', ...lifetime }, deps());
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ accessKeyId: 'AK_ONE', resources: ['dev/+/up', 'dev/#'], actions: 'RW', expireTime: exp * 1000 });
    expect(String(res.body.token)).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  });

  test.each([
    ['no resources', { resources: [], actions: 'R', ttlSeconds: 600 }, 'InvalidParameter', /resources/],
    ['an invalid resource', { resources: ['dev/#/x'], actions: 'R', ttlSeconds: 600 }, 'InvalidParameter', /topic filter/],
    ['a $ resource', { resources: ['$SYS/#'], actions: 'R', ttlSeconds: 600 }, 'InvalidParameter', /topic filter/],
    ['an unknown action', { resources: ['a'], actions: 'X', ttlSeconds: 600 }, 'InvalidParameter', /actions/],
    ['no lifetime', { resources: ['a'], actions: 'R' }, 'InvalidParameter', /exactly one/],
    ['two lifetimes', { resources: ['a'], actions: 'R', ttlSeconds: 600, expireTime: (NOW + 600) * 1000 }, 'InvalidParameter', /exactly one/],
    ['a lifetime under 60 s', { resources: ['a'], actions: 'R', ttlSeconds: 59 }, 'InvalidParameter', /ttlSeconds/],
    ['a lifetime over 30 days', { resources: ['a'], actions: 'R', ttlSeconds: 30 * 86400 + 1 }, 'InvalidParameter', /ttlSeconds/],
    ['an expiry in the past', { resources: ['a'], actions: 'R', expireTime: (NOW - 10) * 1000 }, 'InvalidParameter', /ttlSeconds/],
    ['an unknown field', { resources: ['a'], actions: 'R', ttlSeconds: 600, admin: true }, 'InvalidParameter', /admin/],
    ['another instance', { instanceId: 'inst-2', resources: ['a'], actions: 'R', ttlSeconds: 600 }, 'InvalidInstanceId', /inst-2/],
  ])('refuses %s with 400', async (_name, body, code, message) => {
    const res = await handleTokenApi('apply', 'AK_ONE', { instanceId: 'inst-1', ...body }, deps());
    expect(res.status).toBe(400);
    expect(res.body.code).toBe(code);
    expect(String(res.body.message)).toMatch(message);
  });

  test.each([null, 'text', [], 42])('refuses the body %j with 400', async (body) => {
    expect((await handleTokenApi('apply', 'AK_ONE', body, deps())).status).toBe(400);
  });
});

describe('query and revoke', () => {
  test('a valid token: Valid, then revoked everywhere the list is shared, then Revoked', async () => {
    const d = deps();
    const seen: string[] = [];
    d.revocations.onRevoked((id) => seen.push(id));
    const { token, claims } = tokenOf('AK_ONE');
    expect((await handleTokenApi('query', 'AK_ONE', { instanceId: 'inst-1', token }, d)).body).toMatchObject({ tokenStatus: true, status: 'Valid', tokenId: claims.id });
    expect((await handleTokenApi('revoke', 'AK_ONE', { instanceId: 'inst-1', token }, d)).body).toMatchObject({ revoked: true, status: 'Revoked', tokenId: claims.id });
    expect(seen).toEqual([claims.id]);
    expect((await handleTokenApi('query', 'AK_ONE', { instanceId: 'inst-1', token }, d)).body).toMatchObject({ tokenStatus: false, status: 'Revoked', tokenId: claims.id });
    // Revoking again changes nothing and says so.
    expect((await handleTokenApi('revoke', 'AK_ONE', { instanceId: 'inst-1', token }, d)).body).toMatchObject({ revoked: true, status: 'Revoked' });
    expect(seen).toEqual([claims.id]);
  });

  test('an expired token: Expired, and revoking it stores nothing', async () => {
    const revocations = new MemoryRevocationList();
    const { token } = tokenOf('AK_ONE', { now: NOW - 7200, ttl: 3600 });
    expect((await handleTokenApi('query', 'AK_ONE', { instanceId: 'inst-1', token }, deps(revocations))).body).toMatchObject({ tokenStatus: false, status: 'Expired' });
    expect((await handleTokenApi('revoke', 'AK_ONE', { instanceId: 'inst-1', token }, deps(revocations))).body).toMatchObject({ revoked: false, status: 'Expired' });
  });

  test.each([
    ['garbage', 'not-a-token', 'malformed'],
    ['a token of an unknown key', issueToken({ accessKeyId: 'AK_GONE', secret: 'x', resources: ['a'], actions: ['R'], ttlSeconds: 600, now: NOW }).token, 'unknown_key'],
    ['a forged token', `${tokenOf('AK_ONE').token.split('.')[0]}.${tokenOf('AK_TWO').token.split('.')[1]}`, 'bad_signature'],
  ])('%s: query says Invalid, revoke refuses with 400', async (_name, token, reason) => {
    expect((await handleTokenApi('query', 'AK_ONE', { instanceId: 'inst-1', token }, deps())).body).toEqual({ tokenStatus: false, status: 'Invalid', reason });
    const res = await handleTokenApi('revoke', 'AK_ONE', { instanceId: 'inst-1', token }, deps());
    expect(res).toMatchObject({ status: 400, body: { code: 'InvalidToken' } });
  });

  test.each(['query', 'revoke'] as const)('%s of another key\'s token (valid or expired) is forbidden', async (action) => {
    for (const { token } of [tokenOf('AK_TWO'), tokenOf('AK_TWO', { now: NOW - 7200 })]) {
      expect(await handleTokenApi(action, 'AK_ONE', { instanceId: 'inst-1', token }, deps())).toMatchObject({ status: 403, body: { code: 'Forbidden' } });
    }
  });

  test('a revocation store that is down: 503, and the token stays valid', async () => {
    const broken: RevocationList = { ...new MemoryRevocationList(), synced: true, start: async () => {}, stop: async () => {}, isRevoked: () => false, onRevoked: () => {}, revoke: () => Promise.reject(new Error('Connection is closed.')) };
    const { token } = tokenOf('AK_ONE');
    expect(await handleTokenApi('revoke', 'AK_ONE', { instanceId: 'inst-1', token }, deps(broken))).toMatchObject({ status: 503, body: { code: 'ServiceUnavailable' } });
  });

  test.each([
    ['no token', { instanceId: 'inst-1' }, 400],
    ['an empty token', { instanceId: 'inst-1', token: '' }, 400],
    ['another instance', { instanceId: 'inst-9', token: 'x.y' }, 400],
  ])('refuses %s', async (_name, body, status) => {
    expect((await handleTokenApi('query', 'AK_ONE', body, deps())).status).toBe(status);
  });
});

describe('RevokedIds', () => {
  test('tells listeners once per new id and forgets ids whose tokens expired', () => {
    const ids = new RevokedIds();
    const seen: string[] = [];
    ids.onAdded((id) => seen.push(id));
    ids.add('a', NOW + 10);
    ids.add('a', NOW + 10);
    ids.add('b', NOW - 1);
    expect(seen).toEqual(['a', 'b']);
    ids.prune(NOW);
    expect([ids.has('a'), ids.has('b'), ids.size]).toEqual([true, false, 1]);
  });
});
