import { filterCovers, isValidTopicFilter, matchesFilter, rightsFor } from '../../bridge/auth/resources.js';
import { isOwnP2PInbox, p2pInboxFilter } from '../../bridge/mapping/p2p.js';

describe('isValidTopicFilter', () => {
  test.each(['a', 'a/b', '#', '+', 'a/#', 'a/+/c', '+/+', '/', 'a//b', '/#', '$SYS/#'])('valid %j', (f) => {
    expect(isValidTopicFilter(f)).toBe(true);
  });
  test.each(['', 'a#', 'a/#/b', '#/a', 'a/b#', 'a+/b', 'a/+b', '++', 'a/\u0000'])('invalid %j', (f) => {
    expect(isValidTopicFilter(f)).toBe(false);
  });
});

describe('matchesFilter', () => {
  test.each<[string, string, boolean]>([
    ['a/b', 'a/b', true],
    ['a/b', 'a/c', false],
    ['a/b', 'a/b/c', false],
    ['a/b', 'a', false],
    ['a/b', 'A/b', false],
    ['a/+', 'a/b', true],
    ['a/+', 'a/', true], // `+` matches an empty level
    ['a/+', 'a', false],
    ['a/+', 'a/b/c', false],
    ['+/b', 'x/b', true],
    ['+/b', '/b', true],
    ['+/+', 'a/b', true],
    ['+', 'a', true],
    ['+', '/a', false],
    ['a/#', 'a', true], // `#` includes the parent level
    ['a/#', 'a/', true],
    ['a/#', 'a/b', true],
    ['a/#', 'a/b/c/d', true],
    ['a/#', 'ab', false],
    ['a/#', 'b/a', false],
    ['#', 'a', true],
    ['#', 'a/b/c', true],
    ['#', '/', true],
    ['a/+/#', 'a/b', true],
    ['a/+/#', 'a', false],
    ['a/+/c', 'a/b/c', true],
    ['a/+/c', 'a/b/d', false],
    ['/#', '/a', true],
    ['/#', 'a', false],
    // `$` topics are not matched by a wildcard in the first level
    ['#', '$SYS/uploadToken', false],
    ['+/uploadToken', '$SYS/uploadToken', false],
    ['+/#', '$SYS', false],
    ['$SYS/#', '$SYS/uploadToken', true],
    ['$SYS/+', '$SYS/uploadToken', true],
    ['a/#', 'a/$x', true],
    // invalid input matches nothing
    ['a/#/b', 'a/x/b', false],
    ['a#', 'a#', false],
    ['', '', false],
    ['a/b', 'a/+', false],
    ['#', 'a/#', false],
    ['a/b', '', false],
    // unicode is compared exactly
    ['传感器/+', '传感器/温度', true],
    ['传感器/+', '传感器', false],
  ])('%j matches %j: %s', (filter, topic, expected) => {
    expect(matchesFilter(filter, topic)).toBe(expected);
  });
});

describe('filterCovers', () => {
  test.each<[string, string, boolean]>([
    ['a/#', 'a/b/+', true],
    ['a/#', 'a/#', true],
    ['a/#', 'a', true],
    ['a/#', 'a/+', true],
    ['a/#', 'a/+/#', true],
    ['a/#', 'b/#', false],
    ['a/#', '#', false],
    ['a/#', '+/b', false],
    ['a/+', 'a/b', true],
    ['a/+', 'a/+', true],
    ['a/+', 'a/#', false],
    ['a/+', 'a', false],
    ['a/+', 'a/b/c', false],
    ['a/+', 'a/+/c', false],
    ['a/b', 'a/b', true],
    ['a/b', 'a/+', false],
    ['a/b', 'a/#', false],
    ['a/b', 'a/b/c', false],
    ['a/b', 'a', false],
    ['a/+/#', 'a/b', true],
    ['a/+/#', 'a/+', true],
    ['a/+/#', 'a/#', false], // `a/#` also matches `a`
    ['a/+/#', 'a', false],
    ['a/+/c', 'a/b/c', true],
    ['a/+/c', 'a/+/c', true],
    ['a/+/c', 'a/b/+', false],
    ['+/b', 'x/b', true],
    ['+/b', '+/b', true],
    ['+/b', '#', false],
    ['+', '+', true],
    ['+', '#', false],
    ['#', '#', true],
    ['#', '+/x', true],
    ['#', 'a/b/c', true],
    ['#', '+', true],
    // `$` filters are only covered by a literal first level
    ['#', '$SYS/x', false],
    ['+/#', '$SYS/x', false],
    ['+/x', '$SYS/x', false],
    ['$SYS/#', '$SYS/x', true],
    ['$SYS/x', '+/x', false],
    // invalid filters
    ['a/#/b', 'a/x/b', false],
    ['a/#', 'a/#/b', false],
    ['', 'a', false],
    ['a', '', false],
  ])('%j covers %j: %s', (granted, requested, expected) => {
    expect(filterCovers(granted, requested)).toBe(expected);
  });

  // Cross-check with matchesFilter: when granted covers requested, every sample topic that the
  // requested filter matches must be matched by the granted filter too.
  const filters = ['#', '+', 'a', 'a/#', 'a/+', 'a/b', 'a/+/#', 'a/+/c', '+/b', '+/+', 'a/b/+', 'b/#', '$SYS/#', '+/#'];
  const topics = ['a', 'b', 'a/b', 'a/c', 'b/b', 'a/b/c', 'a/x/c', 'a/b/d', 'a/b/c/d', '', '/', 'a/', '$SYS', '$SYS/x', 'x/b', '/b'];
  test.each(filters.flatMap((g) => filters.map((r) => [g, r] as const)))('%j covers %j agrees with matching', (g, r) => {
    if (!filterCovers(g, r)) return;
    for (const t of topics.filter((t) => matchesFilter(r, t))) expect([t, matchesFilter(g, t)]).toEqual([t, true]);
  });
});

describe('rightsFor', () => {
  const rights = rightsFor([
    { res: ['sensors/#', 'cmd/+/set'], act: ['R'] },
    { res: ['sensors/room1/+', 'up/p2p/GID_x@@@peer'], act: ['W'] },
    { res: ['both/+'], act: ['R', 'W'] },
  ]);

  test.each<[string, boolean]>([
    ['sensors/room1/temp', true],
    ['sensors/room1', false],
    ['sensors/room2/temp', false],
    ['up/p2p/GID_x@@@peer', true],
    ['up/p2p/GID_x@@@other', false],
    ['both/x', true],
    ['both/x/y', false],
    ['cmd/a/set', false], // R only
    ['sensors/room1/+', false], // not a topic name
    ['$SYS/uploadToken', false],
  ])('canPublish(%j) = %s', (topic, expected) => {
    expect(rights.canPublish(topic)).toBe(expected);
  });

  test.each<[string, boolean]>([
    ['sensors/#', true],
    ['sensors/a/+', true],
    ['sensors', true],
    ['cmd/+/set', true],
    ['cmd/x/set', true],
    ['cmd/#', false],
    ['cmd/x/+', false],
    ['sensors/room1/+', true], // R through the first token, not the W one
    ['both/x', true],
    ['both/#', false],
    ['#', false],
    ['up/p2p/GID_x@@@peer', false], // W only
  ])('canSubscribe(%j) = %s', (filter, expected) => {
    expect(rights.canSubscribe(filter)).toBe(expected);
  });

  test('no tokens, no rights', () => {
    const none = rightsFor([]);
    expect(none.canPublish('a')).toBe(false);
    expect(none.canSubscribe('a')).toBe(false);
  });

  test('a subscription is covered by a single resource, not a union', () => {
    const split = rightsFor([{ res: ['a', 'a/+', 'a/+/#'], act: ['R'] }]);
    expect(split.canSubscribe('a/#')).toBe(false);
    expect(split.canSubscribe('a/b/c')).toBe(true);
  });
});

describe('isOwnP2PInbox', () => {
  test.each<[string, string, boolean]>([
    ['GID_a@@@dev', p2pInboxFilter('GID_a@@@dev'), true],
    ['GID_a@@@dev', '$mqbridge/p2p/GID_a%40%40%40dev/#', true],
    ['GID_a@@@dev', '$mqbridge/p2p/GID_a@@@dev/#', false], // not the inbox: the id is escaped there
    ['GID_a@@@dev', p2pInboxFilter('GID_a@@@other'), false],
    ['GID_a@@@dev', '$mqbridge/p2p/+/#', false],
    ['GID_a@@@dev', '$mqbridge/p2p/#', false],
    ['GID_a@@@dev', 'up/p2p/GID_a@@@dev', false],
  ])('%j, %j → %s', (id, filter, expected) => {
    expect(isOwnP2PInbox(id, filter)).toBe(expected);
  });
});
