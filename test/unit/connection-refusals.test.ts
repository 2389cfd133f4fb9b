import { pino } from 'pino';
import { ConnectionRefusals } from '../../bridge/observability/connection-refusals.js';
import { BridgeMetrics } from '../../bridge/observability/metrics.js';

async function refusals(metrics: BridgeMetrics, reason: string): Promise<number> {
  const { values } = await metrics.registry.getSingleMetric('mqbridge_refusals_total')!.get();
  return values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

test('every refused connection is counted; one line per 10 s is logged, with the connection count', async () => {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  const metrics = new BridgeMetrics();
  let now = 1_000_000;
  const connectionRefusals = new ConnectionRefusals(metrics, log, () => now);
  connectionRefusals.report('too_many_connections', '10.0.0.7', 500);
  connectionRefusals.report('too_many_connections', '10.0.0.8', 500);
  now += 9_999;
  connectionRefusals.report('too_many_connects_waiting', 'any', 500, '100 waiting');
  now += 1;
  connectionRefusals.report('tls_client_certificate_rejected', '10.0.0.9', 499, 'unable to verify the first certificate');
  expect(lines.map((l) => [l.reason, l.source, l.connections, l.detail])).toEqual([
    ['too_many_connections', '10.0.0.7', 500, undefined],
    ['tls_client_certificate_rejected', '10.0.0.9', 499, 'unable to verify the first certificate'],
  ]);
  expect(await refusals(metrics, 'too_many_connections')).toBe(2);
  expect(await refusals(metrics, 'too_many_connects_waiting')).toBe(1);
});
