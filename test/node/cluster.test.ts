/**
 * A platform team's first hour, on the real node of test/env/node.sh (kubelet, containerd,
 * kube-proxy) with the images built from the Dockerfiles: `helm install`, `kubectl apply -f
 * examples/quickstart.yaml`, a device through the Service, `kubectl scale`, a rolling update
 * under load and `kubectl drain`. The tests build on each other and run in order.
 *
 * RocketMQ and Redis run on the host, reached from pods at the node's address: they are the
 * same real components every other suite uses, and images for them would only add build time.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Producer } from 'rocketmq-client-nodejs';
import { parseAllDocuments } from 'yaml';
import { objectNames, selectorString, HTTP_PORT } from '../../operator/render/names.js';
import { countBy } from '../integration/support/cluster.js';
import { sleep, uniqueId, waitFor } from '../integration/support/env.js';
import { Device } from '../integration/support/mqtt.js';
import { RoamingDevice } from '../integration/support/roaming.js';
import { Qos1Load } from '../integration/support/qos1-load.js';
import { AppConsumer, appProducer, appSend, props } from '../integration/support/rocketmq.js';
import {
  condition,
  helm,
  images,
  kubectl,
  kubectlJson,
  podMetric,
  podNode,
  podRedisUrl,
  podRocketmqEndpoint,
  readyPods,
  pods,
  isReady,
  tryKubectl,
  type Conditioned,
} from './support/node.js';

const QUICKSTART = fileURLToPath(new URL('../../../examples/quickstart.yaml', import.meta.url));
const RELEASE_NS = 'mqbridge-system';
const NS = 'default';
const BRIDGE = 'quickstart';
const BRIDGE_PODS = selectorString(BRIDGE);
const names = objectNames(BRIDGE);
/** Topics and groups test/run.sh creates for this suite (NODE_TOPICS, NODE_GROUPS there). */
const TOPICS = { sensors: 'DEMO_SENSORS', commands: 'DEMO_COMMANDS', devices: 'NODE_DEVICES' };
const GROUPS = { sensors: 'NODE_APP_SENSORS', devices: 'NODE_APP_DEVICES' };

let producer: Producer;
let sensorsApp: AppConsumer;
let devicesApp: AppConsumer;
let serviceIP: string;
const devices: { end(): Promise<void> }[] = [];

const repo = (ref: string) => ref.slice(0, ref.lastIndexOf(':'));
const tag = (ref: string) => ref.slice(ref.lastIndexOf(':') + 1);
const clientId = (name: string) => uniqueId(`GID_node@@@${name}-`);

async function connect(host: string, options: Parameters<typeof Device.connect>[1] = {}): Promise<Device> {
  const d = await Device.connect(1883, { host, ...options });
  devices.push(d);
  return d;
}

async function bridgeObject(): Promise<Conditioned & { spec?: { mqtt?: { maxPayloadBytes?: number } }; status?: { configuredReplicas?: number; readyReplicas?: number } }> {
  return kubectlJson(['get', 'mqttbridge', BRIDGE, '-n', NS]);
}

/** Ready, observed at its current generation, and every ready pod running the current config. */
async function bridgeSettled(replicas: number, timeoutMs = 180_000): Promise<void> {
  await waitFor(
    `MqttBridge ${BRIDGE} Ready with ${replicas} configured pods`,
    async () => {
      const b = await bridgeObject();
      const ok = condition(b)?.status === 'True' && b.status?.observedGeneration === b.metadata.generation && b.status?.configuredReplicas === replicas;
      return ok || undefined;
    },
    timeoutMs,
    500,
  );
}

async function bindingBound(name: string, timeoutMs = 60_000): Promise<void> {
  await waitFor(`TopicBinding ${name} Bound`, async () => (condition(await kubectlJson<Conditioned>(['get', 'topicbinding', name, '-n', NS]))?.status === 'True') || undefined, timeoutMs, 500);
}

beforeAll(async () => {
  producer = await appProducer();
  sensorsApp = await AppConsumer.start(TOPICS.sensors, GROUPS.sensors);
  devicesApp = await AppConsumer.start(TOPICS.devices, GROUPS.devices);
});

afterAll(async () => {
  await Promise.all(devices.map((d) => d.end().catch(() => undefined)));
  await Promise.all([sensorsApp?.stop(), devicesApp?.stop()]);
  await producer?.shutdown();
});

test('helm install: the operator runs as a pod under the chart’s ServiceAccount, non-root, read-only root, probes passing', async () => {
  const img = await images();
  // prettier-ignore
  await helm(['upgrade', '--install', 'mqbridge', 'charts/mqbridge', '-n', RELEASE_NS, '--create-namespace', '--wait', '--timeout', '240s',
    '--set', `image.repository=${repo(img.operator)}`, '--set', `image.tag=${tag(img.operator)}`, '--set', 'image.pullPolicy=Never',
    '--set', `bridgeImage.repository=${repo(img.bridge)}`, '--set', `bridgeImage.tag=${tag(img.bridge)}`,
    '--set', `watchNamespaces={${NS}}`]);
  const operators = await readyPods(RELEASE_NS, 'app.kubernetes.io/component=operator', 2);
  for (const pod of operators) {
    expect(pod.spec.serviceAccountName).toBe('mqbridge');
    expect(pod.spec.containers[0]!.securityContext?.readOnlyRootFilesystem).toBe(true);
    const uid = await podNode(RELEASE_NS, pod.metadata.name, 'process.stdout.write(String(process.getuid()))');
    expect(uid.ok && uid.stdout !== '0').toBe(true);
    const write = await podNode(RELEASE_NS, pod.metadata.name, 'require("fs").writeFileSync("/app/x", "")');
    expect(write.ok).toBe(false);
    expect(write.stderr).toMatch(/EROFS|read-only/);
    expect(pod.status.containerStatuses?.[0]?.restartCount).toBe(0);
  }
}, 300_000);

test('kubectl apply -f examples/quickstart.yaml gives a bridge pod that is a real container: non-root, read-only root, probes passing', async () => {
  const docs = parseAllDocuments(readFileSync(QUICKSTART, 'utf8')).map((d) => d.toJS() as { kind: string; spec: Record<string, Record<string, unknown>> });
  // The one line the example tells users to change: where their RocketMQ proxy is.
  for (const d of docs) if (d.kind === 'MqttBridge') d.spec.rocketmq!.endpoints = podRocketmqEndpoint();
  await kubectl(['apply', '-f', '-'], docs.map((d) => JSON.stringify(d)).join('\n---\n'));
  const [pod] = await readyPods(NS, BRIDGE_PODS, 1);
  await bridgeSettled(1);
  await Promise.all(['sensors', 'commands'].map((b) => bindingBound(b)));

  expect(pod!.spec.serviceAccountName).toBe(names.serviceAccount);
  expect(pod!.spec.containers[0]!.securityContext?.readOnlyRootFilesystem).toBe(true);
  const uid = await podNode(NS, pod!.metadata.name, 'process.stdout.write(String(process.getuid()))');
  expect(uid.stdout).toBe('10001');
  const write = await podNode(NS, pod!.metadata.name, 'require("fs").writeFileSync("/x", "")');
  expect(write.stderr).toMatch(/EROFS|read-only/);
  // Liveness too: a pod restarted by its probe would show it here.
  await sleep(12_000);
  const [again] = await pods(NS, BRIDGE_PODS);
  expect(again!.metadata.name).toBe(pod!.metadata.name);
  expect(again!.status.containerStatuses?.[0]).toMatchObject({ ready: true, restartCount: 0 });
}, 300_000);

test('a device through the ClusterIP Service (kube-proxy): uplink and downlink with the full mapping, and P2P', async () => {
  serviceIP = (await kubectlJson<{ spec: { clusterIP: string } }>(['get', 'service', names.service, '-n', NS])).spec.clusterIP;
  await kubectl(['apply', '-f', '-'], JSON.stringify(binding('devices', 'devices', TOPICS.devices)));
  await bindingBound('devices');
  await bridgeSettled(1);

  const m = uniqueId('m');
  const id = clientId('dev');
  const device = await connect(serviceIP, { clientId: id, clean: false });
  await device.publish(`sensors/${m}/temp`, Buffer.from([0x00, 0xff, 0x21]), 1);
  const [up] = await sensorsApp.waitFor((msg) => msg.properties.get('mqttSecondTopic') === `/${m}/temp`);
  expect(props(up!)).toEqual({ qoslevel: '1', cleansessionflag: 'false', mqttSecondTopic: `/${m}/temp`, clientId: id, mqbridgeOrigin: expect.any(String) });
  expect(up!.body).toEqual(Buffer.from([0x00, 0xff, 0x21]));

  expect(await device.subscribe('commands/#', 1)).toBe(1);
  await appSend(producer, TOPICS.commands, 'on', { mqttSecondTopic: `/${m}/light` });
  const down = await waitFor('downlink', () => device.received.find((r) => r.topic === `commands/${m}/light`));
  expect(down).toMatchObject({ qos: 1, payload: Buffer.from('on') });

  const target = await connect(serviceIP, { clientId: clientId('target') });
  await device.publish(`devices/p2p/${target.client.options.clientId}`, 'psst', 1);
  const p2p = await waitFor('P2P at the target', () => target.received[0]);
  expect(p2p).toMatchObject({ topic: `devices/p2p/${target.client.options.clientId}`, payload: Buffer.from('psst') });
  await appSend(producer, TOPICS.devices, 'from the app', { mqttSecondTopic: `/p2p/${id}` });
  await waitFor('P2P from the app', () => device.received.find((r) => r.payload.toString() === 'from the app'));
}, 180_000);

function binding(name: string, parent: string, topic: string) {
  return { apiVersion: 'mqbridge.dev/v1alpha1', kind: 'TopicBinding', metadata: { name, namespace: NS }, spec: { bridge: BRIDGE, mqttParentTopic: parent, rocketmqTopic: topic, direction: 'Bidirectional' } };
}

test('kubectl scale to 2 with Redis: both pods serve, the Service spreads devices over them, delivery crosses pods', async () => {
  const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'quickstart-redis', namespace: NS, labels: { 'mqbridge.dev/allow-bridges': 'true' } }, stringData: { url: podRedisUrl() } };
  await kubectl(['apply', '-f', '-'], JSON.stringify(secret));
  await kubectl(['patch', 'mqttbridge', BRIDGE, '-n', NS, '--type', 'merge', '-p', JSON.stringify({ spec: { sessionStore: { redis: { urlSecret: { name: 'quickstart-redis' } } } } })]);
  await kubectl(['scale', 'mqttbridge', BRIDGE, '-n', NS, '--replicas=2']);
  await kubectl(['rollout', 'status', `deployment/${names.deployment}`, '-n', NS, '--timeout=180s'], undefined, 200_000);
  const [a, b] = await readyPods(NS, BRIDGE_PODS, 2);
  await bridgeSettled(2);

  const m = uniqueId('x');
  const onA = await connect(a!.status.podIP!, { clientId: clientId('a') });
  const onB = await connect(b!.status.podIP!, { clientId: clientId('b') });
  await Promise.all([onA.subscribe(`commands/${m}/#`), onB.subscribe(`commands/${m}/#`)]);
  await sleep(500);
  await appSend(producer, TOPICS.commands, 'all', { mqttSecondTopic: `/${m}/all` });
  await waitFor('downlink on both pods', () => (onA.received.length > 0 && onB.received.length > 0) || undefined);
  await onA.publish(`devices/p2p/${onB.client.options.clientId}`, 'a→b', 1);
  await onB.publish(`devices/p2p/${onA.client.options.clientId}`, 'b→a', 1);
  await waitFor('P2P across pods', () => (onB.received.some((r) => r.payload.toString() === 'a→b') && onA.received.some((r) => r.payload.toString() === 'b→a')) || undefined);

  const before = await Promise.all([a!, b!].map((p) => podMetric(p.status.podIP!, HTTP_PORT, 'mqbridge_mqtt_connections')));
  await Promise.all(Array.from({ length: 20 }, () => connect(serviceIP)));
  const after = await Promise.all([a!, b!].map((p) => podMetric(p.status.podIP!, HTTP_PORT, 'mqbridge_mqtt_connections')));
  const spread = after.map((n, i) => n - before[i]!);
  console.info(`20 connections through the Service ${serviceIP}: ${spread.join(' and ')} on the two pods`);
  // Each lands on one of two pods at random: all 20 on one pod has odds of 2 in a million.
  expect(spread[0]! + spread[1]!).toBe(20);
  expect(Math.min(...spread)).toBeGreaterThan(0);
}, 300_000);

test('a rolling update (a change that needs a restart) while devices publish QoS 1 both ways: no acknowledged message lost', async () => {
  const servers = [{ host: serviceIP, port: 1883 }];
  const m = uniqueId('roll');
  const subscribers = await Promise.all([0, 1, 2, 3].map((i) => RoamingDevice.connectTo(servers, { clientId: clientId(`sub${i}`), clean: false })));
  devices.push(...subscribers);
  await Promise.all(subscribers.map((s) => s.client.subscribeAsync(`devices/${m}/down`, { qos: 1 })));
  const publishers = await Promise.all([0, 1].map((i) => RoamingDevice.connectTo(servers, { clientId: clientId(`pub${i}`), clean: false })));
  devices.push(...publishers);
  const podsBefore = (await pods(NS, BRIDGE_PODS)).map((p) => p.metadata.name);

  const load = new Qos1Load(publishers, 'devices', m, { producer, topic: TOPICS.devices });
  const started = Date.now();
  let rollSeconds = 0;
  try {
    await sleep(2_000);
    // Any value other than the current one: the suite may run again on the same node.
    const current = (await bridgeObject()).spec?.mqtt?.maxPayloadBytes;
    const maxPayloadBytes = current === 131072 ? 196608 : 131072;
    await kubectl(['patch', 'mqttbridge', BRIDGE, '-n', NS, '--type', 'merge', '-p', JSON.stringify({ spec: { mqtt: { maxPayloadBytes } } })]);
    await waitFor('the roll to start', async () => (await pods(NS, BRIDGE_PODS)).length > 2 || undefined, 60_000, 200);
    await kubectl(['rollout', 'status', `deployment/${names.deployment}`, '-n', NS, '--timeout=240s'], undefined, 260_000);
    await bridgeSettled(2);
    rollSeconds = (Date.now() - started - 2_000) / 1000;
    await sleep(2_000);
  } finally {
    await load.stop();
  }
  await load.settled();
  // Old pods may still be finishing their graceful stop; the ready ones must all be new.
  const podsAfter = (await pods(NS, BRIDGE_PODS)).filter(isReady).map((p) => p.metadata.name);

  const stored = await devicesApp.waitFor((msg) => msg.properties.get('mqttSecondTopic') === `/${m}/up`, load.acked.length, 60_000);
  const storedBodies = countBy(stored, (msg) => msg.body.toString());
  const lostUp = load.acked.filter((p) => !storedBodies.has(p)).length;
  const dupUp = [...storedBodies.values()].reduce((sum, n) => sum + n - 1, 0);
  const downOf = (s: RoamingDevice) => countBy(s.received.filter((r) => r.topic === `devices/${m}/down`), (r) => r.payload.toString());
  await waitFor('downlink complete', () => subscribers.every((s) => load.sentDown.every((d) => downOf(s).has(d))) || undefined, 90_000).catch(() => undefined);
  const lostDown = subscribers.map((s) => load.sentDown.filter((d) => !downOf(s).has(d)).length);
  const dupDown = subscribers.map((s) => [...downOf(s).values()].reduce((sum, n) => sum + n - 1, 0));
  const reconnects = [...subscribers, ...publishers].map((d) => d.reconnects);
  console.info(
    `rolling update of 2 pods in ${rollSeconds.toFixed(1)} s under QoS 1 load through the Service: ` +
      `uplink ${load.acked.length} acked, ${lostUp} lost, ${dupUp} duplicates; ` +
      `downlink ${load.sentDown.length} sent × ${subscribers.length} persistent subscribers, lost ${lostDown.join('/')}, duplicates ${dupDown.join('/')}; ` +
      `${reconnects.reduce((x, y) => x + y, 0)} reconnects`,
  );
  expect(podsAfter).toHaveLength(2);
  expect(podsAfter.filter((p) => podsBefore.includes(p))).toEqual([]);
  expect(load.acked.length).toBeGreaterThan(20);
  expect(lostUp).toBe(0);
  expect(lostDown).toEqual(subscribers.map(() => 0));
}, 420_000);

test('kubectl drain of the node respects the PodDisruptionBudget: one bridge pod keeps serving', async () => {
  const node = (await kubectl(['get', 'nodes', '-o', 'jsonpath={.items[0].metadata.name}'])).trim();
  try {
    // Eviction is what drain does: the PDB (maxUnavailable 1) lets one pod go; its replacement
    // cannot be scheduled on the cordoned node, so the other pod's eviction is refused.
    const drain = await tryKubectl(['drain', node, '--ignore-daemonsets', '--delete-emptydir-data', '--pod-selector', BRIDGE_PODS, '--timeout=40s'], undefined, 90_000);
    expect(drain.ok).toBe(false);
    expect(drain.stdout + drain.stderr).toMatch(/disruption budget/);
    const left = (await pods(NS, BRIDGE_PODS)).filter(isReady);
    expect(left).toHaveLength(1);
    const m = uniqueId('drain');
    const device = await connect(serviceIP, { clientId: clientId('drained') });
    await device.publish(`sensors/${m}/still`, 'served', 1);
    await sensorsApp.waitFor((msg) => msg.properties.get('mqttSecondTopic') === `/${m}/still`);
  } finally {
    await kubectl(['uncordon', node]);
  }
  await readyPods(NS, BRIDGE_PODS, 2);
  await bridgeSettled(2);
}, 300_000);
