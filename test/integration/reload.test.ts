import { mkdtemp, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { Producer } from 'rocketmq-client-nodejs';
import { Bridge } from '../../bridge/bridge.js';
import { parseConfig } from '../../bridge/config/load.js';
import { configHash, parseConfigReport, type ConfigReport } from '../../bridge/config/report.js';
import { metricValue, testConfig, testLogger } from './support/bridge.js';
import { GROUPS, TOPICS, uniqueId, waitFor } from './support/env.js';
import { Device } from './support/mqtt.js';
import { AppConsumer, appProducer, appSend } from './support/rocketmq.js';

let dir: string;
let path: string;
let bridge: Bridge;
let app: AppConsumer;
let producer: Producer;
const base = testConfig(GROUPS.bridgeReload, { mqtt: { port: 0 } });

/** Writes the file the way a ConfigMap update lands: a new file renamed over the old. */
async function writeConfig(doc: unknown) {
  const tmp = `${path}.tmp`;
  await writeFile(tmp, typeof doc === 'string' ? doc : stringify(doc));
  await rename(tmp, path);
}

function withBindings(bindings: unknown[]) {
  return { ...base, reload: { pollMs: 100 }, bindings };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mqbridge-reload-'));
  path = join(dir, 'bridge.yaml');
  producer = await appProducer();
  app = await AppConsumer.start(TOPICS.reload, GROUPS.appReload);
  const doc = withBindings([{ mqttParentTopic: 'rl_a', rocketmqTopic: TOPICS.reload }]);
  await writeConfig(doc);
  bridge = await Bridge.start(parseConfig(doc), { configPath: path, configText: stringify(doc), log: testLogger() });
  await waitFor('ready', () => bridge.readiness().ready, 60_000);
});

afterAll(async () => {
  await bridge?.stop();
  await app?.stop();
  await producer?.shutdown();
});

test('bindings are added, changed and removed live; connected devices stay connected', async () => {
  const device = await Device.connect(bridge.mqttPort, { clientId: uniqueId('GID_rl@@@') });
  let closes = 0;
  device.client.on('close', () => closes++);
  expect(await device.subscribe('rl_a/#')).toBe(1);
  expect(await device.subscribe('rl_b/#')).toBe(128);

  // add rl_b (uplink and downlink)
  await writeConfig(withBindings([
    { mqttParentTopic: 'rl_a', rocketmqTopic: TOPICS.reload, direction: 'MqttToRocketmq' },
    { mqttParentTopic: 'rl_b', rocketmqTopic: TOPICS.down },
  ]));
  await waitFor('rl_b bound', () => bridge.bindings.forParent('rl_b'));
  const marker = uniqueId('r');
  await device.publish(`rl_a/${marker}`, 'through the changed binding', 1);
  await app.waitFor((m) => m.properties.get('mqttSecondTopic') === `/${marker}`);
  // rl_a is now uplink only: new subscriptions to it are refused; rl_b is open.
  expect(await device.subscribe('rl_a/more/#')).toBe(128);
  expect(await device.subscribe('rl_b/#')).toBe(1);
  await appSend(producer, TOPICS.down, 'down via new binding', { mqttSecondTopic: `/${marker}` });
  await waitFor('downlink through the added binding', () => device.received.find((r) => r.topic === `rl_b/${marker}`), 60_000);

  // remove rl_b: publishing there is refused again (for a fresh device), ours stays connected
  await writeConfig(withBindings([{ mqttParentTopic: 'rl_a', rocketmqTopic: TOPICS.reload }]));
  await waitFor('rl_b removed', () => (bridge.bindings.forParent('rl_b') ? undefined : true));
  const other = await Device.connect(bridge.mqttPort);
  const closed = other.waitClosed();
  void other.publish('rl_b/x', 'nope', 1).catch(() => undefined);
  await closed;

  // an invalid file is refused and the bindings in force stay
  const invalidBefore = await metricValue(bridge, 'mqbridge_config_reloads_total', { result: 'invalid' });
  await writeConfig('bindings: [{mqttParentTopic: x, rocketmqTopic: T}]');
  await waitFor('invalid reload counted', async () => (await metricValue(bridge, 'mqbridge_config_reloads_total', { result: 'invalid' })) > invalidBefore || undefined);
  expect(bridge.bindings.forParent('rl_a')).toBeDefined();

  await device.publish(`rl_a/${marker}/end`, 'still the same connection', 1);
  expect(device.connected).toBe(true);
  expect(closes).toBe(0);
  await device.end();
});

test('GET /configz reports the file in force, the sections waiting for a restart and a refused file', async () => {
  const configz = async () => (await fetch(`http://127.0.0.1:${bridge.httpPort}/configz`)).json() as Promise<ConfigReport>;
  const write = async (doc: unknown) => {
    await writeConfig(doc);
    return configHash(typeof doc === 'string' ? doc : stringify(doc));
  };

  const first = await write(withBindings([{ mqttParentTopic: 'rl_z', rocketmqTopic: TOPICS.reload, defaultQos: 0 }]));
  await waitFor('the new file in force', async () => ((await configz()).hash === first ? true : undefined));
  expect(await configz()).toEqual({
    hash: first,
    bindings: [{ mqttParentTopic: 'rl_z', rocketmqTopic: TOPICS.reload, direction: 'Bidirectional', defaultQos: 0 }],
    restartPending: [],
  });

  // The bindings of a file that also changes a restart-only section are in force; the rest waits.
  const second = await write({ ...withBindings([{ mqttParentTopic: 'rl_y', rocketmqTopic: TOPICS.reload }]), mqtt: { ...base.mqtt, maxPayloadBytes: 4096 } });
  await waitFor('the second file in force', async () => ((await configz()).hash === second ? true : undefined));
  expect(await configz()).toMatchObject({ bindings: [{ mqttParentTopic: 'rl_y' }], restartPending: ['mqtt'] });

  // A file the bridge refuses is named with its problems; the report still says what runs.
  const refused = await write('bindings: [{mqttParentTopic: x, rocketmqTopic: T}]');
  await waitFor('the refusal reported', async () => ((await configz()).rejected?.hash === refused ? true : undefined));
  const report = await configz();
  expect(report.hash).toBe(second);
  expect(report.rejected!.problems.join('\n')).toMatch(/rocketmqTopic|mqttParentTopic/);
  expect(parseConfigReport(report)).toEqual(report);
});
