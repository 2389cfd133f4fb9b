import { connect } from 'node:net';
import { testConfig } from './support/bridge.js';
import { GROUPS, TOPICS, uniqueId, waitFor } from './support/env.js';
import { Device } from './support/mqtt.js';
import { spawnBridge } from './support/process.js';
import { AppConsumer } from './support/rocketmq.js';

let app: AppConsumer;

beforeAll(async () => {
  app = await AppConsumer.start(TOPICS.normal, GROUPS.appNormal);
});

afterAll(async () => {
  await app?.stop();
});

function refusesConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => { s.destroy(); resolve(false); });
    s.once('error', () => resolve(true));
  });
}

test('SIGTERM: listeners close, in-flight sends finish (their PUBACKs arrive), the process exits 0', async () => {
  const config = testConfig(GROUPS.bridgeSigterm, { bindings: [{ mqttParentTopic: 'sig', rocketmqTopic: TOPICS.normal }] });
  const proc = await spawnBridge(config);
  await waitFor('ready', async () => (await fetch(`http://127.0.0.1:${proc.httpPort}/readyz`)).ok || undefined, 60_000);

  const device = await Device.connect(proc.mqttPort, { clientId: uniqueId('GID_sig@@@') });
  const marker = uniqueId('sig');
  const acked: number[] = [];
  const n = 300;
  const publishes = Array.from({ length: n }, (_, i) => device.publish(`sig/${marker}`, String(i), 1).then(() => acked.push(i), () => undefined));
  await waitFor('some sends in flight', () => (acked.length > 5 ? true : undefined), 20_000, 1);
  proc.child.kill('SIGTERM');

  expect(await proc.exited).toBe(0);
  expect(await refusesConnections(proc.mqttPort)).toBe(true);
  await Promise.race([Promise.all(publishes), new Promise((r) => setTimeout(r, 2_000))]);
  // Every message the device got a PUBACK for is in RocketMQ.
  const stored = await app.waitFor((m) => m.properties.get('mqttSecondTopic') === `/${marker}`, acked.length);
  const storedBodies = new Set(stored.map((m) => Number(m.body.toString())));
  expect(acked.filter((i) => !storedBodies.has(i))).toEqual([]);
  expect(proc.logs.some((l) => l.msg === 'stopped')).toBe(true);
  console.info(`SIGTERM with sends in flight: ${acked.length}/${n} acknowledged before the connection closed, all of them stored`);
  await device.end();
});

test('a bad config file exits 1 with a message naming the field', async () => {
  await expect(spawnBridge({ mqtt: { port: 'x' }, bindings: [{ mqttParentTopic: 'a', rocketmqTopic: 'T' }] })).rejects.toThrow(
    /mqtt\.port.*bindings\[0\]\.mqttParentTopic/s,
  );
});
