import { createServer, type AddressInfo, type Server } from 'node:net';
import mqtt from 'mqtt';
import { endOpenClients, trackClient } from '../integration/support/open-clients.js';

// A server that takes every connection and drops it: an MQTT client with a reconnect period
// goes on trying, as one does after its test failed and its bridge was stopped.
let server: Server;
let attempts = 0;

beforeAll(async () => {
  server = createServer((s) => {
    attempts++;
    s.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const port = () => (server.address() as AddressInfo).port;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('endOpenClients ends a client left reconnecting, and it stops trying', async () => {
  const client = trackClient(mqtt.connect({ host: '127.0.0.1', port: port(), clientId: 'left-open', reconnectPeriod: 20 }));
  client.on('error', () => undefined);
  await sleep(300);
  expect(attempts).toBeGreaterThan(2);
  expect(await endOpenClients()).toEqual(['left-open']);
  const after = attempts;
  await sleep(300);
  expect(attempts).toBe(after);
  expect(await endOpenClients()).toEqual([]);
});

test('a client its test ended is no longer tracked', async () => {
  const client = trackClient(mqtt.connect({ host: '127.0.0.1', port: port(), clientId: 'ended', reconnectPeriod: 0 }));
  client.on('error', () => undefined);
  await client.endAsync(true);
  expect(await endOpenClients()).toEqual([]);
});
