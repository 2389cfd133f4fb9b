import { connect, type Socket } from 'node:net';
import WebSocket from 'ws';
import type { Bridge } from '../../bridge/bridge.js';
import { metricValue, startBridge } from './support/bridge.js';
import { GROUPS, TOPICS, sleep, uniqueId, waitFor } from './support/env.js';
import { Device } from './support/mqtt.js';
import { RawClient } from './support/raw.js';
import { AppConsumer } from './support/rocketmq.js';

/**
 * Every input a client controls is bounded by a setting, refused the way MQTT allows, logged and
 * counted, and the pod goes on serving everyone else.
 */
const BINDINGS = [{ mqttParentTopic: 'lim', rocketmqTopic: TOPICS.normal }];
let bridge: Bridge;
let app: AppConsumer;
const refusals = (b: Bridge, reason: string) => metricValue(b, 'mqbridge_refusals_total', { reason });

beforeAll(async () => {
  app = await AppConsumer.start(TOPICS.normal, GROUPS.appNormal);
  bridge = await startBridge(GROUPS.bridgeRefusals, {
    mqtt: {
      maxFiltersPerSubscribe: 5,
      maxSubscriptionsPerClient: 6,
      maxQueuedMessagesPerSession: 5,
      maxQos2InFlight: 3,
      connectTimeoutMs: 500,
      maxKeepaliveSeconds: 10,
    },
    websocket: { enabled: true, host: '127.0.0.1', port: 0 },
    // Every send after the first waits for a batch: a burst of devices shares one request.
    rocketmq: { sendBatch: { maxInFlight: 1 } },
    bindings: BINDINGS,
  });
});

afterAll(async () => {
  await bridge?.stop();
  await app?.stop();
});

const filters = (m: string, n: number) => Array.from({ length: n }, (_, i) => `lim/${m}/${i}`);

describe('subscriptions', () => {
  test('filters past maxFiltersPerSubscribe get 0x80, the others and the connection stay', async () => {
    const before = await refusals(bridge, 'too_many_filters');
    const d = await Device.connect(bridge.mqttPort);
    expect(await d.subscribeMany(filters(uniqueId('f'), 8))).toEqual([1, 1, 1, 1, 1, 128, 128, 128]);
    expect(await refusals(bridge, 'too_many_filters')).toBe(before + 3);
    expect(d.connected).toBe(true);
    await d.end();
  });

  test('subscriptions past maxSubscriptionsPerClient get 0x80; a resubscription is not a new one', async () => {
    const m = uniqueId('s');
    const d = await Device.connect(bridge.mqttPort);
    expect(await d.subscribeMany(filters(m, 4))).toEqual([1, 1, 1, 1]);
    expect(await d.subscribeMany([...filters(m, 4).slice(0, 2), `lim/${m}/a`, `lim/${m}/b`, `lim/${m}/c`])).toEqual([1, 1, 1, 1, 128]);
    await d.end();
  });
});

describe('sessions', () => {
  test('an offline queue keeps maxQueuedMessagesPerSession messages; the rest are counted', async () => {
    const m = uniqueId('q');
    const clientId = uniqueId('GID_lim@@@queue-');
    const before = await metricValue(bridge, 'mqbridge_offline_queue_dropped_total');
    const sub = await Device.connect(bridge.mqttPort, { clientId, clean: false });
    await sub.subscribe(`lim/${m}/#`, 1);
    await sub.end();
    const pub = await Device.connect(bridge.mqttPort);
    for (let i = 0; i < 8; i++) await pub.publish(`lim/${m}/x`, `m${i}`, 1);
    const back = await Device.connect(bridge.mqttPort, { clientId, clean: false });
    await waitFor('queued messages', () => (back.received.length >= 5 ? true : undefined));
    await sleep(500);
    expect(back.received.map((r) => r.payload.toString())).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    expect((await metricValue(bridge, 'mqbridge_offline_queue_dropped_total')) - before).toBe(3);
    await Promise.all([pub.end(), back.end()]);
  });

  test('a client id holds at most maxQos2InFlight QoS 2 messages awaiting PUBREL, across its connections', async () => {
    const clientId = uniqueId('GID_lim@@@qos2-');
    const before = await refusals(bridge, 'too_many_qos2_in_flight');
    const first = await RawClient.connected(bridge.mqttPort, clientId, 4, false);
    for (const id of [1, 2]) {
      first.send({ cmd: 'publish', topic: 'lim/q2', payload: Buffer.from('x'), qos: 2, messageId: id, dup: false, retain: false });
      await first.next('pubrec');
    }
    first.end();
    await first.closed;
    const second = await RawClient.connected(bridge.mqttPort, clientId, 4, false);
    second.send({ cmd: 'publish', topic: 'lim/q2', payload: Buffer.from('x'), qos: 2, messageId: 3, dup: false, retain: false });
    await second.next('pubrec');
    second.send({ cmd: 'publish', topic: 'lim/q2', payload: Buffer.from('x'), qos: 2, messageId: 4, dup: false, retain: false });
    expect(await second.closedWithin(5_000)).toBe(true);
    expect(await refusals(bridge, 'too_many_qos2_in_flight')).toBe(before + 1);
    // Completing the flows frees the slots again.
    const third = await RawClient.connected(bridge.mqttPort, clientId, 4, false);
    for (const id of [1, 2, 3]) {
      third.send({ cmd: 'pubrel', messageId: id });
      await third.next('pubcomp');
    }
    third.send({ cmd: 'publish', topic: 'lim/q2', payload: Buffer.from('x'), qos: 2, messageId: 4, dup: false, retain: false });
    await third.next('pubrec');
    third.end();
  });
});

describe('connections', () => {
  test('a socket that sends no CONNECT within connectTimeoutMs is closed and counted', async () => {
    const before = await refusals(bridge, 'connect_timeout');
    const raw = await RawClient.open(bridge.mqttPort);
    expect(await raw.closedWithin(3_000)).toBe(true);
    await waitFor('counted', async () => ((await refusals(bridge, 'connect_timeout')) > before ? true : undefined));
  });

  test('keep alive 0 is given the server maximum: a silent connection is closed after 1.5 × maxKeepaliveSeconds', async () => {
    const before = await metricValue(bridge, 'mqbridge_mqtt_keepalive_enforced_total');
    const raw = await RawClient.open(bridge.mqttPort);
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: uniqueId('GID_lim@@@silent-'), keepalive: 0 });
    await raw.next('connack');
    const t0 = Date.now();
    expect(await raw.closedWithin(20_000)).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(14_000);
    expect((await metricValue(bridge, 'mqbridge_mqtt_keepalive_enforced_total')) - before).toBe(1);
  }, 40_000);

  test('a WebSocket message larger than the largest packet is refused before it is buffered', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${bridge.portOf('ws')}/mqtt`, ['mqtt']);
    await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.on('error', () => undefined);
    ws.send(Buffer.alloc(8 * 1024 * 1024, 0x30));
    expect(await closed).toBe(1009); // Message Too Big, from ws at maxPayload
  });

  test('a will on a topic the client may not publish to refuses the CONNECT (not authorized)', async () => {
    const raw = await RawClient.open(bridge.mqttPort);
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: uniqueId('GID_lim@@@will-'), keepalive: 60, will: { topic: 'nowhere/offline', payload: Buffer.from('gone'), qos: 1, retain: false } });
    expect((await raw.next('connack')) as { returnCode: number }).toMatchObject({ returnCode: 5 });
    expect(await metricValue(bridge, 'mqbridge_auth_failures_total', { reason: 'will_not_allowed' })).toBeGreaterThanOrEqual(1);
    const ok = await Device.connect(bridge.mqttPort, { will: { topic: 'lim/will', payload: Buffer.from('gone'), qos: 1, retain: false } });
    await ok.end();
  });
});

test('a topic RocketMQ would refuse (a control character) fails its own PUBLISH only, not the devices sharing its send batch', async () => {
  const m = uniqueId('ctl');
  const before = await refusals(bridge, 'control_character');
  const devices = await Promise.all(Array.from({ length: 6 }, () => Device.connect(bridge.mqttPort)));
  const outcomes = await Promise.all(
    devices.map((d, i) => {
      const closed = d.waitClosed(30_000).then(() => 'refused');
      const acked = d.publish(i === 3 ? `lim/${m}/bad\u0001topic` : `lim/${m}/good${i}`, `p${i}`, 1).then(() => 'acked');
      return Promise.race([acked, closed]);
    }),
  );
  expect(outcomes).toEqual(['acked', 'acked', 'acked', 'refused', 'acked', 'acked']);
  await app.waitFor((msg) => (msg.properties.get('mqttSecondTopic') ?? '').startsWith(`/${m}/good`), 5);
  expect(await refusals(bridge, 'control_character')).toBe(before + 1);
  expect(devices.map((d) => d.connected)).toEqual([true, true, true, false, true, true]);
  await Promise.all(devices.map((d) => d.end()));
});

describe('connections per pod and per source address', () => {
  let small: Bridge;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    small = await startBridge(GROUPS.bridgeSubscribe, { mqtt: { maxConnections: 6, maxConnectionsPerSource: 4 }, bindings: BINDINGS });
  });

  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await small?.stop();
  });

  function open(localAddress: string): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: small.mqttPort, localAddress });
      sockets.push(s);
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    });
  }
  const closedSoon = (s: Socket) => new Promise<boolean>((r) => (s.destroyed ? r(true) : (s.once('close', () => r(true)), setTimeout(() => r(false), 1_000))));

  test('past maxConnectionsPerSource a source is closed at once; others still connect; past maxConnections everyone', async () => {
    const fromOne = await Promise.all([1, 2, 3, 4, 5].map(() => open('127.0.0.1')));
    expect(await Promise.all(fromOne.map(closedSoon))).toEqual([false, false, false, false, true]);
    const fromTwo = await Promise.all([1, 2, 3].map(() => open('127.0.0.2')));
    expect(await Promise.all(fromTwo.map(closedSoon))).toEqual([false, false, true]);
    expect(await refusals(small, 'too_many_connections_from_source')).toBe(1);
    expect(await refusals(small, 'too_many_connections')).toBe(1);
    // Full, the pod is not ready: Kubernetes sends new connections to other pods meanwhile.
    expect(small.readiness()).toMatchObject({ ready: false, checks: { roomForConnections: false } });
    fromOne[0]!.destroy();
    await sleep(100);
    expect(small.readiness()).toMatchObject({ ready: true, checks: { roomForConnections: true } });
    const again = await open('127.0.0.3');
    expect(await closedSoon(again)).toBe(false);
  });
});
