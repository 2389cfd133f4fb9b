import { parse } from 'yaml';
import { CONFIG_HASH_ANNOTATION } from '../../operator/render/names.js';
import { GROUPS, ROCKETMQ_ENDPOINT, TOPICS, sleep, waitFor } from './support/env.js';
import { Kube, RESOURCES, createNamespace, installCrds, kubectl, type Obj } from './support/kube.js';
import { startOperator, type OperatorProcess } from './support/operator.js';

let kube: Kube;
let operator: OperatorProcess;

beforeAll(async () => {
  await installCrds();
  kube = new Kube(await createNamespace('rec'));
  // The Secrets the bridges name, with the label that lets bridges use them.
  for (const name of ['rmq-creds', 'device-keys', 'mqtt-cert', 'redis-url']) {
    await kube.apply(RESOURCES.secret, { apiVersion: 'v1', kind: 'Secret', metadata: { name, labels: { 'mqbridge.dev/allow-bridges': 'true' } }, data: { x: Buffer.from('y').toString('base64') } } as Obj);
  }
  operator = await startOperator(['--watch-namespaces', kube.namespace, '--resync-seconds', '2', '--bridge-image', 'example.com/bridge:test']);
});

afterAll(async () => {
  await operator?.stop();
  const problems = operator?.logs.filter((l) => (l.level as number) >= 40 || l.stderr) ?? [];
  if (problems.length > 0) console.warn(`operator warnings:\n${problems.map((l) => JSON.stringify(l)).join('\n')}`);
});

const rocketmq = { endpoints: ROCKETMQ_ENDPOINT, consumerGroup: GROUPS.bridgeDownlink };
type Spec = Record<string, unknown>;
const spec = (o: Obj) => o.spec as Spec;
const configOf = async (bridge: string) => parse((await kube.get(RESOURCES.configMap, `${bridge}-bridge-config`)).data!['bridge.yaml']!) as { bindings: Spec[]; mqtt: Spec; rocketmq: Spec; bridge: Spec };
const hashOf = async (bridge: string) => {
  const d = await kube.get(RESOURCES.deployment, `${bridge}-bridge`);
  return ((spec(d).template as { metadata: { annotations: Record<string, string> } }).metadata.annotations)[CONFIG_HASH_ANNOTATION];
};

describe('operator on a real API server', () => {
  test('every owned object is rendered as specified, owned by the MqttBridge', async () => {
    const created = await kube.bridge('b1', {
      rocketmq: { ...rocketmq, credentialsSecret: { name: 'rmq-creds' } },
      mqtt: { port: 1884, maxPayloadBytes: 1000 },
      service: { type: 'NodePort', nodePort: 30883, annotations: { 'example.com/lb': 'x' }, allowUnauthenticated: true },
      resources: { requests: { cpu: '100m', memory: '128Mi' } },
      nodeSelector: { pool: 'mqtt' },
      tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'mqtt', effect: 'NoSchedule' }],
      podAnnotations: { 'example.com/scrape': 'true' },
      logLevel: 'debug',
    });
    await kube.binding('b1-sensors', { bridge: 'b1', mqttParentTopic: 'sensors', rocketmqTopic: TOPICS.normal });
    await kube.waitReady(RESOURCES.topicBinding, 'b1-sensors', 'Bound');
    await waitFor('the binding in the ConfigMap', async () => ((await configOf('b1').catch(() => undefined))?.bindings.length === 1 ? true : undefined));
    await waitFor('status counts the binding', async () => ((await kube.get(RESOURCES.mqttBridge, 'b1')).status?.bindings === 1 ? true : undefined));
    await kube.waitReady(RESOURCES.mqttBridge, 'b1', 'RollingOut');
    const owner = { kind: 'MqttBridge', name: 'b1', uid: created.metadata!.uid, controller: true };

    const dep = await kube.get(RESOURCES.deployment, 'b1-bridge');
    const pod = (spec(dep).template as { spec: Spec & { containers: Spec[] } }).spec;
    const c = pod.containers[0]!;
    expect(dep.metadata!.ownerReferences).toEqual([expect.objectContaining(owner)]);
    expect(spec(dep).replicas).toBe(1);
    expect(c.image).toBe('example.com/bridge:test');
    expect(c.args).toEqual(['--config', '/etc/mqbridge/bridge.yaml']);
    expect(c.ports).toEqual([expect.objectContaining({ name: 'mqtt', containerPort: 1884 }), expect.objectContaining({ name: 'http', containerPort: 9090 })]);
    expect(c.env).toEqual([
      { name: 'ROCKETMQ_ACCESS_KEY', valueFrom: { secretKeyRef: { name: 'rmq-creds', key: 'accessKey' } } },
      { name: 'ROCKETMQ_SECRET_KEY', valueFrom: { secretKeyRef: { name: 'rmq-creds', key: 'secretKey' } } },
    ]);
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, runAsNonRoot: true });
    expect(c.resources).toEqual({ requests: { cpu: '100m', memory: '128Mi' } });
    expect(pod.nodeSelector).toEqual({ pool: 'mqtt' });
    expect(pod.serviceAccountName).toBe('b1-bridge');
    expect((spec(dep).template as { metadata: { annotations: Spec } }).metadata.annotations).toMatchObject({ 'example.com/scrape': 'true' });

    const svc = await kube.get(RESOURCES.service, 'b1-mqtt');
    expect(spec(svc)).toMatchObject({ type: 'NodePort', ports: [expect.objectContaining({ port: 1884, nodePort: 30883, targetPort: 'mqtt' })] });
    expect(svc.metadata!.annotations).toMatchObject({ 'example.com/lb': 'x' });
    expect(spec(await kube.get(RESOURCES.pdb, 'b1-bridge'))).toMatchObject({ maxUnavailable: 1 });
    expect((await kube.get(RESOURCES.serviceAccount, 'b1-bridge')) as Spec).toMatchObject({ automountServiceAccountToken: false });
    expect(await kube.tryGet(RESOURCES.hpa, 'b1-bridge')).toBeUndefined();

    const config = await configOf('b1');
    expect(config.bindings).toEqual([{ mqttParentTopic: 'sensors', rocketmqTopic: TOPICS.normal, direction: 'Bidirectional', defaultQos: 1 }]);
    expect(config.mqtt).toMatchObject({ port: 1884, maxPayloadBytes: 1000 });
    expect(config.rocketmq).toEqual({ endpoints: ROCKETMQ_ENDPOINT, namespace: '', consumerGroup: GROUPS.bridgeDownlink });

    const status = (await kube.get(RESOURCES.mqttBridge, 'b1')).status!;
    expect(status).toMatchObject({ bindings: 1, replicas: 0, readyReplicas: 0, endpoint: `b1-mqtt.${kube.namespace}.svc:1884` });
    expect(status.selector).toBe('app.kubernetes.io/name=mqbridge-bridge,mqbridge.dev/bridge=b1');
  });

  test('binding changes reach the ConfigMap and leave the pod-template hash; a restart setting changes it', async () => {
    const before = await hashOf('b1');
    await kube.binding('b1-cmds', { bridge: 'b1', mqttParentTopic: 'cmds', rocketmqTopic: TOPICS.down, direction: 'RocketmqToMqtt' });
    await waitFor('binding added', async () => ((await configOf('b1')).bindings.length === 2 ? true : undefined));
    await kube.mergePatch(RESOURCES.topicBinding, 'b1-cmds', { spec: { defaultQos: 0 } });
    await waitFor('binding changed', async () => ((await configOf('b1')).bindings.find((b) => b.mqttParentTopic === 'cmds')?.defaultQos === 0 ? true : undefined));
    await kube.mergePatch(RESOURCES.mqttBridge, 'b1', { spec: { logLevel: 'warn' } });
    await kube.delete(RESOURCES.topicBinding, 'b1-cmds');
    await waitFor('binding removed', async () => ((await configOf('b1')).bindings.length === 1 ? true : undefined));
    expect(await hashOf('b1')).toBe(before);

    await kube.mergePatch(RESOURCES.mqttBridge, 'b1', { spec: { mqtt: { maxPayloadBytes: 2000 } } });
    await waitFor('hash changed', async () => ((await hashOf('b1')) !== before ? true : undefined));
  });

  test('status: Ready follows the Deployment; observedGeneration follows the spec', async () => {
    const generation = (await kube.get(RESOURCES.mqttBridge, 'b1')).metadata!.generation!;
    const ready = await kube.waitReady(RESOURCES.mqttBridge, 'b1', 'RollingOut');
    const readyCondition = () => (ready.status!.conditions as { type: string; status: string; lastTransitionTime: string; observedGeneration: number }[]);
    expect(readyCondition().map((c) => c.type)).toEqual(['Ready', 'Reconciling', 'Stalled']);
    expect(readyCondition().every((c) => c.observedGeneration === generation)).toBe(true);
    // Play the Deployment controller: one pod of the current generation is ready.
    const dep = await kube.get(RESOURCES.deployment, 'b1-bridge');
    await kube.mergePatch(RESOURCES.deployment, 'b1-bridge', { status: { observedGeneration: dep.metadata!.generation, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 } }, 'status');
    const available = await kube.waitReady(RESOURCES.mqttBridge, 'b1', 'Available');
    expect(available.status).toMatchObject({ replicas: 1, readyReplicas: 1 });
    const flipped = (available.status!.conditions as { type: string; status: string; lastTransitionTime: string }[]).find((c) => c.type === 'Ready')!;
    expect(flipped.status).toBe('True');
    const printed = await kubectl('get', 'mqttbridges,topicbindings', '-n', kube.namespace);
    // CONFIGURED counts ready pods that report the current config; no pod runs here (no kubelet).
    expect(printed).toMatch(/b1\s+1\s+1\s+0\s+1\s+Available/);
    expect(printed).toMatch(/b1-sensors\s+b1\s+sensors\s+\S+\s+Bidirectional\s+Bound/);
  });

  test('conflicts: the older binding of a parent topic wins; a missing RocketMQ topic is TopicNotFound; an unknown bridge is BridgeNotFound', async () => {
    await kube.binding('b1-sensors-late', { bridge: 'b1', mqttParentTopic: 'sensors', rocketmqTopic: TOPICS.p2p });
    await kube.binding('b1-missing', { bridge: 'b1', mqttParentTopic: 'missing', rocketmqTopic: 'NO_SUCH_TOPIC_ANYWHERE' });
    await kube.binding('ghost-x', { bridge: 'ghost', mqttParentTopic: 'ghost', rocketmqTopic: TOPICS.normal });
    const late = await kube.waitReady(RESOURCES.topicBinding, 'b1-sensors-late', 'Conflict');
    expect(JSON.stringify(late.status)).toContain('b1-sensors');
    await kube.waitReady(RESOURCES.topicBinding, 'b1-missing', 'TopicNotFound');
    await kube.waitReady(RESOURCES.topicBinding, 'ghost-x', 'BridgeNotFound');
    await kube.waitReady(RESOURCES.topicBinding, 'b1-sensors', 'Bound');
    expect((await configOf('b1')).bindings.map((b) => b.mqttParentTopic)).toEqual(['sensors']);
    // The winner goes away: the next oldest takes the parent topic.
    await kube.delete(RESOURCES.topicBinding, 'b1-sensors');
    await kube.waitReady(RESOURCES.topicBinding, 'b1-sensors-late', 'Bound');
    const events = await kubectl('get', 'events', '-n', kube.namespace, '--field-selector', 'reason=Conflict', '-o', 'name');
    expect(events.trim().length).toBeGreaterThan(0);
  });

  test('drift is repaired: a deleted Service comes back, an edited Deployment is restored', async () => {
    const uid = (await kube.get(RESOURCES.service, 'b1-mqtt')).metadata!.uid;
    await kube.delete(RESOURCES.service, 'b1-mqtt');
    await waitFor('service back', async () => {
      const svc = await kube.tryGet(RESOURCES.service, 'b1-mqtt');
      return svc && svc.metadata!.uid !== uid ? true : undefined;
    });
    await kube.rest.mergePatch(`/apis/apps/v1/namespaces/${kube.namespace}/deployments/b1-bridge`, { spec: { replicas: 5 } }, 'someone-else');
    await waitFor('replicas restored', async () => (spec(await kube.get(RESOURCES.deployment, 'b1-bridge')).replicas === 1 ? true : undefined));
  });

  test('an idle resync writes nothing', async () => {
    await sleep(3_000); // let the changes above settle
    const writes = () => operator.metric('mqbridge_operator_api_writes_total');
    const reconciles = () => operator.metric('mqbridge_operator_reconciles_total');
    const [w0, r0] = [await writes(), await reconciles()];
    await sleep(6_500); // three resync periods
    expect(await reconciles()).toBeGreaterThanOrEqual(r0 + 3);
    expect(await writes()).toBe(w0);
  });

  test('autoscaling: an HPA owns the replicas; without it the Deployment follows spec.replicas and kubectl scale', async () => {
    // More than one pod needs a shared session store (a CEL rule of the CRD).
    await kube.mergePatch(RESOURCES.mqttBridge, 'b1', { spec: { sessionStore: { redis: { urlSecret: { name: 'redis-url' } } } } });
    await waitFor('Redis URL from its Secret', async () => {
      const dep = await kube.get(RESOURCES.deployment, 'b1-bridge');
      const env = (spec(dep).template as { spec: { containers: { env?: Spec[] }[] } }).spec.containers[0]!.env ?? [];
      return env.some((e) => e.name === 'MQBRIDGE_REDIS_URL') || undefined;
    });
    await kubectl('scale', 'mqttbridge/b1', '--replicas=3', '-n', kube.namespace);
    await waitFor('scaled', async () => (spec(await kube.get(RESOURCES.deployment, 'b1-bridge')).replicas === 3 ? true : undefined));
    await kube.mergePatch(RESOURCES.mqttBridge, 'b1', { spec: { autoscaling: { minReplicas: 2, maxReplicas: 6, targetCPUUtilizationPercentage: 70 } } });
    const hpa = await waitFor('hpa', () => kube.tryGet(RESOURCES.hpa, 'b1-bridge'));
    expect(spec(hpa)).toMatchObject({ minReplicas: 2, maxReplicas: 6, scaleTargetRef: { kind: 'Deployment', name: 'b1-bridge' } });
    const managed = (await kube.get(RESOURCES.deployment, 'b1-bridge')).metadata!.managedFields as { manager: string; fieldsV1: { 'f:spec'?: Spec } }[];
    expect(managed.find((m) => m.manager === 'mqbridge-operator')?.fieldsV1['f:spec']?.['f:replicas']).toBeUndefined();
    await kube.mergePatch(RESOURCES.mqttBridge, 'b1', { spec: { autoscaling: null } });
    await waitFor('hpa removed', async () => ((await kube.tryGet(RESOURCES.hpa, 'b1-bridge')) ? undefined : true));
  });

  test('TLS, WebSocket and auth: each listener on the pod and the Service, secrets mounted, not in the ConfigMap', async () => {
    await kube.mergePatch(RESOURCES.mqttBridge, 'b1', {
      spec: {
        auth: { mode: 'SignatureOrToken', instanceId: 'inst-1', accessKeysSecret: { name: 'device-keys' } },
        tls: { enabled: true, certificateSecret: { name: 'mqtt-cert' } },
        websocket: { enabled: true, securePort: 8084 },
      },
    });
    const svc = await waitFor('service ports', async () => {
      const s = await kube.get(RESOURCES.service, 'b1-mqtt');
      return (spec(s).ports as unknown[]).length === 4 ? s : undefined;
    });
    expect((spec(svc).ports as { name: string; port: number }[]).map((p) => `${p.name}:${p.port}`)).toEqual(['mqtt:1884', 'mqtts:8883', 'mqtt-ws:8083', 'mqtt-wss:8084']);
    // The token API: a ClusterIP Service of its own, never on the device-facing (here NodePort) one.
    const tokenApi = await waitFor('token API service', () => kube.tryGet(RESOURCES.service, 'b1-token-api'));
    expect(spec(tokenApi).type).toBe('ClusterIP');
    expect((spec(tokenApi).ports as { name: string; port: number }[]).map((p) => `${p.name}:${p.port}`)).toEqual(['token-api:8090']);
    const pod = (spec(await kube.get(RESOURCES.deployment, 'b1-bridge')).template as { spec: { volumes: { name: string; secret?: { secretName: string } }[] } }).spec;
    expect(pod.volumes.filter((v) => v.secret).map((v) => v.secret!.secretName)).toEqual(['device-keys', 'mqtt-cert']);
    const config = await configOf('b1');
    expect(config).toMatchObject({ auth: { mode: 'SignatureOrToken', accessKeysDir: '/etc/mqbridge/access-keys' }, tls: { enabled: true, certFile: '/etc/mqbridge/tls/tls.crt' } });
    await kube.mergePatch(RESOURCES.mqttBridge, 'b1', { spec: { auth: { mode: 'None' }, tls: { enabled: false }, websocket: { enabled: false, securePort: null } } });
    await waitFor('token API service removed', async () => ((await kube.tryGet(RESOURCES.service, 'b1-token-api')) ? undefined : true));
  });

  test('deleting the MqttBridge removes what it owns; its bindings turn BridgeNotFound', async () => {
    await kube.delete(RESOURCES.mqttBridge, 'b1');
    await waitFor('owned objects collected', async () => {
      const left = await Promise.all([
        kube.tryGet(RESOURCES.deployment, 'b1-bridge'),
        kube.tryGet(RESOURCES.configMap, 'b1-bridge-config'),
        kube.tryGet(RESOURCES.service, 'b1-mqtt'),
      ]);
      return left.every((o) => o === undefined) ? true : undefined;
    }, 60_000);
    await kube.waitReady(RESOURCES.topicBinding, 'b1-sensors-late', 'BridgeNotFound');
  });
});
