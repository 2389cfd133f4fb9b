import { execFile } from 'node:child_process';
import { copyFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { IClientOptions } from 'mqtt';
import type { Bridge } from '../../bridge/bridge.js';
import { metricValue, startBridge } from './support/bridge.js';
import { GROUPS, TOPICS, uniqueId, waitFor } from './support/env.js';
import { Device } from './support/mqtt.js';
import { makePki, type Pki } from './support/pki.js';

const run = promisify(execFile);
let pki: Pki;
let bridge: Bridge;
let served: { cert: string; key: string };

beforeAll(async () => {
  pki = await makePki();
  // The bridge serves copies, so the test can "renew" the certificate in place like a Secret update.
  served = { cert: join(pki.dir, 'served.crt'), key: join(pki.dir, 'served.key') };
  await copyFile(pki.serverCert, served.cert);
  await copyFile(pki.serverKey, served.key);
  bridge = await startBridge(GROUPS.bridgeTls, {
    tls: { enabled: true, port: 0, host: '127.0.0.1', certFile: served.cert, keyFile: served.key, reloadPollMs: 200 },
    websocket: { enabled: true, port: 0, host: '127.0.0.1', securePort: 0 },
    bindings: [{ mqttParentTopic: 'tlsx', rocketmqTopic: TOPICS.down }],
  });
});

afterAll(async () => {
  await bridge?.stop();
});

/** Connects, subscribes, publishes and waits for its own message back through RocketMQ and the bridge. */
async function roundTrip(options: IClientOptions): Promise<void> {
  const device = await Device.connect(0, { reconnectPeriod: 0, ...options });
  const topic = `tlsx/${uniqueId('t')}`;
  await device.subscribe(topic, 1);
  await device.publish(topic, 'over a secure transport', 1);
  await waitFor(`message on ${topic}`, () => device.received.find((r) => r.topic === topic));
  await device.end();
}

async function refused(options: IClientOptions): Promise<string> {
  try {
    const device = await Device.connect(0, { reconnectPeriod: 0, connectTimeout: 5_000, ...options });
    await device.end();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('connection was accepted');
}

const ca = async (file: string) => [await readFile(file)];

describe('transports', () => {
  test('MQTT over TLS with the test CA', async () => {
    await roundTrip({ protocol: 'mqtts', port: bridge.portOf('tls'), ca: await ca(pki.ca), servername: 'localhost' });
  });

  test('a client trusting another CA refuses the server certificate', async () => {
    expect(await refused({ protocol: 'mqtts', port: bridge.portOf('tls'), ca: await ca(pki.otherCa) })).toMatch(/self[- ]signed|unable to verify|certificate/i);
  });

  test('mosquitto_pub over TLS', async () => {
    const topic = `tlsx/${uniqueId('mosq')}`;
    const listener = await Device.connect(bridge.mqttPort);
    await listener.subscribe(topic, 1);
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(bridge.portOf('tls')), '--cafile', pki.ca, '-q', '1', '-t', topic, '-m', 'from mosquitto over TLS']);
    await waitFor('mosquitto message', () => listener.received.find((r) => r.topic === topic));
    await listener.end();
  });

  test('MQTT over WebSocket and secure WebSocket at /mqtt', async () => {
    await roundTrip({ protocol: 'ws', port: bridge.portOf('ws'), path: '/mqtt' });
    await roundTrip({ protocol: 'wss', port: bridge.portOf('wss'), path: '/mqtt', ca: await ca(pki.ca) });
    expect(await refused({ protocol: 'ws', port: bridge.portOf('ws'), path: '/other' })).toMatch(/Unexpected server response|400|404|closed/i);
  });

  test('a renewed certificate is served without a restart; an expired one is refused by clients', async () => {
    const before = await metricValue(bridge, 'mqbridge_tls_reloads_total', { result: 'applied' });
    await copyFile(pki.expiredCert, served.cert);
    await copyFile(join(pki.dir, 'expired.key'), served.key);
    await waitFor('reload', async () => ((await metricValue(bridge, 'mqbridge_tls_reloads_total', { result: 'applied' })) > before ? true : undefined));
    expect(await refused({ protocol: 'mqtts', port: bridge.portOf('tls'), ca: await ca(pki.ca) })).toMatch(/expired/i);
    await copyFile(pki.serverCert, served.cert);
    await copyFile(pki.serverKey, served.key);
    await waitFor('reload back', async () => ((await metricValue(bridge, 'mqbridge_tls_reloads_total', { result: 'applied' })) > before + 1 ? true : undefined));
    await roundTrip({ protocol: 'mqtts', port: bridge.portOf('tls'), ca: await ca(pki.ca) });
  });
});

describe('mutual TLS', () => {
  let mtls: Bridge;

  beforeAll(async () => {
    mtls = await startBridge(GROUPS.bridgeMtls, {
      tls: { enabled: true, port: 0, host: '127.0.0.1', certFile: pki.serverCert, keyFile: pki.serverKey, caFile: pki.ca, clientAuth: 'Require' },
      bindings: [{ mqttParentTopic: 'tlsx', rocketmqTopic: TOPICS.down }],
    });
  });

  afterAll(async () => {
    await mtls?.stop();
  });

  test('a client certificate from the CA is required', async () => {
    const base = { protocol: 'mqtts' as const, port: mtls.portOf('tls'), ca: await ca(pki.ca) };
    await roundTrip({ ...base, cert: await readFile(pki.clientCert), key: await readFile(pki.clientKey) });
    expect(await refused(base)).toMatch(/certificate|alert|closed|ECONNRESET|handshake/i);
    expect(await refused({ ...base, cert: await readFile(pki.otherClientCert), key: await readFile(pki.otherClientKey) })).toMatch(/certificate|alert|closed|ECONNRESET|unknown ca/i);
  });
});

describe('mutual TLS: the certificate is verified when presented and names the client id', () => {
  let optional: Bridge;
  let bound: Bridge;

  beforeAll(async () => {
    const tls = { enabled: true, port: 0, host: '127.0.0.1', certFile: pki.serverCert, keyFile: pki.serverKey, caFile: pki.ca };
    optional = await startBridge(GROUPS.bridgeTls, { tls: { ...tls, clientAuth: 'Optional' }, bindings: [{ mqttParentTopic: 'tlsx', rocketmqTopic: TOPICS.down, direction: 'MqttToRocketmq' }] });
    bound = await startBridge(GROUPS.bridgeMtls, { tls: { ...tls, clientAuth: 'Require', clientIdFromCertificate: true }, bindings: [{ mqttParentTopic: 'tlsx', rocketmqTopic: TOPICS.down, direction: 'MqttToRocketmq' }] });
  });

  afterAll(async () => {
    await Promise.all([optional?.stop(), bound?.stop()]);
  });

  test('clientAuth Optional: no certificate is fine, a certificate that does not verify is refused', async () => {
    const base = { protocol: 'mqtts' as const, port: optional.portOf('tls'), ca: await ca(pki.ca) };
    const none = await Device.connect(0, { reconnectPeriod: 0, ...base });
    await none.end();
    const good = await Device.connect(0, { reconnectPeriod: 0, ...base, clientId: 'GID_tls@@@dev1', cert: await readFile(pki.clientCert), key: await readFile(pki.clientKey) });
    await good.end();
    const before = await metricValue(optional, 'mqbridge_refusals_total', { reason: 'tls_client_certificate_rejected' });
    expect(await refused({ ...base, cert: await readFile(pki.otherClientCert), key: await readFile(pki.otherClientKey) })).toMatch(/closed|ECONNRESET|socket/i);
    expect(await metricValue(optional, 'mqbridge_refusals_total', { reason: 'tls_client_certificate_rejected' })).toBe(before + 1);
  });

  test('tls.clientIdFromCertificate: a client id other than the certificate subject CN is not authorized', async () => {
    const base = { protocol: 'mqtts' as const, port: bound.portOf('tls'), ca: await ca(pki.ca), cert: await readFile(pki.clientCert), key: await readFile(pki.clientKey) };
    const own = await Device.connect(0, { reconnectPeriod: 0, ...base, clientId: 'GID_tls@@@dev1' });
    await own.end();
    expect(await refused({ ...base, clientId: 'GID_tls@@@dev2' })).toMatch(/Not authorized/);
  });
});
