import { parseUsername } from '../../bridge/auth/credentials.js';

describe('parseUsername', () => {
  const k128 = 'K'.repeat(128);

  test.each([
    ['Signature|LTAI5tAbc|mqtt-cn-0pp1ldu0000', 'Signature', 'LTAI5tAbc', 'mqtt-cn-0pp1ldu0000'],
    ['Token|LTAI5tAbc|post-cn-1', 'Token', 'LTAI5tAbc', 'post-cn-1'],
    ['Signature|a|b', 'Signature', 'a', 'b'],
    ['Token|ak_1.x-y|inst.1_x-y', 'Token', 'ak_1.x-y', 'inst.1_x-y'],
    [`Signature|${k128}|${k128}`, 'Signature', k128, k128],
  ])('accepts %j', (username, mode, accessKeyId, instanceId) => {
    expect(parseUsername(username)).toEqual({ ok: true, mode, accessKeyId, instanceId });
  });

  test.each([
    ['', 'missing_username'],
    [undefined, 'missing_username'],
    [null, 'missing_username'],
    ['Signature', 'malformed_username'],
    ['Signature|ak', 'malformed_username'],
    ['Signature|ak|inst|extra', 'malformed_username'],
    ['Signature|ak|inst|', 'malformed_username'],
    ['|Signature|ak|inst', 'malformed_username'],
    ['Signature||inst', 'malformed_username'],
    ['Signature|ak|', 'malformed_username'],
    ['|ak|inst', 'malformed_username'],
    ['||', 'malformed_username'],
    ['|', 'malformed_username'],
    ['Signature,ak,inst', 'malformed_username'],
    [`Signature|${'a'.repeat(100_000)}|inst`, 'malformed_username'],
    ['signature|ak|inst', 'unknown_mode'],
    ['TOKEN|ak|inst', 'unknown_mode'],
    ['Basic|ak|inst', 'unknown_mode'],
    [' Signature|ak|inst', 'unknown_mode'],
    ['Sïgnature|ak|inst', 'unknown_mode'],
    ['DeviceCredential|ak|inst', 'unsupported_mode'],
    [`Signature|${k128}K|inst`, 'invalid_access_key_id'],
    ['Signature|a k|inst', 'invalid_access_key_id'],
    ['Signature|ak:1|inst', 'invalid_access_key_id'],
    ['Signature|äk|inst', 'invalid_access_key_id'],
    ['Token|ak\u0000|inst', 'invalid_access_key_id'],
    ['Token|ak|inst/1', 'invalid_instance_id'],
    ['Token|ak|inst ', 'invalid_instance_id'],
    ['Token|ak|实例', 'invalid_instance_id'],
    [`Token|ak|${k128}K`, 'invalid_instance_id'],
  ])('refuses %j (%s)', (username, reason) => {
    const result = parseUsername(username);
    expect(result).toMatchObject({ ok: false, reason });
    if (!result.ok) expect(result.detail.length).toBeLessThan(200);
  });
});
