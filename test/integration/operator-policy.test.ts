import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { GROUPS, ROCKETMQ_ENDPOINT, TOPICS, sleep, waitFor } from './support/env.js';
import { Kube, RESOURCES, createNamespace, installCrds, type Obj } from './support/kube.js';
import { startOperator, type OperatorProcess } from './support/operator.js';

/**
 * The operator holds rights the users who create MqttBridges and TopicBindings may not have: what
 * it does for them stays within the cluster admin's policy, and it never takes over objects that
 * are not its own.
 */
let kube: Kube;
let other: Kube;
let operator: OperatorProcess;
const IMAGE = 'example.com/bridge:test';
const rocketmq = { endpoints: ROCKETMQ_ENDPOINT, consumerGroup: GROUPS.bridgeDownlink };

beforeAll(async () => {
  await installCrds();
  kube = new Kube(await createNamespace('pol'));
  other = new Kube(await createNamespace('pol-other'));
  const dir = await mkdtemp(join(tmpdir(), 'mqbridge-policy-'));
  const policyFile = join(dir, 'policy.yaml');
  await writeFile(
    policyFile,
    stringify({
      tenancy: {
        namespaces: { [kube.namespace]: { rocketmqTopicPrefixes: ['IT_NORMAL', 'IT_DOWN'], consumerGroupPrefixes: ['IT_BRIDGE_', `mqbridge_${kube.namespace}_`] } },
        restrictUnlisted: true,
      },
    }),
  );
  operator = await startOperator(['--watch-namespaces', `${kube.namespace},${other.namespace}`, '--resync-seconds', '2', '--bridge-image', IMAGE, '--policy-file', policyFile]);
});

afterAll(async () => {
  await operator?.stop();
});

const condition = (o: Obj, type: string) => ((o.status?.conditions ?? []) as { type: string; status: string; reason: string; message: string }[]).find((c) => c.type === type);
const secret = (name: string, labels: Record<string, string> = {}): Obj =>
  ({ apiVersion: 'v1', kind: 'Secret', metadata: { name, labels }, data: { AK: Buffer.from('secret').toString('base64') } }) as Obj;

test('an object of the bridge\'s name that it does not own is never taken over: Conflict, and nothing is applied', async () => {
  // Someone's own Service, named as the bridge's would be.
  await kube.apply(RESOURCES.service, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'taken-mqtt' }, spec: { ports: [{ name: 'web', port: 80 }], selector: { app: 'theirs' } } } as Obj);
  await kube.bridge('taken', { rocketmq });
  const stalled = await kube.waitReady(RESOURCES.mqttBridge, 'taken', 'Conflict');
  expect(condition(stalled, 'Stalled')).toMatchObject({ status: 'True', reason: 'Conflict' });
  expect(condition(stalled, 'Ready')!.message).toMatch(/Service taken-mqtt exists and is not owned/);
  await sleep(2_500); // a resync later: still untouched
  const theirs = await kube.get(RESOURCES.service, 'taken-mqtt');
  expect(theirs.metadata!.ownerReferences ?? []).toEqual([]);
  expect((theirs.spec!.ports as { name: string }[]).map((p) => p.name)).toEqual(['web']);
  expect(await kube.tryGet(RESOURCES.deployment, 'taken-bridge')).toBeUndefined();
  // Once the name is free, the bridge is created.
  await kube.delete(RESOURCES.service, 'taken-mqtt');
  await waitFor('the bridge applied', () => kube.tryGet(RESOURCES.deployment, 'taken-bridge'), 30_000);
  await kube.waitReady(RESOURCES.mqttBridge, 'taken', 'RollingOut');
});

test('a Secret is mounted only when it carries the opt-in label', async () => {
  await kube.apply(RESOURCES.secret, secret('device-keys'));
  await kube.bridge('keys', { rocketmq, auth: { mode: 'Signature', instanceId: 'i-1', accessKeysSecret: { name: 'device-keys' } } });
  const refused = await kube.waitReady(RESOURCES.mqttBridge, 'keys', 'SecretNotAllowed');
  expect(condition(refused, 'Ready')!.message).toMatch(/mqbridge.dev\/allow-bridges=true/);
  expect(await kube.tryGet(RESOURCES.deployment, 'keys-bridge')).toBeUndefined();
  // The owner of the Secret labels it: the bridge goes ahead without any change to it.
  await kube.mergePatch(RESOURCES.secret, 'device-keys', { metadata: { labels: { 'mqbridge.dev/allow-bridges': 'true' } } });
  const dep = await waitFor('the Deployment', () => kube.tryGet(RESOURCES.deployment, 'keys-bridge'), 30_000);
  const volumes = (dep.spec!.template as { spec: { volumes: { secret?: { secretName: string } }[] } }).spec.volumes;
  expect(volumes.filter((v) => v.secret).map((v) => v.secret!.secretName)).toEqual(['device-keys']);
});

test('only allowed images run; a refused one leaves the running Deployment as it was', async () => {
  await kube.bridge('img', { rocketmq });
  await kube.waitReady(RESOURCES.mqttBridge, 'img', 'RollingOut');
  await kube.mergePatch(RESOURCES.mqttBridge, 'img', { spec: { image: 'attacker.example/exfiltrate:latest' } });
  const refused = await kube.waitReady(RESOURCES.mqttBridge, 'img', 'ImageNotAllowed');
  expect(condition(refused, 'Ready')!.message).toMatch(/attacker\.example\/exfiltrate:latest is not allowed/);
  const dep = await kube.get(RESOURCES.deployment, 'img-bridge');
  expect((dep.spec!.template as { spec: { containers: { image: string }[] } }).spec.containers[0]!.image).toBe(IMAGE);
  await kube.mergePatch(RESOURCES.mqttBridge, 'img', { spec: { image: 'example.com/bridge:other-tag' } });
  await waitFor('the allowed image applied', async () => {
    const d = await kube.get(RESOURCES.deployment, 'img-bridge');
    return (d.spec!.template as { spec: { containers: { image: string }[] } }).spec.containers[0]!.image === 'example.com/bridge:other-tag' || undefined;
  });
});

test('tolerations of control-plane taints, and auth None on a LoadBalancer, are refused', async () => {
  await kube.bridge('tol', { rocketmq, tolerations: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' }] });
  await kube.waitReady(RESOURCES.mqttBridge, 'tol', 'SchedulingNotAllowed');
  await kube.bridge('open', { rocketmq, service: { type: 'LoadBalancer' } });
  await kube.waitReady(RESOURCES.mqttBridge, 'open', 'UnauthenticatedExposure');
  await kube.mergePatch(RESOURCES.mqttBridge, 'open', { spec: { service: { allowUnauthenticated: true } } });
  await kube.waitReady(RESOURCES.mqttBridge, 'open', 'RollingOut');
});

test('tenancy: RocketMQ topics and consumer groups outside the namespace\'s prefixes are Forbidden', async () => {
  await kube.bridge('tenant', { rocketmq: { endpoints: ROCKETMQ_ENDPOINT } }); // the default group mqbridge_<ns>_tenant is allowed
  await kube.binding('tenant-ok', { bridge: 'tenant', mqttParentTopic: 'okay', rocketmqTopic: TOPICS.normal });
  await kube.binding('tenant-foreign', { bridge: 'tenant', mqttParentTopic: 'foreign', rocketmqTopic: TOPICS.cluster });
  await kube.waitReady(RESOURCES.topicBinding, 'tenant-ok', 'Bound');
  const forbidden = await kube.waitReady(RESOURCES.topicBinding, 'tenant-foreign', 'Forbidden');
  expect(condition(forbidden, 'Ready')!.message).toMatch(/IT_CLUSTER is not allowed/);
  const cm = await waitFor('the ConfigMap', () => kube.tryGet(RESOURCES.configMap, 'tenant-bridge-config'));
  expect(cm.data!['bridge.yaml']).toContain(`consumerGroup: mqbridge_${kube.namespace}_tenant`);
  expect(cm.data!['bridge.yaml']).not.toContain('IT_CLUSTER');
  // Another tenant's consumer group: the bridge stalls.
  await kube.bridge('thief', { rocketmq: { endpoints: ROCKETMQ_ENDPOINT, consumerGroup: `mqbridge_${other.namespace}_victim` } });
  await kube.waitReady(RESOURCES.mqttBridge, 'thief', 'Forbidden');
  // A namespace without rules may use nothing here (restrictUnlisted).
  await other.bridge('nothing', { rocketmq });
  await other.waitReady(RESOURCES.mqttBridge, 'nothing', 'Forbidden');
});
