import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { GROUPS, ROCKETMQ_ENDPOINT, TOPICS, sleep, waitFor } from './support/env.js';
import { KUBE_SCRIPT, Kube, RESOURCES, createNamespace, installCrds } from './support/kube.js';
import { startOperator, type OperatorProcess } from './support/operator.js';

let kube: Kube;
const running: OperatorProcess[] = [];

beforeAll(async () => {
  await installCrds();
  kube = new Kube(await createNamespace('ha'));
});

afterAll(async () => {
  await Promise.all(running.map((o) => o.stop('SIGKILL')));
});

async function operator(...extra: string[]): Promise<OperatorProcess> {
  const op = await startOperator(['--watch-namespaces', kube.namespace, '--resync-seconds', '2', ...extra]);
  running.push(op);
  return op;
}

const rocketmq = { endpoints: ROCKETMQ_ENDPOINT, consumerGroup: GROUPS.bridgeDownlink };
const boundParents = async (bridge: string) => {
  const cm = await kube.tryGet(RESOURCES.configMap, `${bridge}-bridge-config`);
  return cm ? (parse(cm.data!['bridge.yaml']!) as { bindings: { mqttParentTopic: string }[] }).bindings.map((b) => b.mqttParentTopic).sort() : [];
};

test('an operator killed in the middle of reconciling converges after its restart', async () => {
  const first = await operator();
  await kube.bridge('hab', { rocketmq });
  const parents = Array.from({ length: 30 }, (_, i) => `topic_${String(i).padStart(2, '0')}`);
  const creating = Promise.all(parents.map((p) => kube.binding(`hab-${p.replace('_', '-')}`, { bridge: 'hab', mqttParentTopic: p, rocketmqTopic: TOPICS.normal, direction: 'MqttToRocketmq' })));
  await waitFor('reconciling has begun', async () => ((await boundParents('hab')).length > 0 ? true : undefined), 30_000, 20);
  await first.stop('SIGKILL');
  await creating;
  const second = await operator();
  await waitFor('all 30 bindings in the config', async () => ((await boundParents('hab')).length === 30 ? true : undefined), 60_000);
  expect(await boundParents('hab')).toEqual(parents);
  for (const p of parents.slice(0, 3)) await kube.waitReady(RESOURCES.topicBinding, `hab-${p.replace('_', '-')}`, 'Bound');
  await second.stop();
});

test('two operators with leader election: one leads, the other takes over when it dies', async () => {
  const lease = ['--leader-elect', '--leader-election-namespace', kube.namespace];
  const a = await operator(...lease);
  const b = await operator(...lease);
  const leaders = async () => [await a.metric('mqbridge_operator_leader'), await b.metric('mqbridge_operator_leader')];
  await waitFor('a leader', async () => ((await leaders()).reduce((x, y) => x + y) === 1 ? true : undefined), 30_000);
  await sleep(3_000);
  expect((await leaders()).reduce((x, y) => x + y)).toBe(1);
  const [leader, follower] = (await a.metric('mqbridge_operator_leader')) === 1 ? [a, b] : [b, a];

  // Only the leader reconciles.
  await kube.binding('hab-extra', { bridge: 'hab', mqttParentTopic: 'extra', rocketmqTopic: TOPICS.down });
  await waitFor('extra bound', async () => ((await boundParents('hab')).includes('extra') ? true : undefined), 30_000);
  expect(await follower.metric('mqbridge_operator_reconciles_total')).toBe(0);
  expect(await leader.metric('mqbridge_operator_reconciles_total')).toBeGreaterThan(0);

  // The leader dies without releasing the lease; the follower takes over after it expires.
  await leader.stop('SIGKILL');
  await waitFor('follower leads', async () => ((await follower.metric('mqbridge_operator_leader')) === 1 ? true : undefined), 40_000);
  await kube.binding('hab-after', { bridge: 'hab', mqttParentTopic: 'after', rocketmqTopic: TOPICS.fault });
  await waitFor('reconciled by the new leader', async () => ((await boundParents('hab')).includes('after') ? true : undefined), 30_000);

  // A clean shutdown releases the lease at once.
  const c = await operator(...lease);
  const handedOver = Date.now();
  await follower.stop('SIGTERM');
  await waitFor('c leads', async () => ((await c.metric('mqbridge_operator_leader')) === 1 ? true : undefined), 20_000);
  console.info(`leader handover after a clean stop: ${Date.now() - handedOver} ms`);
});

test('the operator survives an API server restart: its watches come back and it reconciles again', async () => {
  const op = await operator();
  await waitFor('synced', async () => ((await op.metric('mqbridge_operator_reconciles_total')) > 0 ? true : undefined), 30_000);
  await restartApiServer();
  await kube.binding('hab-restart', { bridge: 'hab', mqttParentTopic: 'restarted', rocketmqTopic: TOPICS.normal, direction: 'MqttToRocketmq' });
  // The binding is new: the operator can only learn of it through a watch that came back.
  await waitFor('reconciled after the restart', async () => ((await boundParents('hab')).includes('restarted') ? true : undefined), 60_000);
  expect(op.logs.some((l) => l.msg === 'watch failed; restarting')).toBe(true);
  expect(op.child.exitCode).toBeNull();
});

async function restartApiServer(): Promise<void> {
  const run = promisify(execFile);
  await run('bash', [KUBE_SCRIPT, 'stop'], { env: process.env, timeout: 120_000 });
  await sleep(2_000);
  await run('bash', [KUBE_SCRIPT, 'start'], { env: process.env, timeout: 180_000 });
  await run('bash', [KUBE_SCRIPT, 'start', '--with-gc'], { env: process.env, timeout: 180_000 });
}
