import { splitTopic } from '../../bridge/mapping/topics.js';
import { p2pInboxFilter, p2pInternalTopic, p2pTargetOf, p2pTargetOfInternal, shownTopicOf } from '../../bridge/mapping/p2p.js';

describe('topics', () => {
  test.each([
    ['a/b/c', 'a', '/b/c'],
    ['abc', 'abc', undefined],
    ['abc/', 'abc', '/'],
    ['/x', '', '/x'],
  ])('splitTopic(%j) → parent %j, second %j', (topic, parent, second) => {
    expect(splitTopic(topic)).toEqual({ parent, second });
  });

  test.each([
    ['/p2p/GID_a@@@b', 'GID_a@@@b'],
    ['/p2p/id/extra', 'id'],
    ['/p2p/', undefined],
    ['/p2p', undefined],
    ['/p2px/a', undefined],
    [undefined, undefined],
  ])('p2pTargetOf(%j) → %j', (second, target) => {
    expect(p2pTargetOf(second)).toBe(target);
  });

  test.each(['GID_a@@@dev-1', 'with/slash', 'plus+hash#', 'ünïcode'])('the P2P inbox of %j is one level and round-trips the shown topic', (id) => {
    const filter = p2pInboxFilter(id);
    expect(filter.split('/')).toHaveLength(4);
    expect(filter.slice(0, -2)).not.toMatch(/[+#]/);
    const internal = p2pInternalTopic(id, 'parent/p2p/x');
    expect(internal.startsWith(filter.slice(0, -1))).toBe(true);
    expect(shownTopicOf(internal)).toBe('parent/p2p/x');
    expect(p2pTargetOfInternal(internal)).toBe(id);
  });

  test.each([
    ['sensors/a', undefined],
    ['$mqbridge/p2p/', undefined],
    ['$mqbridge/p2p/dev-1', undefined],
    ['$mqbridge/p2p//x', undefined],
    ['$mqbridge/p2p/%E0%A4%A/x', undefined], // not valid percent-encoding
    ['$mqbridge/p2p/dev-1/x/p2p/dev-1', 'dev-1'],
  ])('p2pTargetOfInternal(%j) → %j', (topic, target) => {
    expect(p2pTargetOfInternal(topic)).toBe(target);
  });

  test('shownTopicOf leaves ordinary topics alone', () => {
    expect(shownTopicOf('sensors/a')).toBeUndefined();
  });
});
