import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeRest } from '../../operator/k8s/rest.js';

/** An API server that answers with a body that never ends: the socket is never idle for long. */
let server: Server;
let kc: KubeConfig;

beforeAll(async () => {
  server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    const drip = setInterval(() => res.write(' '), 20);
    res.on('close', () => clearInterval(drip));
  }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
});

afterAll(() => {
  server.closeAllConnections();
  server.close();
});

test('a call ends at its deadline even while the answer trickles in', async () => {
  const rest = new KubeRest(kc, () => undefined, 300);
  await expect(rest.get('/api/v1/namespaces/x/configmaps/y')).rejects.toThrow(/no answer within 300 ms/);
});
