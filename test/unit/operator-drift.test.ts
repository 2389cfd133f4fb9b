import { containsDesired, managedPaths, objectPaths, ownsFieldsNoLongerDesired } from '../../operator/reconcile/drift.js';

describe('containsDesired', () => {
  test.each([
    [{ a: 1, b: 2 }, { a: 1 }, true],
    [{ a: 1 }, { a: 2 }, false],
    [{ a: { b: [1, 2], c: 'x' } }, { a: { b: [1, 2] } }, true],
    [{ a: [1, 2, 3] }, { a: [1, 2] }, false],
    [{ a: [{ x: 1, y: 2 }] }, { a: [{ x: 1 }] }, true],
    [{ q: '1' }, { q: 1 }, true],
    [{}, { a: undefined }, true],
    [{ a: null }, { a: {} }, false],
  ])('%j contains %j: %s', (live, desired, expected) => {
    expect(containsDesired(live, desired)).toBe(expected);
  });
});

describe('managed field paths', () => {
  const fieldsV1 = {
    'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} }, 'f:ownerReferences': { '.': {}, 'k:{"uid":"1"}': {} } },
    'f:spec': {
      'f:replicas': {},
      'f:selector': {},
      'f:template': { 'f:spec': { 'f:containers': { 'k:{"name":"bridge"}': { '.': {}, 'f:image': {}, 'f:args': {} } } } },
    },
  };

  test('managedPaths lists the leaves, list elements as []', () => {
    expect([...managedPaths(fieldsV1)].sort()).toEqual([
      'metadata.labels.app',
      'metadata.ownerReferences[]',
      'spec.replicas',
      'spec.selector',
      'spec.template.spec.containers[].args',
      'spec.template.spec.containers[].image',
    ]);
  });

  test('objectPaths treats a list of scalars as one leaf', () => {
    expect([...objectPaths({ a: { b: ['x', 'y'], c: [{ d: 1 }] }, e: {} })].sort()).toEqual(['a.b', 'a.c[].d', 'e']);
  });

  const desired = {
    metadata: { labels: { app: 'x' }, ownerReferences: [{ uid: '1', kind: 'MqttBridge' }] },
    spec: { replicas: 1, selector: { matchLabels: { app: 'x' } }, template: { spec: { containers: [{ name: 'bridge', image: 'i', args: ['a'] }] } } },
  };

  test.each([
    ['nothing dropped', desired, false],
    ['replicas dropped (autoscaling on)', { ...desired, spec: { ...desired.spec, replicas: undefined } }, true],
    ['image dropped', { ...desired, spec: { ...desired.spec, template: { spec: { containers: [{ name: 'bridge', args: ['a'] }] } } } }, true],
  ])('%s → apply needed: %s', (_name, want, expected) => {
    const live = { metadata: { managedFields: [{ manager: 'op', operation: 'Apply', fieldsV1 }] } };
    expect(ownsFieldsNoLongerDesired(live, JSON.parse(JSON.stringify(want)), 'op')).toBe(expected);
  });

  test('other managers and the status subresource do not count', () => {
    const live = { metadata: { managedFields: [{ manager: 'kubectl', operation: 'Update', fieldsV1 }, { manager: 'op', operation: 'Apply', subresource: 'status', fieldsV1 }] } };
    expect(ownsFieldsNoLongerDesired(live, {}, 'op')).toBe(false);
  });
});
