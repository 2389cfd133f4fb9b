import { CLIENT_ID_MAX_LENGTH, isValidClientId, parseClientId } from '../../bridge/auth/client-id.js';
import { p2pInboxFilter } from '../../bridge/mapping/p2p.js';

describe('parseClientId', () => {
  const g60 = `GID_${'g'.repeat(56)}`; // 60 chars: the longest GroupID that leaves room for @@@ and one char

  test.each([
    ['GID_test@@@device-001', 'GID_test', 'device-001'],
    ['GID-abc@@@d', 'GID-abc', 'd'],
    ['GID_abc@@@A.b_C-9', 'GID_abc', 'A.b_C-9'],
    ['GID____@@@...', 'GID____', '...'],
    ['GID_-_-@@@0', 'GID_-_-', '0'],
    [`${g60}@@@x`, g60, 'x'],
    [`GID_abc@@@${'d'.repeat(CLIENT_ID_MAX_LENGTH - 10)}`, 'GID_abc', 'd'.repeat(54)],
  ])('accepts %j', (id, groupId, deviceId) => {
    expect(id.length).toBeLessThanOrEqual(64);
    expect(parseClientId(id)).toEqual({ ok: true, groupId, deviceId });
    expect(isValidClientId(id)).toBe(true);
  });

  test.each([
    ['', 'missing_client_id'],
    [undefined, 'missing_client_id'],
    [null, 'missing_client_id'],
    [`${g60}@@@xy`, 'client_id_too_long'],
    [`GID_abc@@@${'d'.repeat(55)}`, 'client_id_too_long'],
    [`GID_abc@@@${'d'.repeat(10_000)}`, 'client_id_too_long'],
    ['GID_test', 'missing_separator'],
    ['GID_test@@device', 'missing_separator'],
    ['plain-mqtt-client', 'missing_separator'],
    ['@@@device', 'invalid_group_id'],
    ['GID_ab@@@device', 'invalid_group_id'], // 6 chars
    ['gid_test@@@device', 'invalid_group_id'],
    ['GIDtest@@@device', 'invalid_group_id'],
    ['GID.test@@@device', 'invalid_group_id'],
    ['GID_te.st@@@device', 'invalid_group_id'],
    ['GID_tést@@@device', 'invalid_group_id'],
    [' GID_test@@@device', 'invalid_group_id'],
    ['GID_test@@@', 'invalid_device_id'],
    ['GID_test@@@@dev', 'invalid_device_id'],
    ['GID_test@@@dev@@@x', 'invalid_device_id'],
    ['GID_test@@@dev/1', 'invalid_device_id'],
    ['GID_test@@@dev+', 'invalid_device_id'],
    ['GID_test@@@#', 'invalid_device_id'],
    ['GID_test@@@a:b', 'invalid_device_id'],
    ['GID_test@@@a,b', 'invalid_device_id'],
    ['GID_test@@@a%20', 'invalid_device_id'],
    ['GID_test@@@a b', 'invalid_device_id'],
    ['GID_test@@@$x', 'invalid_device_id'],
    ['GID_test@@@dév', 'invalid_device_id'],
    ['GID_test@@@😀', 'invalid_device_id'],
    ['GID_test@@@a\u0000', 'invalid_device_id'],
    ['GID_test@@@a\n', 'invalid_device_id'],
  ])('refuses %j (%s)', (id, reason) => {
    const result = parseClientId(id);
    expect(result).toMatchObject({ ok: false, reason });
    expect(isValidClientId(id)).toBe(false);
  });

  test('in the P2P inbox topic of a valid client id only the separator is escaped', () => {
    for (const id of ['GID_abc@@@A.b_C-9', 'GID-x_y@@@...']) {
      expect(parseClientId(id).ok).toBe(true);
      expect(p2pInboxFilter(id)).toBe(`$mqbridge/p2p/${id.replace('@@@', '%40%40%40')}/#`);
    }
  });
});
