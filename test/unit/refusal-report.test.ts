import { pino } from 'pino';
import { BridgeMetrics } from '../../bridge/observability/metrics.js';
import { reportRefusal } from '../../bridge/observability/refusal-report.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { log, lines };
}

test('a refusal is counted under its reason and logged once with the reason, its detail and the context', async () => {
  const metrics = new BridgeMetrics();
  const { log, lines } = capture();
  reportRefusal(metrics, log, { reason: 'not_authorized', detail: 'no W token covers a/b' }, { clientId: 'GID_x@@@1', topic: 'a/b' }, 'PUBLISH refused; disconnecting client');
  reportRefusal(metrics, log, { reason: 'p2p_target_offline' }, { target: 'GID_x@@@2' }, 'P2P target offline; message not kept', 'debug');
  expect(lines).toEqual([
    expect.objectContaining({ level: 40, clientId: 'GID_x@@@1', topic: 'a/b', reason: 'not_authorized', detail: 'no W token covers a/b', msg: 'PUBLISH refused; disconnecting client' }),
    expect.objectContaining({ level: 20, target: 'GID_x@@@2', reason: 'p2p_target_offline', msg: 'P2P target offline; message not kept' }),
  ]);
  expect(lines[1]).not.toHaveProperty('detail');
  const counted = (await metrics.refusals.get()).values.map((v) => [v.labels.reason, v.value]);
  expect(counted).toEqual(expect.arrayContaining([['not_authorized', 1], ['p2p_target_offline', 1]]));
});
