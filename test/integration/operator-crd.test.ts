import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { createNamespace, installCrds, kubectl, kubectlApply } from './support/kube.js';

const EXAMPLES = fileURLToPath(new URL('../../../examples/', import.meta.url));

let ns: string;

beforeAll(async () => {
  await installCrds();
  ns = await createNamespace('crd');
});

const bridge = (name: string, spec: Record<string, unknown>) =>
  stringify({ apiVersion: 'mqbridge.dev/v1alpha1', kind: 'MqttBridge', metadata: { name, namespace: ns }, spec });
const binding = (name: string, spec: Record<string, unknown>) =>
  stringify({ apiVersion: 'mqbridge.dev/v1alpha1', kind: 'TopicBinding', metadata: { name, namespace: ns }, spec });
const goodBinding = { bridge: 'b1', mqttParentTopic: 'sensors', rocketmqTopic: 'SENSORS' };
const rocketmq = { endpoints: 'rocketmq-proxy.rocketmq.svc:8081' };

describe('the real API server refuses bad resources with a readable message', () => {
  test.each([
    ['endpoints without a port', () => bridge('b1', { rocketmq: { endpoints: 'proxy' } }), 'host:port entries'],
    ['endpoints with a bad port', () => bridge('b1', { rocketmq: { endpoints: 'proxy:99999' } }), 'port is 1-65535'],
    ['replicas over the limit', () => bridge('b1', { rocketmq, replicas: 1001 }), 'less than or equal to 1000'],
    ['maxReplicas below minReplicas', () => bridge('b1', { rocketmq, autoscaling: { minReplicas: 3, maxReplicas: 2 } }), 'maxReplicas must be greater than or equal to autoscaling.minReplicas'],
    ['nodePort on a ClusterIP service', () => bridge('b1', { rocketmq, service: { type: 'ClusterIP', nodePort: 30001 } }), 'nodePort can only be set when service.type is NodePort or LoadBalancer'],
    ['unknown service type', () => bridge('b1', { rocketmq, service: { type: 'Ingress' } }), 'Unsupported value'],
    ['payload limit over 4 MiB', () => bridge('b1', { rocketmq, mqtt: { maxPayloadBytes: 5_000_000 } }), 'maxPayloadBytes'],
    ['unknown field', () => bridge('b1', { rocketmq, frobnicate: {} }), 'unknown field "spec.frobnicate"'],
    ['missing rocketmq', () => bridge('b1', {}), 'spec.rocketmq: Required value'],
    ['bridge name with a dot', () => bridge('b.1', { rocketmq }), 'metadata.name of an MqttBridge'],
    ['auth without keys', () => bridge('b1', { rocketmq, auth: { mode: 'Signature' } }), 'auth.instanceId and auth.accessKeysSecret are required unless auth.mode is None'],
    ['TLS without a certificate', () => bridge('b1', { rocketmq, tls: { enabled: true } }), 'tls.certificateSecret is required when tls.enabled is true'],
    ['secure WebSocket without a certificate', () => bridge('b1', { rocketmq, websocket: { enabled: true, securePort: 8084 } }), 'websocket.securePort needs tls.certificateSecret'],
    ['an HTTPS token API without a certificate', () => bridge('b1', { rocketmq, auth: { mode: 'Token', instanceId: 'i', accessKeysSecret: { name: 'k' }, tokenApi: { tls: true } } }), 'auth.tokenApi.tls needs tls.certificateSecret'],
    ['a token API port out of range', () => bridge('b1', { rocketmq, auth: { tokenApi: { port: 70000 } } }), 'spec.auth.tokenApi.port'],
    ['WebSocket path without a slash', () => bridge('b1', { rocketmq, websocket: { enabled: true, path: 'mqtt' } }), 'must start with /'],
    ['parent topic too short', () => binding('t1', { ...goodBinding, mqttParentTopic: 'ab' }), '3-64 characters'],
    ['parent topic with a slash', () => binding('t1', { ...goodBinding, mqttParentTopic: 'a/b/c' }), '3-64 characters'],
    ['bad RocketMQ topic', () => binding('t1', { ...goodBinding, rocketmqTopic: 'has space' }), 'RocketMQ topic name'],
    ['unknown direction', () => binding('t1', { ...goodBinding, direction: 'Both' }), 'Unsupported value: "Both"'],
    ['QoS 3', () => binding('t1', { ...goodBinding, defaultQos: 3 }), 'less than or equal to 2'],
    ['missing bridge', () => binding('t1', { mqttParentTopic: 'abc', rocketmqTopic: 'T' }), 'spec.bridge: Required value'],
  ])('%s', async (_name, yaml, message) => {
    const result = await kubectlApply(yaml());
    expect(result.ok).toBe(false);
    expect(result.output).toContain(message);
  });

  test('a good bridge and binding are accepted, with defaults filled in', async () => {
    expect((await kubectlApply(bridge('b1', { rocketmq }))).ok).toBe(true);
    const result = await kubectlApply(binding('t-ok', goodBinding));
    expect(result.output).toContain('created');
  });

  test('spec.bridge and spec.mqttParentTopic cannot change', async () => {
    await kubectlApply(binding('t-immutable', goodBinding));
    const moved = await kubectlApply(binding('t-immutable', { ...goodBinding, bridge: 'other', mqttParentTopic: 'other' }));
    expect(moved.ok).toBe(false);
    expect(moved.output).toContain('spec.bridge is immutable');
    expect(moved.output).toContain('spec.mqttParentTopic is immutable');
    const retopic = await kubectlApply(binding('t-immutable', { ...goodBinding, rocketmqTopic: 'OTHER', direction: 'MqttToRocketmq' }));
    expect(retopic.ok).toBe(true);
  });
});

// examples/bridge.yaml is a bridge config file, not a Kubernetes manifest.
const manifests = readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml') && /^apiVersion:/m.test(readFileSync(`${EXAMPLES}${f}`, 'utf8')));

test.each(manifests)('examples/%s is accepted by the API server (server-side dry run)', async (file) => {
  // In a namespace of its own, so objects other tests left in "default" cannot interfere.
  const text = readFileSync(`${EXAMPLES}${file}`, 'utf8').replaceAll('namespace: default', `namespace: ${ns}`);
  const copy = join(await mkdtemp(join(tmpdir(), 'mqbridge-example-')), file);
  await writeFile(copy, text);
  const out = await kubectl('apply', '--dry-run=server', '-f', copy);
  expect(out).toMatch(/\(server dry run\)/);
});
