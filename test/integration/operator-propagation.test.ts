import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { parse } from 'yaml';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { Bridge } from '../../bridge/bridge.js';
import { parseConfigText } from '../../bridge/config/load.js';
import { configHash } from '../../bridge/config/report.js';
import { resourcePath } from '../../operator/k8s/paths.js';
import { commonLabels, objectNames } from '../../operator/render/names.js';
import { metricValue, testLogger } from './support/bridge.js';
import { kubeconfigPath } from './support/kube.js';
import { ROCKETMQ_ENDPOINT, GROUPS, TOPICS, waitFor } from './support/env.js';
import { Kube, RESOURCES, createNamespace, installCrds, type Obj } from './support/kube.js';
import { PodNetwork } from './support/netns.js';
import { startOperator, type OperatorProcess } from './support/operator.js';

/**
 * What a TopicBinding's status says while its bridge's pods load it: real bridge processes, each
 * in a network namespace of its own as in a pod, listed as ready in their Service's EndpointSlice.
 * The test plays the kubelet: a pod sees the new ConfigMap only when the test writes it to its file.
 */
const bridgeMain = fileURLToPath(new URL('../../bridge/main.js', import.meta.url));
const BRIDGE = 'pb';

interface FakePod {
  name: string;
  net: PodNetwork;
  file: string;
  child?: ChildProcess;
  logs?: Record<string, unknown>[];
}

let kube: Kube;
let operator: OperatorProcess;
let dir: string;
const pods: FakePod[] = [];
let redis: ChildProcess | undefined;
const REDIS_PORT = 16399;
/** Status objects as the operator wrote them, for the Argo CD health check. */
const seen: Record<string, Obj> = {};

beforeAll(async () => {
  await installCrds();
  kube = new Kube(await createNamespace('prop'));
  dir = await mkdtemp(join(tmpdir(), 'mqbridge-prop-'));
  operator = await startOperator(['--watch-namespaces', kube.namespace, '--resync-seconds', '30', '--bridge-image', 'example.com/bridge:test']);
});

afterAll(async () => {
  for (const pod of pods) await stopPod(pod);
  redis?.kill();
  for (const pod of pods) await pod.net.destroy();
  await operator?.stop();
  await rm(dir, { recursive: true, force: true });
});

const configMapText = async (bridge = BRIDGE) => (await kube.get(RESOURCES.configMap, objectNames(bridge).configMap)).data!['bridge.yaml']!;

/** What the kubelet does on its own schedule: the ConfigMap's text replaces the mounted file. */
async function refresh(pod: FakePod): Promise<void> {
  await writeFile(`${pod.file}.tmp`, await configMapText());
  await rename(`${pod.file}.tmp`, pod.file);
}

/** The node's Redis, which both pods share, on the host side of the first pod's link. */
async function startRedis(net: PodNetwork): Promise<string> {
  redis = spawn('redis-server', ['--bind', net.hostIp, '--port', String(REDIS_PORT), '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], { stdio: 'ignore' });
  const url = `redis://${net.hostIp}:${REDIS_PORT}`;
  await waitFor('redis', () => new Promise<true | undefined>((resolve) => {
    const s = connect(REDIS_PORT, net.hostIp, () => (s.end(), resolve(true))).on('error', () => resolve(undefined));
  }));
  return url;
}

async function startPod(pod: FakePod): Promise<FakePod> {
  await refresh(pod);
  ({ child: pod.child, logs: pod.logs } = pod.net.spawn(process.execPath, [bridgeMain, '--config', pod.file]));
  await waitFor(`${pod.name} serves /configz`, async () => ((await fetch(`http://${pod.net.podIp}:9090/configz`).catch(() => undefined))?.ok ? true : undefined), 30_000);
  return pod;
}

async function podNetwork(index: number): Promise<FakePod> {
  const pod: FakePod = { name: `${BRIDGE}-bridge-${index}`, net: await PodNetwork.create(index), file: join(dir, `pod-${index}.yaml`) };
  pods.push(pod);
  return pod;
}

async function stopPod(pod: FakePod): Promise<void> {
  if (!pod.child || pod.child.exitCode !== null || pod.child.signalCode !== null) return;
  const exited = new Promise((r) => pod.child!.once('exit', r));
  pod.child.kill('SIGKILL');
  await exited;
}

/** The Service's EndpointSlice as the EndpointSlice controller writes it, with the Service's labels. */
async function endpoints(ready: Record<string, boolean>): Promise<void> {
  const service = objectNames(BRIDGE).service;
  await kube.apply(RESOURCES.endpointSlice, {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${service}-x7k2p`, labels: { ...commonLabels(BRIDGE), 'kubernetes.io/service-name': service, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } },
    addressType: 'IPv4',
    ports: [{ name: 'mqtt', port: 1883, protocol: 'TCP' }],
    endpoints: pods.map((p) => ({ addresses: [p.net.podIp], conditions: { ready: ready[p.name] ?? true }, targetRef: { kind: 'Pod', name: p.name, namespace: kube.namespace } })),
  } as Obj);
}

const ready = (o: Obj) => ((o.status?.conditions ?? []) as { type: string; status: string; reason: string; message: string }[]).find((c) => c.type === 'Ready')!;
const condition = (o: Obj, type: string) => ((o.status?.conditions ?? []) as { type: string; status: string; reason: string; message: string }[]).find((c) => c.type === type);

async function waitMessage(name: string, reason: string, message: RegExp): Promise<Obj> {
  let last = '';
  return waitFor(`${name}: ${reason} /${message.source}/`, async () => {
    const b = await kube.get(RESOURCES.topicBinding, name);
    const r = ready(b);
    last = `${r?.reason}: ${r?.message}`;
    return r?.reason === reason && message.test(r.message) && b.status?.observedGeneration === b.metadata?.generation ? b : undefined;
  }, 30_000, 100).catch((err: Error) => {
    const tails = pods.map((p) => `${p.name}:\n${(p.logs ?? []).slice(-8).map((l) => JSON.stringify(l)).join('\n')}`);
    throw new Error(`${err.message}; last: ${last}\n${tails.join('\n')}`);
  });
}

/** What the Deployment controller would report with both pods up. */
async function deploymentReady(replicas: number): Promise<void> {
  const name = objectNames(BRIDGE).deployment;
  const d = await waitFor('the Deployment', () => kube.tryGet(RESOURCES.deployment, name));
  const status = { observedGeneration: d.metadata!.generation, replicas, updatedReplicas: replicas, readyReplicas: replicas, availableReplicas: replicas };
  await kube.mergePatch(RESOURCES.deployment, name, { status }, 'status');
}

const configured = async () => (await kube.get(RESOURCES.mqttBridge, BRIDGE)).status?.configuredReplicas;

test('a TopicBinding is Bound only once every ready pod runs it; until then it is Propagating with a count', async () => {
  const [n0, n1] = [await podNetwork(1), await podNetwork(2)];
  const url = await startRedis(n0!.net);
  await kube.bridge(BRIDGE, { replicas: 2, rocketmq: { endpoints: ROCKETMQ_ENDPOINT, consumerGroup: GROUPS.bridgeUplink }, sessionStore: { redis: { url } } });
  await kube.binding('pb-a', { bridge: BRIDGE, mqttParentTopic: 'prop_a', rocketmqTopic: TOPICS.normal, direction: 'MqttToRocketmq' });
  // No pod is ready yet: nothing to wait for.
  await kube.waitReady(RESOURCES.topicBinding, 'pb-a', 'Bound');
  await waitFor('the binding rendered', async () => ((await configMapText().catch(() => '')).includes('prop_a') ? true : undefined));

  const [p0, p1] = [await startPod(n0!), await startPod(n1!)];
  await endpoints({});
  await deploymentReady(2);
  await waitMessage('pb-a', 'Bound', /in force on 2 of 2 ready bridge pods/);
  await waitFor('both pods counted as configured', async () => ((await configured()) === 2 ? true : undefined));

  // A second binding: written to the ConfigMap at once, loaded by no pod yet.
  await kube.binding('pb-b', { bridge: BRIDGE, mqttParentTopic: 'prop_b', rocketmqTopic: TOPICS.down, direction: 'MqttToRocketmq' });
  const propagating = await waitMessage('pb-b', 'Propagating', /in force on 0 of 2 ready bridge pods/);
  expect(condition(propagating, 'Reconciling')).toMatchObject({ status: 'True', reason: 'Propagating' });
  expect(condition(propagating, 'Stalled')).toMatchObject({ status: 'False' });
  seen.propagating = propagating;
  // The first binding is on both pods still.
  await waitMessage('pb-a', 'Bound', /in force on 2 of 2/);
  const bridge = await waitFor('bridge reconciling', async () => {
    const b = await kube.get(RESOURCES.mqttBridge, BRIDGE);
    return condition(b, 'Reconciling')?.reason === 'Propagating' && b.status?.configuredReplicas === 0 ? b : undefined;
  });
  expect(condition(bridge, 'Reconciling')!.message).toBe('0 of 2 ready bridge pods run the current configuration');
  seen.bridgePropagating = bridge;

  await refresh(p0!);
  await waitMessage('pb-b', 'Propagating', /in force on 1 of 2 ready bridge pods/);
  await refresh(p1!);
  await waitMessage('pb-b', 'Bound', /in force on 2 of 2 ready bridge pods/);
  await waitFor('both pods configured', async () => ((await configured()) === 2 ? true : undefined));

  // A ready pod that does not answer cannot be counted as having anything; an unready one is not waited for.
  await stopPod(p1!);
  await kube.mergePatch(RESOURCES.topicBinding, 'pb-b', { spec: { rocketmqTopic: TOPICS.p2p } });
  await waitMessage('pb-b', 'Propagating', /in force on 0 of 2 ready bridge pods; no config report from pb-bridge-2/);
  await refresh(p0!);
  await waitMessage('pb-b', 'Propagating', /in force on 1 of 2/);
  await endpoints({ [p1!.name]: false });
  seen.bound = await waitMessage('pb-b', 'Bound', /in force on 1 of 1 ready bridge pod$/);
});

test('a binding that cannot work until someone acts is Stalled, as kstatus reads it', async () => {
  await kube.binding('pb-late', { bridge: BRIDGE, mqttParentTopic: 'prop_a', rocketmqTopic: TOPICS.fifo, direction: 'MqttToRocketmq' });
  const conflict = await kube.waitReady(RESOURCES.topicBinding, 'pb-late', 'Conflict');
  expect(condition(conflict, 'Stalled')).toMatchObject({ status: 'True', reason: 'Conflict' });
  expect(condition(conflict, 'Reconciling')).toMatchObject({ status: 'False' });
  await kube.binding('pb-nobridge', { bridge: 'absent', mqttParentTopic: 'prop_x', rocketmqTopic: TOPICS.normal });
  const orphan = await kube.waitReady(RESOURCES.topicBinding, 'pb-nobridge', 'BridgeNotFound');
  expect(condition(orphan, 'Stalled')).toMatchObject({ status: 'True', reason: 'BridgeNotFound' });
  Object.assign(seen, { conflict, orphan });
});

/** A kubeconfig with a fresh token of the service account, as the kubelet mounts one in its pods. */
async function serviceAccountKubeconfig(account: string): Promise<string> {
  const request = { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } };
  const answer = await kube.rest.create<{ status: { token: string } }>(`${resourcePath(RESOURCES.serviceAccount, kube.namespace, account)}/token`, request, 'test-user');
  const admin = new KubeConfig();
  admin.loadFromFile(kubeconfigPath());
  const cluster = admin.getCurrentCluster()!;
  const ca = cluster.caData ?? (await readFile(cluster.caFile!)).toString('base64');
  const path = join(dir, `${account}.kubeconfig`);
  await writeFile(path, stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'test', cluster: { server: cluster.server, 'certificate-authority-data': ca } }],
    users: [{ name: account, user: { token: answer.status.token } }],
    contexts: [{ name: 'pod', context: { cluster: 'test', user: account, namespace: kube.namespace } }],
    'current-context': 'pod',
  }));
  return path;
}

test('a pod follows its ConfigMap through the API server with a token that reads nothing else', async () => {
  await kube.bridge('pc', { rocketmq: { endpoints: ROCKETMQ_ENDPOINT, consumerGroup: GROUPS.bridgeUplink }, logLevel: 'error' });
  await kube.binding('pc-a', { bridge: 'pc', mqttParentTopic: 'cm_qa', rocketmqTopic: TOPICS.normal, direction: 'MqttToRocketmq' });
  await waitFor('the binding rendered', async () => ((await configMapText('pc').catch(() => '')).includes('cm_qa') ? true : undefined));
  await waitFor('the config-reader binding', () => kube.tryGet(RESOURCES.roleBinding, objectNames('pc').configReaderRole));
  const kubeconfig = await serviceAccountKubeconfig(objectNames('pc').serviceAccount);

  // What the pod's token may do: its own ConfigMap, and nothing else.
  const podRest = new KubeConfig();
  podRest.loadFromFile(kubeconfig);
  const asPod = (path: string) => fetchAs(podRest, path);
  const own = resourcePath(RESOURCES.configMap, kube.namespace, objectNames('pc').configMap);
  expect(await asPod(own)).toBe(200);
  expect(await asPod(`${resourcePath(RESOURCES.configMap, kube.namespace)}?fieldSelector=metadata.name%3D${objectNames('pc').configMap}`)).toBe(200);
  expect(await asPod(resourcePath(RESOURCES.configMap, kube.namespace, objectNames(BRIDGE).configMap))).toBe(403);
  expect(await asPod(resourcePath(RESOURCES.configMap, kube.namespace))).toBe(403);
  expect(await asPod(resourcePath(RESOURCES.secret, kube.namespace))).toBe(403);
  expect(await asPod(`/api/v1/namespaces/${kube.namespace}/pods`)).toBe(403);

  // The pod starts from its mounted file, then follows the API; the test never refreshes the file.
  const file = join(dir, 'pc.yaml');
  const first = await configMapText('pc');
  await writeFile(file, first);
  const config = parseConfigText(first, file);
  const local = { ...config, mqtt: { ...config.mqtt, host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 } };
  const bridge = await Bridge.start(local, { configPath: file, configText: first, kubeconfig, log: testLogger() });
  try {
    await waitFor('the ConfigMap watched', async () => ((await metricValue(bridge, 'mqbridge_config_configmap_watch_up')) === 1 ? true : undefined));
    const bindAndWait = async (name: string, parent: string, topic: string) => {
      await kube.binding(name, { bridge: 'pc', mqttParentTopic: parent, rocketmqTopic: topic, direction: 'MqttToRocketmq' });
      const text = await waitFor(`${parent} in the ConfigMap`, async () => {
        const t = await configMapText('pc');
        return t.includes(parent) ? t : undefined;
      });
      await waitFor(`${parent} in force`, () => (bridge.configReport().hash === configHash(text) ? true : undefined), 10_000, 10);
      return text;
    };
    const second = await bindAndWait('pc-b', 'cm_qb', TOPICS.down);
    const third = await bindAndWait('pc-c', 'cm_qc', TOPICS.p2p);
    expect(bridge.configReport().bindings.map((b) => b.mqttParentTopic)).toEqual(['cm_qa', 'cm_qb', 'cm_qc']);

    // The kubelet, late, writes a text the API has already replaced: it is not taken for news.
    const ignoredBefore = await metricValue(bridge, 'mqbridge_config_reloads_total', { result: 'ignored', source: 'file' });
    await writeFile(`${file}.tmp`, second);
    await rename(`${file}.tmp`, file);
    await waitFor('the stale file ignored', async () => ((await metricValue(bridge, 'mqbridge_config_reloads_total', { result: 'ignored', source: 'file' })) > ignoredBefore ? true : undefined));
    expect(bridge.configReport().hash).toBe(configHash(third));
    expect(bridge.configReport().bindings.map((b) => b.mqttParentTopic)).toEqual(['cm_qa', 'cm_qb', 'cm_qc']);
  } finally {
    await bridge.stop();
  }
});

async function fetchAs(kc: KubeConfig, path: string): Promise<number> {
  const cluster = kc.getCurrentCluster()!;
  const token = kc.getCurrentUser()!.token!;
  const { Agent } = await import('node:https');
  const ca = Buffer.from(cluster.caData!, 'base64');
  const { request } = await import('node:https');
  return new Promise((resolve, reject) => {
    const req = request(`${cluster.server}${path}`, { agent: new Agent({ ca }), headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on('error', reject);
    req.end();
  });
}

const HEALTH_LUA = fileURLToPath(new URL('../../../docs/argocd/mqbridge-health.lua', import.meta.url));
const ARGOCD_CM = fileURLToPath(new URL('../../../docs/argocd/argocd-cm-health.yaml', import.meta.url));

/** Runs the documented health check on an object, as Argo CD does (Lua 5.1, the object as the global `obj`). */
function argoHealth(obj: Obj): { status: string; message: string } {
  const program = `local cjson = require("cjson"); obj = cjson.decode(io.read("*a")); print(cjson.encode(dofile(${JSON.stringify(HEALTH_LUA)})))`;
  const run = spawnSync('lua5.1', ['-e', program], { input: JSON.stringify(obj), encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`lua5.1: ${run.stderr || run.error?.message}`);
  return JSON.parse(run.stdout) as { status: string; message: string };
}

test('the documented Argo CD health check reads real status objects of both kinds', async () => {
  const cm = parse(await readFile(ARGOCD_CM, 'utf8')) as { data: Record<string, string> };
  const script = await readFile(HEALTH_LUA, 'utf8');
  expect(cm.data).toEqual({ 'resource.customizations.health.mqbridge.dev_MqttBridge': script, 'resource.customizations.health.mqbridge.dev_TopicBinding': script });

  expect(argoHealth(seen.bound!)).toEqual({ status: 'Healthy', message: expect.stringMatching(/^Bound: bound to bridge pb; in force on 1 of 1/) });
  expect(argoHealth(seen.propagating!)).toEqual({ status: 'Progressing', message: expect.stringMatching(/^Propagating: .*in force on 0 of 2/) });
  expect(argoHealth(seen.conflict!)).toMatchObject({ status: 'Degraded', message: expect.stringMatching(/^Conflict: /) });
  expect(argoHealth(seen.orphan!)).toMatchObject({ status: 'Degraded', message: expect.stringMatching(/^BridgeNotFound: /) });
  // A change the operator has not written status for yet, and a resource it never saw.
  expect(argoHealth({ ...seen.bound!, metadata: { ...seen.bound!.metadata, generation: 99 } })).toMatchObject({ status: 'Progressing' });
  expect(argoHealth({ apiVersion: 'mqbridge.dev/v1alpha1', kind: 'TopicBinding', metadata: { name: 'new', generation: 1 } })).toMatchObject({ status: 'Progressing' });

  // The MqttBridge: healthy with its one ready pod configured, progressing while a pod lags, suspended at zero.
  expect(argoHealth(seen.bridgePropagating!)).toEqual({ status: 'Progressing', message: 'Propagating: 0 of 2 ready bridge pods run the current configuration' });
  const available = await waitFor('bridge up to date', async () => {
    const b = await kube.get(RESOURCES.mqttBridge, BRIDGE);
    return condition(b, 'Reconciling')?.reason === 'UpToDate' ? b : undefined;
  });
  expect(argoHealth(available)).toMatchObject({ status: 'Healthy', message: expect.stringMatching(/^Available: /) });
  await kube.mergePatch(RESOURCES.mqttBridge, BRIDGE, { spec: { replicas: 0 } });
  expect(argoHealth(await kube.waitReady(RESOURCES.mqttBridge, BRIDGE, 'ScaledToZero'))).toMatchObject({ status: 'Suspended' });
});
