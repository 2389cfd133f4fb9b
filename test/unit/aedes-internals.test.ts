import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { PassThrough } from 'node:stream';
import { Aedes, type Client } from 'aedes';
import mqtt from 'mqtt';
import mqttPacket from 'mqtt-packet';
import type { AedesPersistence } from '../../bridge/mqtt/session-persistence.js';
import { checkAedesInternals, connectedClient, deliverQueued, emitterOf, holdDeliveriesUntilConnack, holdsFilter, skipClosedRegistrations, storedWillBrokerId, sweptWill } from '../../bridge/mqtt/aedes-internals.js';

let aedes: Aedes;
let server: Server;
let port: number;
const hooked: { client: Client; closeListeners: number }[] = [];

beforeAll(async () => {
  aedes = await Aedes.createBroker();
  const hold = holdDeliveriesUntilConnack(aedes);
  const handle = aedes.handle;
  server = createServer((socket) => {
    const client = handle(socket);
    const closeListeners = socket.listenerCount('close');
    hold(client);
    hooked.push({ client, closeListeners });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.close();
  await new Promise<void>((resolve) => aedes.close(() => resolve()));
});

test('the members the bridge relies on are there on a live client', () => {
  const probe = aedes.handle(new PassThrough() as never);
  expect(() => checkAedesInternals(aedes, probe)).not.toThrow();
  probe.close();
});

test('after the CONNACK a client keeps nothing of the delivery hold: its own functions, no extra close listener', async () => {
  const device = await mqtt.connectAsync({ host: '127.0.0.1', port, protocolVersion: 4, reconnectPeriod: 0 });
  await device.subscribeAsync('t/#', { qos: 1 });
  const got = new Promise<string>((resolve) => device.once('message', (_t, payload) => resolve(payload.toString())));
  await device.publishAsync('t/1', 'after connack', { qos: 1 });
  expect(await got).toBe('after connack');
  const { client, closeListeners } = hooked.at(-1)!;
  const c = client as unknown as { deliver0: { name: string }; deliverQoS: { name: string }; conn: { listenerCount(e: string): number } };
  expect([c.deliver0.name, c.deliverQoS.name]).toEqual(['deliverQoS0', 'deliverQoS']);
  expect(c.conn.listenerCount('close')).toBe(closeListeners);
  await device.endAsync();
});

test('deliverQueued hands a persistent session the packet its queue holds once, and the PUBACK empties the queue', async () => {
  const device = await mqtt.connectAsync({ host: '127.0.0.1', port, protocolVersion: 4, reconnectPeriod: 0, clientId: 'queued-1', clean: false });
  const client = connectedClient(aedes, 'queued-1')!;
  // After the CONNACK aedes sends the session's queue; a packet queued before that ends would go out from there too.
  await new Promise((resolve) => setTimeout(resolve, 50));
  const store = (aedes as unknown as { persistence: AedesPersistence }).persistence;
  // Stored for the session but not subscribed by this connection, as a new session's P2P inbox is.
  await store.addSubscriptions({ id: 'queued-1' }, [{ topic: 'inbox/queued-1/#', qos: 1 }]);
  expect(holdsFilter(client, 'inbox/queued-1/#')).toBe(false);
  emitterOf(aedes).on('inbox/queued-1/#', (packet, done) => deliverQueued(client, packet, done));
  const received: string[] = [];
  device.on('message', (_t, payload) => received.push(payload.toString()));
  const acked = new Promise<void>((resolve) => device.once('packetsend', (p) => p.cmd === 'puback' && resolve()));
  aedes.publish({ cmd: 'publish', topic: 'inbox/queued-1/x', payload: Buffer.from('once'), qos: 1, retain: false, dup: false } as never, () => undefined);
  await acked;
  await new Promise((resolve) => setTimeout(resolve, 50)); // the broker handles the PUBACK
  const queued: unknown[] = [];
  for await (const packet of store.outgoingStream({ id: 'queued-1' })) queued.push(packet);
  expect({ received, queued }).toEqual({ received: ['once'], queued: [] });
  await device.subscribeAsync('own/#', { qos: 1 });
  expect(holdsFilter(client, 'own/#')).toBe(true);
  await device.endAsync();
});

describe('a will swept for a dead broker', () => {
  const publish = (packet: object) => new Promise<void>((resolve, reject) => aedes.publish(packet as never, (err) => (err ? reject(err) : resolve())));

  /** What a subscriber that already got packet 1,000 of the dead broker receives of its will. */
  async function willDelivered(asSwept: boolean): Promise<string[]> {
    const device = await mqtt.connectAsync({ host: '127.0.0.1', port, protocolVersion: 4, reconnectPeriod: 0 });
    const received: string[] = [];
    device.on('message', (_t, payload) => received.push(payload.toString()));
    await device.subscribeAsync('w/#', { qos: 1 });
    await publish({ cmd: 'publish', topic: 'w/live', payload: Buffer.from('from the dead pod'), qos: 1, retain: false, brokerId: 'pod-a', brokerCounter: 1_000 });
    // Stored as aedes-persistence keeps a will: the broker id, no counter.
    const will = { cmd: 'publish', topic: 'w/gone', payload: Buffer.from('will'), qos: 1, retain: false, clientId: 'dev-1', brokerId: 'pod-a' };
    await publish(asSwept ? sweptWill(will) : will);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await device.endAsync();
    return received;
  }

  test('aedes drops it as a duplicate under the dead broker id (why sweptWill exists)', async () => {
    expect(await willDelivered(false)).toEqual(['from the dead pod']);
  });

  test('under its own broker id it reaches the subscriber, and the stored will is found by the real id', async () => {
    expect(await willDelivered(true)).toEqual(['from the dead pod', 'will']);
    const swept = sweptWill({ brokerId: 'pod-a', clientId: 'dev|will|1' });
    expect(storedWillBrokerId(swept.brokerId)).toBe('pod-a');
    expect(storedWillBrokerId('pod-a')).toBe('pod-a');
    expect(sweptWill({ clientId: 'x' })).toEqual({ clientId: 'x' });
  });
});

interface TestPersistence {
  delWill(client: { id: string; brokerId: string }): Promise<unknown>;
}

describe('a connection that closes while aedes stores its will', () => {
  /** A broker whose will store takes 300 ms (a Redis round trip under load), so that a connection can close in between. */
  async function slowWillBroker(skip: boolean) {
    const broker = await Aedes.createBroker();
    const persistence = (broker as unknown as { persistence: TestPersistence }).persistence;
    const delWill = persistence.delWill.bind(persistence);
    persistence.delWill = async (client) => {
      await new Promise((r) => setTimeout(r, 300));
      return delWill(client);
    };
    const skipped: Client[] = [];
    if (skip) skipClosedRegistrations(broker, (c) => skipped.push(c));
    const events: string[] = [];
    broker.on('client', () => events.push('client'));
    broker.on('clientDisconnect', () => events.push('clientDisconnect'));
    emitterOf(broker).on('$SYS/+/new/clients', (packet, done) => {
      events.push(`announced ${packet.payload.toString()}`);
      done();
    });
    return { broker, skipped, events };
  }

  /** CONNECT, then the socket ends before the CONNACK. */
  async function abandonedConnect(broker: Aedes): Promise<Client> {
    let client: Client | undefined;
    const listener = createServer((conn) => (client = broker.handle(conn)));
    listener.listen(0, '127.0.0.1');
    await once(listener, 'listening');
    const socket = connect((listener.address() as AddressInfo).port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: false, clientId: 'dev', keepalive: 60 }));
    await new Promise((r) => setTimeout(r, 100));
    socket.destroy();
    await new Promise((r) => setTimeout(r, 600));
    listener.close();
    return client!;
  }

  test.each([
    ['aedes registers the closed client for good (why the hook exists)', false],
    ['skipClosedRegistrations leaves it unregistered and says so', true],
  ])('%s', async (_how, skip) => {
    const { broker, skipped, events } = await slowWillBroker(skip);
    try {
      const client = await abandonedConnect(broker);
      expect(client.closed).toBe(true);
      if (skip) {
        expect({ events, inClients: connectedClient(broker, 'dev') !== undefined, connected: broker.connectedClients }).toEqual({ events: [], inClients: false, connected: 0 });
        expect(skipped).toEqual([client]);
      } else {
        expect({ events, inClients: connectedClient(broker, 'dev') !== undefined, connected: broker.connectedClients }).toEqual({ events: ['client', 'announced dev'], inClients: true, connected: 1 });
      }
    } finally {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
    }
  });
});
