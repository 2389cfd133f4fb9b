import { createServer, connect, type Server } from 'node:net';
import { Aedes } from 'aedes';
import mqttPacket from 'mqtt-packet';
import { pino } from 'pino';
import { parseConfigText } from '../../bridge/config/load.js';
import { ConnectPacer } from '../../bridge/mqtt/connect-pacer.js';
import { ConnectionLimiter } from '../../bridge/mqtt/connection-limiter.js';
import { ListenerSet } from '../../bridge/mqtt/listener-set.js';
import type { ListenerContext } from '../../bridge/mqtt/listeners.js';
import { BridgeMetrics } from '../../bridge/observability/metrics.js';

const log = pino({ level: 'silent' });
let aedes: Aedes;
let context: ListenerContext;

beforeEach(async () => {
  aedes = await Aedes.createBroker();
  const limiter = new ConnectionLimiter({ maxConnections: 10, maxConnectionsPerSource: 0 }, () => undefined);
  const pacer = new ConnectPacer({ connectsPerSecond: 1000, maxWaiting: 10 }, () => undefined);
  context = { aedes, limiter, pacer, maxPacketBytes: 65_536, onCertificateRejected: () => undefined };
});
afterEach(() => new Promise<void>((resolve) => aedes.close(() => resolve())));

function open(yaml: string, startTokenApi: (secure?: unknown) => Promise<Server> = () => Promise.reject(new Error('not wanted'))) {
  return ListenerSet.open({ context, config: parseConfigText(yaml), startTokenApi, metrics: new BridgeMetrics(), log });
}

/** A CONNECT on a fresh TCP connection: the CONNACK's return code, or undefined when the connection fails. */
function connackFrom(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p) => (socket.destroy(), resolve(p.cmd === 'connack' ? p.returnCode : undefined)));
    socket.on('data', (d) => parser.parse(d));
    socket.on('error', () => resolve(undefined));
    socket.on('connect', () => socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'probe', keepalive: 30 })));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function listenOn(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer().once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}

test('opens the listeners the config enables, hands their connections to the broker, and closes them all', async () => {
  const set = await open('mqtt: {host: 127.0.0.1, port: 0}\nwebsocket: {enabled: true, host: 127.0.0.1, port: 0}\n');
  expect(set.listening).toBe(true);
  expect(Object.keys(set.ports())).toEqual(['tcp', 'ws']);
  expect(set.portOf('tls')).toBe(0);
  expect(set.portOf('tokenApi')).toBe(0);
  const tcp = set.portOf('tcp');
  expect(await connackFrom(tcp)).toBe(0);
  await set.close();
  expect(set.listening).toBe(false);
  expect(await connackFrom(tcp)).toBeUndefined();
});

test('a listener that cannot listen fails the start, and the ones opened before it are closed again', async () => {
  const [tcp, taken] = [await freePort(), await freePort()];
  const squatter = await listenOn(taken);
  try {
    await expect(open(`mqtt: {host: 127.0.0.1, port: ${tcp}}\nwebsocket: {enabled: true, host: 127.0.0.1, port: ${taken}}\n`)).rejects.toThrow('EADDRINUSE');
    // The TCP listener opened first; it let its port go.
    (await listenOn(tcp)).close();
  } finally {
    squatter.close();
  }
});

test('the token API is started only when the config enables it, without TLS when there is no certificate', async () => {
  let secureGiven: unknown = 'not called';
  const tokenServer = createServer();
  const set = await open(
    'mqtt: {host: 127.0.0.1, port: 0}\nauth: {mode: Token, instanceId: i1, accessKeysDir: /keys, tokenApi: {enabled: true, host: 127.0.0.1, port: 0}}\n',
    (secure) => ((secureGiven = secure), new Promise<Server>((resolve) => tokenServer.listen(0, '127.0.0.1', () => resolve(tokenServer)))),
  );
  expect(secureGiven).toBeUndefined();
  expect(set.portOf('tokenApi')).toBeGreaterThan(0);
  await set.close();
  expect(tokenServer.listening).toBe(false);
});
