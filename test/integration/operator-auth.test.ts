import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { IClientOptions } from 'mqtt';
import { signatureFor } from '../../bridge/auth/signature.js';
import { GROUPS, ROCKETMQ_ENDPOINT, TOPICS, uniqueId, waitFor } from './support/env.js';
import { Kube, RESOURCES, createNamespace, installCrds, kubeconfigPath } from './support/kube.js';
import { Device } from './support/mqtt.js';
import { startOperator, type OperatorProcess } from './support/operator.js';

/**
 * Access keys from a Kubernetes Secret, end to end: the operator mounts the Secret into the
 * bridge pod (run here by the demo's pod runner, which writes Secret volumes as the kubelet
 * does), devices and the token API use the keys, and a key rotated in the Secret takes effect
 * in the running pod without a restart.
 */
const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../../bridge/cli/main.js', import.meta.url));
const POD_RUNNER = fileURLToPath(new URL('../../demo/pod-runner.js', import.meta.url));
const INSTANCE = 'inst-e2e';
const secretPath = (ns: string) => `/api/v1/namespaces/${ns}/secrets/device-keys`;

let kube: Kube;
let operator: OperatorProcess;
let runner: ChildProcess;
const runnerLog: string[] = [];

async function putKeys(keys: Record<string, string>): Promise<void> {
  const data = Object.fromEntries(Object.entries(keys).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
  const labels = { 'mqbridge.dev/allow-bridges': 'true' };
  await kube.rest.apply(secretPath(kube.namespace), { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'device-keys', namespace: kube.namespace, labels }, data }, 'test-user');
}

beforeAll(async () => {
  await installCrds();
  kube = new Kube(await createNamespace('opauth'));
  await putKeys({ AK_ONE: 'first-secret' });
  operator = await startOperator(['--watch-namespaces', kube.namespace, '--resync-seconds', '5', '--bridge-image', 'example.com/bridge:test']);
  runner = spawn(process.execPath, [POD_RUNNER], {
    env: { ...process.env, KUBECONFIG: kubeconfigPath(), POD_RUNNER_NAMESPACE: kube.namespace, POD_RUNNER_DIR: await mkdtemp(join(tmpdir(), 'mqbridge-pods-')), POD_RUNNER_MQTT_PORT: '17883', POD_RUNNER_HTTP_PORT: '17990', POD_RUNNER_TOKEN_API_PORT: '17890' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  runner.stdout!.on('data', (d: Buffer) => runnerLog.push(d.toString()));
  runner.stderr!.on('data', (d: Buffer) => runnerLog.push(d.toString()));
});

afterAll(async () => {
  if (runner && runner.exitCode === null) {
    runner.kill('SIGTERM');
    await new Promise((r) => runner.once('exit', r));
  }
  await operator?.stop();
});

test('Secret keys reach the pod; the token API and devices use them; a rotated key applies without a restart', async () => {
  await kube.bridge('edge', {
    rocketmq: { endpoints: ROCKETMQ_ENDPOINT, consumerGroup: GROUPS.bridgeOperatorAuth },
    auth: { mode: 'SignatureOrToken', instanceId: INSTANCE, accessKeysSecret: { name: 'device-keys' } },
  });
  await kube.binding('edge-cmds', { bridge: 'edge', mqttParentTopic: 'opauth', rocketmqTopic: TOPICS.down });
  await kube.waitReady(RESOURCES.mqttBridge, 'edge', 'Available', 90_000);
  const started = /started pod \S+: MQTT 127\.0\.0\.1:(\d+), HTTP \S+, token API 127\.0\.0\.1:(\d+)/.exec(runnerLog.join(''));
  expect(started).not.toBeNull();
  const [mqttPort, apiPort] = [Number(started![1]), Number(started![2])];

  const env = { ...process.env, MQBRIDGE_ACCESS_KEY_ID: 'AK_ONE', MQBRIDGE_INSTANCE_ID: INSTANCE, MQBRIDGE_TOKEN_API: `http://127.0.0.1:${apiPort}` };
  const apply = async (secret: string) => (await run(process.execPath, [CLI, 'token', 'apply', '--resource', 'opauth/#', '--actions', 'RW', '--ttl', '600'], { env: { ...env, MQBRIDGE_ACCESS_KEY_SECRET: secret } })).stdout.trim();
  const token = await apply('first-secret');
  const device = await Device.connect(mqttPort, { clientId: 'GID_e2e@@@tok', username: `Token|AK_ONE|${INSTANCE}`, password: `RW|${token}` });
  const topic = `opauth/${uniqueId('t')}`;
  expect(await device.subscribe(topic)).toBe(1);
  await device.publish(topic, 'through an operator-made pod', 1);
  await waitFor('own message back', () => device.received.find((r) => r.topic === topic));
  await device.end();

  const signed = (clientId: string, secret: string): IClientOptions => ({ clientId, username: `Signature|AK_ONE|${INSTANCE}`, password: signatureFor(secret, clientId) });
  const accepted = async (options: IClientOptions) => {
    const d = await Device.connect(mqttPort, options).catch(() => undefined);
    await d?.end();
    return d !== undefined;
  };
  expect(await accepted(signed('GID_e2e@@@sig', 'first-secret'))).toBe(true);

  await putKeys({ AK_ONE: 'second-secret' });
  const t0 = Date.now();
  await waitFor('rotated key in force', async () => ((await accepted(signed('GID_e2e@@@sig', 'second-secret'))) ? true : undefined), 30_000, 200);
  console.log(`key rotation through the Secret took effect in the running pod after ${Date.now() - t0} ms`);
  expect(await accepted(signed('GID_e2e@@@sig', 'first-secret'))).toBe(false);
  // Tokens are signed with a key derived from the secret: the old ones end with it.
  expect(await accepted({ clientId: 'GID_e2e@@@tok', username: `Token|AK_ONE|${INSTANCE}`, password: `RW|${token}` })).toBe(false);
  expect(await accepted({ clientId: 'GID_e2e@@@tok', username: `Token|AK_ONE|${INSTANCE}`, password: `RW|${await apply('second-secret')}` })).toBe(true);
  expect(runnerLog.join('')).not.toMatch(/exited \(/);

  // The secrets are in the Secret only.
  const cm = JSON.stringify(await kube.get(RESOURCES.configMap, 'edge-bridge-config'));
  const status = JSON.stringify((await kube.get(RESOURCES.mqttBridge, 'edge')).status);
  for (const text of [cm, status, JSON.stringify(operator.logs)]) expect(text).not.toMatch(/first-secret|second-secret/);
});
