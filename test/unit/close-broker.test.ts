import { once } from 'node:events';
import { createRequire } from 'node:module';
import { createServer, type AddressInfo } from 'node:net';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { closeBroker } from '../../bridge/mqtt/close-broker.js';

type Emitter = { removeListener(topic: string, listener: unknown, done?: () => void): void };
const createEmitter = createRequire(import.meta.url)('mqemitter') as () => Emitter;

/** An emitter whose unsubscriptions take a while, as they may with Redis behind them. */
function slowUnsubscribing(ms: number): Emitter {
  const mq = createEmitter();
  const removeListener = mq.removeListener.bind(mq);
  mq.removeListener = (topic, listener, done) => removeListener(topic, listener, () => setTimeout(() => done?.(), ms));
  return mq;
}

test('closeBroker waits for a client that was already closing, so the will of its clean DISCONNECT is deleted first', async () => {
  const aedes = await Aedes.createBroker({ mq: slowUnsubscribing(300) as never });
  const server = createServer((socket) => aedes.handle(socket)).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const inside = aedes as unknown as { persistence: { delWill(c: { id: string }): Promise<unknown> }; clients: Record<string, { closed: boolean }> };
  const deleted: string[] = [];
  const delWill = inside.persistence.delWill.bind(inside.persistence);
  inside.persistence.delWill = (client) => {
    deleted.push(client.id);
    return delWill(client);
  };
  try {
    const device = await mqtt.connectAsync({ host: '127.0.0.1', port, clientId: 'leaving', reconnectPeriod: 0, will: { topic: 'w/leaving', payload: Buffer.from('bye'), qos: 1, retain: false } });
    await device.subscribeAsync('t/#', { qos: 1 });
    deleted.length = 0; // the CONNECT deleted an earlier will of the id
    const client = inside.clients['leaving']!;
    await device.endAsync();
    while (!client.closed) await new Promise((r) => setImmediate(r));
    // The broker's close of the client has begun; its unsubscription takes 300 ms.
    expect(deleted).toEqual([]);
    await closeBroker(aedes, 5_000);
    expect(deleted).toEqual(['leaving']);
    expect(aedes.connectedClients).toBe(0);
  } finally {
    server.close();
  }
});

test('closeBroker gives up on a client after the wait, and returns at once without clients', async () => {
  const idle = await Aedes.createBroker();
  await closeBroker(idle, 60_000); // nothing to wait for
  const stuck = await Aedes.createBroker();
  (stuck as unknown as { connectedClients: number }).connectedClients = 1; // a client that never finishes closing
  const t0 = Date.now();
  await closeBroker(stuck, 200);
  expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
});
