import type { Client, PublishPacket } from 'aedes';
import { pino } from 'pino';
import { BindingTable } from '../../bridge/mapping/bindings.js';
import { BridgeMetrics } from '../../bridge/observability/metrics.js';
import type { RocketmqProducer } from '../../bridge/rocketmq/producer.js';
import { UplinkService } from '../../bridge/uplink/service.js';

const bindings = new BindingTable([{ mqttParentTopic: 'dev', rocketmqTopic: 'T', direction: 'Bidirectional', defaultQos: 1 }]);

/** A producer that fails with the given error codes first, then stores. */
function producer(failures: number[]) {
  const sent: unknown[] = [];
  return {
    sent,
    send: async (message: unknown) => {
      const code = failures.shift();
      if (code !== undefined) throw Object.assign(new Error(`response-code=${code}`), { code });
      sent.push(message);
    },
  };
}

function service(p: ReturnType<typeof producer>, records = new Set<string>()) {
  const metrics = new BridgeMetrics();
  const uplink = new UplinkService({
    bindings: () => bindings,
    producer: p as unknown as RocketmqProducer,
    limits: { maxPayloadBytes: 1024, maxTopicLength: 128 },
    timeoutMs: 2_000,
    origin: 'test',
    metrics,
    log: pino({ level: 'silent' }),
    qos2Records: {
      has: async (c, id) => records.has(`${c}:${id}`),
      delete: async (c, id) => void records.delete(`${c}:${id}`),
    },
    sessionEpochOf: () => 'e1',
    maxQos2InFlight: 10,
  });
  return { uplink, metrics };
}

const client = { id: 'GID_u@@@d1', clean: false, closed: false } as unknown as Client;
const publish = (qos: 0 | 1 | 2, messageId: number, dup = false) => ({ cmd: 'publish', topic: 'dev/x', payload: Buffer.from('p'), qos, messageId, dup, retain: false }) as unknown as PublishPacket;
const authorize = (u: UplinkService, packet: PublishPacket) => new Promise<Error | null | undefined>((resolve) => u.authorizePublish(client, packet, resolve));

test.each([
  [50401, 'flush_timeout'],
  [50402, 'replica_timeout'],
  [50002, 'replica_unavailable'],
])('RocketMQ answer %i means stored, less durably: acknowledged, counted, not sent again', async (code, reason) => {
  const p = producer([code]);
  const { uplink, metrics } = service(p);
  expect(await authorize(uplink, publish(1, 1))).toBeNull();
  expect(p.sent).toHaveLength(0); // the failed attempt stored it; no second send
  expect((await metrics.sendDegraded.get()).values.find((v) => v.labels.reason === reason)?.value).toBe(1);
});

test('a transient error is retried until it is stored', async () => {
  const p = producer([50400, 50000]);
  const { uplink, metrics } = service(p);
  expect(await authorize(uplink, publish(1, 2))).toBeNull();
  expect(p.sent).toHaveLength(1);
  expect((await metrics.sendRetries.get()).values[0]?.value).toBe(2);
});

test('QoS 1 and 2 messages carry <clientId>:<epoch>:<packet id> as their key; QoS 0 none', async () => {
  const p = producer([]);
  const { uplink } = service(p);
  await authorize(uplink, publish(1, 7));
  await authorize(uplink, publish(0, 0));
  expect(p.sent.map((m) => (m as { keys?: string[] }).keys)).toEqual([['GID_u@@@d1:e1:7'], undefined]);
});

test('QoS 2: a DUP of a stored PUBLISH is not sent again; a new PUBLISH with the id clears an old record first', async () => {
  const records = new Set(['GID_u@@@d1:5']);
  const p = producer([]);
  const { uplink } = service(p, records);
  await authorize(uplink, publish(2, 5, true)); // the record says: stored on an earlier connection
  expect(p.sent).toHaveLength(0);
  await authorize(uplink, publish(2, 5, false)); // a new message with the id
  expect(records.has('GID_u@@@d1:5')).toBe(false);
  await authorize(uplink, publish(2, 5, true)); // its DUP on this connection
  expect(p.sent).toHaveLength(1);
});
