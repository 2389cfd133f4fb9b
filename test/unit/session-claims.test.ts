import { credentialOf, mayTakeOver } from '../../bridge/auth/authenticator.js';
import { claimDecision, MemorySessionClaims, needsOnlineCheck, type SessionRecord } from '../../bridge/auth/session-claims.js';

const record = (credential: string, persistent: boolean): SessionRecord => ({ credential, persistent, connection: 'c1', epoch: 'e1' });
const request = (credential: string, persistent: boolean) => ({ credential, persistent, connection: 'c2' });

describe('credentials and takeover', () => {
  test.each([
    ['Signature', 'AK', true, 'key:AK'],
    ['Token', 'AK', true, 'key:AK'],
    ['Token', 'AK', false, 'unbound:AK'],
    ['None', undefined, true, 'anonymous'],
  ] as const)('%s of %s, proving the id: %s → %s', (mode, ak, owns, credential) => {
    expect(credentialOf(mode, ak, owns)).toBe(credential);
  });

  test.each([
    ['key:A', 'key:A', true],
    ['unbound:A', 'unbound:A', true],
    ['unbound:A', 'key:A', true],
    ['key:A', 'unbound:A', false],
    ['key:A', 'key:B', false],
    ['unbound:A', 'key:B', false],
    ['anonymous', 'anonymous', true],
  ])('%s held, %s logs in: %s', (current, next, allowed) => {
    expect(mayTakeOver(current, next)).toBe(allowed);
  });
});

describe('claimDecision', () => {
  const epoch = () => 'new';
  test.each([
    ['nobody holds it', undefined, request('key:A', false), false, 'SameCredential', { ok: true, epoch: 'new' }],
    ['the same credential resumes a persistent session: same epoch', record('key:A', true), request('key:A', true), false, 'SameCredential', { ok: true, epoch: 'e1' }],
    ['the same credential wipes it with a clean session: new epoch', record('key:A', true), request('key:A', false), false, 'SameCredential', { ok: true, epoch: 'new' }],
    ['another credential and a persistent session', record('key:A', true), request('unbound:A', true), false, 'SameCredential', { ok: false, holder: 'key:A' }],
    ['another credential and a connected clean session', record('key:A', false), request('key:B', false), true, 'SameCredential', { ok: false, holder: 'key:A' }],
    ['another credential and a clean session whose pod died', record('key:A', false), request('key:B', false), false, 'SameCredential', { ok: true, epoch: 'new' }],
    ['another credential when any takeover is allowed', record('key:A', true), request('key:B', true), false, 'Any', { ok: true, epoch: 'e1' }],
  ] as const)('%s', (_name, existing, req, online, policy, want) => {
    expect(claimDecision(existing, req, online, policy, epoch)).toEqual(want);
  });

  test('the online check is asked for only where it decides', () => {
    expect(needsOnlineCheck(undefined, request('key:A', false), 'SameCredential')).toBe(false);
    expect(needsOnlineCheck(record('key:A', false), request('key:A', false), 'SameCredential')).toBe(false);
    expect(needsOnlineCheck(record('key:A', true), request('key:B', false), 'SameCredential')).toBe(false);
    expect(needsOnlineCheck(record('key:A', false), request('key:B', false), 'SameCredential')).toBe(true);
    expect(needsOnlineCheck(record('key:A', false), request('key:B', false), 'Any')).toBe(false);
  });
});

test('memory claims: a clean session ends with its connection, a persistent one stays held', async () => {
  const connected = new Set<string>();
  const claims = new MemorySessionClaims('SameCredential', (id) => connected.has(id));
  expect(await claims.claim('p', request('key:A', true))).toMatchObject({ ok: true });
  await claims.released('p', 'c2', true);
  expect(await claims.claim('p', request('key:B', true))).toEqual({ ok: false, holder: 'key:A' });
  expect(await claims.claim('c', request('key:A', false))).toMatchObject({ ok: true });
  connected.add('c');
  expect(await claims.claim('c', { ...request('key:B', false), connection: 'c3' })).toEqual({ ok: false, holder: 'key:A' });
  connected.delete('c');
  await claims.released('c', 'c2', false);
  expect(await claims.claim('c', request('key:B', false))).toMatchObject({ ok: true });
  await claims.ended('p');
  expect(await claims.claim('p', request('key:B', true))).toMatchObject({ ok: true });
});
