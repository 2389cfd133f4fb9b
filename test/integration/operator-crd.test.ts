import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { KUBE_SCRIPT, createNamespace, installCrds, kubectl, kubectlApply } from './support/kube.js';

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

function kubectlScale(name: string, replicas: number): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    execFile('bash', [KUBE_SCRIPT, 'kubectl', 'scale', `mqttbridge/${name}`, `--replicas=${replicas}`, '-n', ns], { env: process.env, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ ok: !err, output: `${stdout}${stderr}` }),
    );
  });
}

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
    ['two replicas without a session store', () => bridge('b1', { rocketmq, replicas: 2 }), 'more than one bridge pod (replicas or autoscaling.maxReplicas above 1) needs sessionStore.redis'],
    ['autoscaling to 3 without a session store', () => bridge('b1', { rocketmq, autoscaling: { maxReplicas: 3 } }), 'needs sessionStore.redis'],
    ['a session store without Redis', () => bridge('b1', { rocketmq, replicas: 2, sessionStore: { sessionExpirySeconds: 600 } }), 'needs sessionStore.redis'],
    ['Redis with neither url nor urlSecret', () => bridge('b1', { rocketmq, sessionStore: { redis: { cluster: true } } }), 'exactly one of url and urlSecret'],
    ['Redis with both url and urlSecret', () => bridge('b1', { rocketmq, sessionStore: { redis: { url: 'redis://r:6379', urlSecret: { name: 's' } } } }), 'exactly one of url and urlSecret'],
    ['a Redis URL of another scheme', () => bridge('b1', { rocketmq, sessionStore: { redis: { url: 'http://r:6379' } } }), 'must be a redis:// or rediss:// URL'],
    ['session expiry under a minute', () => bridge('b1', { rocketmq, sessionStore: { redis: { url: 'redis://r:6379' }, sessionExpirySeconds: 5 } }), 'greater than or equal to 60'],
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

  test('several pods with a session store are accepted; scaling one without it is refused', async () => {
    const sessionStore = { redis: { urlSecret: { name: 'redis-url' } } };
    const scaled = await kubectlApply(bridge('b-shared', { rocketmq, replicas: 3, autoscaling: { maxReplicas: 6 }, sessionStore }));
    expect(scaled.output).toContain('created');
    expect((await kubectlApply(bridge('b-single', { rocketmq }))).ok).toBe(true);
    // kubectl scale and an HPA write through the scale subresource: the rule holds there too.
    const refused = await kubectlScale('b-single', 2);
    expect(refused.ok).toBe(false);
    expect(refused.output).toContain('needs sessionStore.redis');
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
