import type { Producer } from 'rocketmq-client-nodejs';
import { countBy, podConfig, podsSpec, readyz } from './support/cluster.js';
import { GROUPS, TOPICS, sleep, uniqueId, waitFor } from './support/env.js';
import { spawnBridge, type BridgeProcess } from './support/process.js';
import { RoamingDevice } from './support/roaming.js';
import { Qos1Load } from './support/qos1-load.js';
import { AppConsumer, appProducer } from './support/rocketmq.js';

// Fixed ports: a restarted pod comes back where the devices' list of servers points. Below
// Linux's ephemeral range (32768 and up): there, the 1,000 devices reconnecting during the
// roll could take a pod's port as their own local one before the pod was back (EADDRINUSE).
const PORTS = [0, 1, 2].map((i) => ({ mqtt: 17_101 + 2 * i, http: 17_102 + 2 * i }));
const DEVICES = 1_000;
const spec = podsSpec('clroll', GROUPS.bridgeClusterRoll, { mqttParentTopic: 'clro', rocketmqTopic: TOPICS.clusterRoll });
let producer: Producer;
let app: AppConsumer;
const procs: BridgeProcess[] = [];
const devices: RoamingDevice[] = [];

async function startPod(i: number): Promise<BridgeProcess> {
  const proc = await spawnBridge(podConfig(spec, PORTS[i]));
  await waitFor('pod ready', async () => ((await readyz(proc.httpPort)).status === 200 ? true : undefined), 60_000);
  return proc;
}

async function connectAll(n: number, make: (i: number) => Promise<RoamingDevice>): Promise<RoamingDevice[]> {
  const out: RoamingDevice[] = [];
  for (let i = 0; i < n; i += 100) out.push(...(await Promise.all(Array.from({ length: Math.min(100, n - i) }, (_, k) => make(i + k)))));
  devices.push(...out);
  return out;
}

beforeAll(async () => {
  producer = await appProducer();
  app = await AppConsumer.start(TOPICS.clusterRoll, GROUPS.appClusterRoll);
});

afterAll(async () => {
  await Promise.all(devices.map((d) => d.end().catch(() => undefined)));
  procs.forEach((p) => p.child.kill('SIGKILL'));
  await app?.stop();
  await producer?.shutdown();
});

test(`rolling restart of every pod while ${DEVICES} devices stay connected: every pod exits 0, devices reconnect, nothing acknowledged is lost`, async () => {
  for (const i of [0, 1, 2]) procs[i] = await startPod(i);
  const ports = PORTS.map((p) => p.mqtt);
  const m = uniqueId('roll');
  const subscribers = await connectAll(6, (i) => RoamingDevice.connect(ports, i % 3, { clientId: uniqueId(`GID_clro@@@sub${i}-`), clean: false }));
  await Promise.all(subscribers.map((s) => s.client.subscribeAsync(`clro/${m}/#`, { qos: 1 })));
  const publishers = await connectAll(3, (i) => RoamingDevice.connect(ports, i, { clientId: uniqueId(`GID_clro@@@pub${i}-`), clean: false }));
  const idle = await connectAll(DEVICES - 9, (i) => RoamingDevice.connect(ports, i % 3, { clientId: uniqueId(`GID_clro@@@dev${i}-`), keepalive: 60 }));

  const load = new Qos1Load(publishers, 'clro', m, { producer, topic: TOPICS.clusterRoll });

  const started = Date.now();
  const exitCodes: (number | null)[] = [];
  try {
    for (const i of [0, 1, 2]) {
      await sleep(2_000);
      procs[i]!.child.kill('SIGTERM');
      exitCodes.push(await procs[i]!.exited);
      procs[i] = await startPod(i);
    }
    await sleep(2_000);
  } finally {
    await load.stop();
  }
  const rollSeconds = (Date.now() - started - 2_000) / 1000;
  await load.settled();

  const stored = await app.waitFor((msg) => msg.properties.get('mqttSecondTopic') === `/${m}/up`, load.acked.length, 60_000);
  const lostUp = load.acked.filter((p) => !stored.some((msg) => msg.body.toString() === p)).length;
  const downOf = (s: RoamingDevice) => countBy(s.received.filter((r) => r.topic === `clro/${m}/down`), (r) => r.payload.toString());
  await waitFor('downlink complete', () => subscribers.every((s) => load.sentDown.every((d) => downOf(s).has(d))) || undefined, 90_000).catch(() => undefined);
  await waitFor('every device connected', () => devices.every((d) => d.client.connected) || undefined, 60_000).catch(() => undefined);
  const reconnects = devices.map((d) => d.reconnects);
  const connectedAtEnd = devices.filter((d) => d.client.connected).length;
  const missing = subscribers.map((s) => load.sentDown.filter((d) => !downOf(s).has(d)));
  // A message missing on a live connection may still sit in the session's queue in Redis: a
  // new connection of that session gets it. Only what never arrives is lost.
  const lostDown = await Promise.all(
    subscribers.map(async (s, i) => {
      if (missing[i]!.length === 0) return 0;
      await s.end();
      const again = await RoamingDevice.connect(ports, 0, { clientId: s.client.options.clientId!, clean: false });
      devices.push(again);
      await sleep(3_000);
      return missing[i]!.filter((d) => !downOf(again).has(d)).length;
    }),
  );
  const dupDown = subscribers.map((s) => [...downOf(s).values()].reduce((sum, n) => sum + n - 1, 0));
  console.info(
    `rolling restart of 3 pods in ${rollSeconds.toFixed(1)} s with ${DEVICES} devices: exit codes ${exitCodes.join('/')}; ` +
      `${reconnects.reduce((a, b) => a + b, 0)} reconnects (${reconnects.filter((r) => r > 0).length} devices reconnected, at most ${Math.max(...reconnects)} times); ` +
      `connected at the end ${connectedAtEnd}; uplink ${load.acked.length} acked, ${lostUp} lost; ` +
      `downlink ${load.sentDown.length} sent × ${subscribers.length} persistent subscribers, missing on the live connection ${missing.map((m) => m.length).join('/')}, ` +
      `lost (not even on a new connection) ${lostDown.join('/')}, duplicates ${dupDown.join('/')}`,
  );
  expect(exitCodes).toEqual([0, 0, 0]);
  expect(lostUp).toBe(0);
  expect(lostDown).toEqual(subscribers.map(() => 0));
  expect(connectedAtEnd).toBe(DEVICES);
  expect(idle.length + subscribers.length + publishers.length).toBe(DEVICES);
}, 360_000);
