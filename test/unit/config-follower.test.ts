import { takesText } from '../../bridge/config/follower.js';

describe('takesText: which config text replaces the one in force', () => {
  const once = new Set(['A', 'B']);
  test.each<[string, 'file' | 'configmap', string, boolean, boolean]>([
    ['the text in force again, from the API', 'configmap', 'C', true, false],
    ['the text in force again, from the file', 'file', 'C', true, false],
    ['a new text from the API', 'configmap', 'D', true, true],
    ['a revert from the API (a text once in force)', 'configmap', 'A', true, true],
    ['a stale text from the file while the API is followed', 'file', 'B', true, false],
    ['a never-seen text from the file while the API is followed (a missed event)', 'file', 'D', true, true],
    ['a revert from the file when only the file is followed', 'file', 'A', false, true],
    ['a new text from the file when only the file is followed', 'file', 'D', false, true],
  ])('%s', (_name, source, hash, following, want) => {
    expect(takesText(source, hash, 'C', once, following)).toBe(want);
  });
});
