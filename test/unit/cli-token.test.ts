import { issueToken } from '../../bridge/auth/token.js';
import { decodeToken, tokenCommand, TOKEN_USAGE, UsageError } from '../../bridge/cli/token-command.js';

const env = { MQBRIDGE_ACCESS_KEY_ID: 'AK_ONE', MQBRIDGE_ACCESS_KEY_SECRET: 's', MQBRIDGE_INSTANCE_ID: 'i-1' };

test('inspect --offline decodes the claims and shows the times readably', async () => {
  const { token, claims } = issueToken({ accessKeyId: 'AK_ONE', secret: 's', resources: ['a/#'], actions: ['W'], ttlSeconds: 3600, now: 1_764_000_000 });
  const out = JSON.parse(await tokenCommand(['inspect', token, '--offline'], {})) as { claims: Record<string, unknown> };
  expect(out.claims).toEqual({ ...claims, issuedAt: '2025-11-24T16:00:00.000Z', expiresAt: '2025-11-24T17:00:00.000Z' });
});

test('no command or --help prints the usage', async () => {
  expect(await tokenCommand([], env)).toBe(TOKEN_USAGE);
  expect(await tokenCommand(['apply', '--help'], env)).toBe(TOKEN_USAGE);
});

test.each([
  ['an unknown command', ['steal'], env, /unknown command "steal"/],
  ['an unknown flag', ['apply', '--admin'], env, /admin/],
  ['apply without resources', ['apply', '--actions', 'R', '--ttl', '60'], env, /needs --resource and --actions/],
  ['a ttl that is not a number', ['apply', '--resource', 'a', '--actions', 'R', '--ttl', '1h'], env, /--ttl must be a whole number/],
  ['no access key', ['query', 'x.y'], { MQBRIDGE_INSTANCE_ID: 'i-1' }, /an access key is needed/],
  ['no instance id', ['query', 'x.y'], { MQBRIDGE_ACCESS_KEY_ID: 'AK', MQBRIDGE_ACCESS_KEY_SECRET: 's' }, /--instance-id/],
  ['revoke without a token', ['revoke'], env, /revoke needs the token/],
  ['inspect of garbage', ['inspect', '%%%', '--offline'], env, /not a token/],
])('%s is a usage error', async (_name, args, e, message) => {
  const attempt = tokenCommand(args, e);
  await expect(attempt).rejects.toBeInstanceOf(UsageError);
  await expect(attempt).rejects.toThrow(message);
});

test('decodeToken refuses what is not base64url JSON', () => {
  expect(() => decodeToken('bm90IGpzb24.sig')).toThrow(UsageError);
});
