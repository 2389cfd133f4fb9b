import type { Condition } from '../../operator/api/types.js';
import { setConditions } from '../../operator/status/conditions.js';

const t0 = new Date('2026-01-01T00:00:00.000Z');
const t1 = new Date('2026-01-01T00:05:00.000Z');

describe('setConditions', () => {
  const ready = (status: Condition['status'], reason: string, observedGeneration = 1) => ({ type: 'Ready', status, reason, message: reason, observedGeneration });

  test('a new condition gets the current time', () => {
    expect(setConditions([], [ready('False', 'Reconciling')], t0)).toEqual([{ ...ready('False', 'Reconciling'), lastTransitionTime: '2026-01-01T00:00:00Z' }]);
  });

  test.each([
    ['same status, new reason', 'False', 'Other', '2026-01-01T00:00:00Z'],
    ['status flips', 'True', 'Ready', '2026-01-01T00:05:00Z'],
  ] as const)('%s → lastTransitionTime %s', (_name, status, reason, expected) => {
    const before = setConditions([], [ready('False', 'Reconciling')], t0);
    const after = setConditions(before, [ready(status, reason, 2)], t1);
    expect(after[0]).toMatchObject({ status, reason, observedGeneration: 2, lastTransitionTime: expected });
  });

  test('conditions not mentioned are kept, order is stable', () => {
    const before = setConditions([], [ready('True', 'Ready'), { type: 'Stalled', status: 'False', reason: 'Ok', message: '' }], t0);
    const after = setConditions(before, [{ type: 'Reconciling', status: 'False', reason: 'Done', message: '' }], t1);
    expect(after.map((c) => c.type)).toEqual(['Ready', 'Reconciling', 'Stalled']);
  });
});
