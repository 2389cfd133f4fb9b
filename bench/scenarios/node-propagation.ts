/**
 * node-propagation: on the real node (kubelet, containerd; test/env/node.sh), how long a
 * TopicBinding added, changed and removed takes to be in force on every ready bridge pod.
 *
 * Three clocks per change, all started at the `kubectl` call:
 * - served: every pod, probed at its own address on fresh connections, answers by the new
 *   binding: a QoS 1 PUBLISH acknowledged once added (MqttToRocketmq), a SUBSCRIBE granted
 *   once turned to RocketmqToMqtt, refused (0x80) once removed. Each is an answer only the
 *   new state gives. The bridges follow their ConfigMap through the API (reload.configMap).
 * - status: the operator says so (the binding `Ready` at its generation; on removal, the
 *   MqttBridge counts one binding less with every ready pod on the current config).
 * - kubelet file (not with --quick): the mounted config file holds the change in every pod,
 *   the design before: a bridge reloading only from its mounted file waits for the kubelet's
 *   refresh (its sync period, 1 min by default, plus its ConfigMap cache).
 */
import { parse } from 'yaml';
import { CONFIG_DIR, CONFIG_FILE, objectNames, selectorString } from '../../operator/render/names.js';
import { onCleanup } from '../env/cleanup.js';
import { NODE_IP, kubectl, realNode } from '../env/node.js';
import { rocketmq, useRocketmqHost } from '../env/rocketmq.js';
import { firstAnswer } from '../lib/first-answer.js';
import { Histogram } from '../lib/histogram.js';
import { tryPublish, trySubscribe } from '../lib/mqtt-probe.js';
import { fmtUs, latencySummary, machine, printTable, writeResult } from '../lib/output.js';
import { sleep } from '../lib/proc.js';

const NS = 'default';
const BRIDGE = 'propagation';
const TOPIC = 'BENCH_PROPAGATION';
const GROUP = 'BENCH_PROPAGATION_BRIDGE';
const OPS = ['add', 'change', 'remove'] as const;
type Op = (typeof OPS)[number];
type Clock = 'served' | 'status' | 'kubeletFile';
/** A fresh probe per pod this often, overlapping: a stalled one does not hold the clock back. */
const PROBE_EVERY_MS = 20;
const PROBES_IN_FLIGHT = 10;

interface PodView {
  metadata: { name: string; deletionTimestamp?: string };
  status: { podIP?: string; conditions?: { type: string; status: string }[] };
}
interface Conditioned {
  metadata: { generation?: number };
  status?: { observedGeneration?: number; conditions?: { type: string; status: string }[]; bindings?: number; configuredReplicas?: number; readyReplicas?: number };
}

const get = async <T>(...args: string[]) => JSON.parse(await kubectl(['get', ...args, '-n', NS, '-o', 'json'])) as T;
const ready = (o: { status?: { conditions?: { type: string; status: string }[] } }) => o.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number, everyMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(everyMs);
  }
}

function bindingYaml(parent: string, direction: string): string {
  return JSON.stringify({ apiVersion: 'mqbridge.dev/v1alpha1', kind: 'TopicBinding', metadata: { name: parent, namespace: NS }, spec: { bridge: BRIDGE, mqttParentTopic: parent, rocketmqTopic: TOPIC, direction } });
}

/** The probe that gets an answer only once a pod runs the change. */
const probes: Record<Op, (host: string, clientId: string, parent: string) => Promise<boolean>> = {
  add: (host, id, parent) => tryPublish(1883, id, `${parent}/probe`, 2000, host),
  change: async (host, id, parent) => (await trySubscribe(1883, id, `${parent}/#`, 2000, host)) === 1,
  remove: async (host, id, parent) => (await trySubscribe(1883, id, `${parent}/#`, 2000, host)) === 0x80,
};
/** The binding's direction in the config file after the change (undefined: not there). */
const expectInFile: Record<Op, string | undefined> = { add: 'MqttToRocketmq', change: 'RocketmqToMqtt', remove: undefined };

async function servedOnEveryPod(pods: PodView[], parent: string, op: Op): Promise<void> {
  let attempt = 0;
  await Promise.all(
    pods.map((p) =>
      firstAnswer(() => probes[op](p.status.podIP!, `GID_bench@@@probe-${attempt++}`, parent), {
        everyMs: PROBE_EVERY_MS,
        maxInFlight: PROBES_IN_FLIGHT,
        deadlineMs: 300_000,
        what: `pod ${p.metadata.name} to ${op} ${parent}`,
      }),
    ),
  );
}

async function statusSays(parent: string, op: Op, bindingsAfter: number, replicas: number): Promise<void> {
  await until(
    `the status of ${parent} after ${op}`,
    async () => {
      if (op !== 'remove') {
        const b = await get<Conditioned>('topicbinding', parent);
        return ready(b) && b.status?.observedGeneration === b.metadata.generation;
      }
      const m = await get<Conditioned>('mqttbridge', BRIDGE);
      return m.status?.bindings === bindingsAfter && m.status?.configuredReplicas === replicas && ready(m);
    },
    300_000,
    100,
  );
}

async function fileOnEveryPod(pods: PodView[], parent: string, op: Op): Promise<void> {
  const read = `process.stdout.write(require("fs").readFileSync(${JSON.stringify(`${CONFIG_DIR}/${CONFIG_FILE}`)}, "utf8"))`;
  await Promise.all(
    pods.map((p) =>
      until(
        `the kubelet to refresh ${p.metadata.name}'s config file`,
        async () => {
          const config = parse(await kubectl(['exec', '-n', NS, p.metadata.name, '--', 'node', '-e', read])) as { bindings?: { mqttParentTopic: string; direction?: string }[] };
          return config.bindings?.find((b) => b.mqttParentTopic === parent)?.direction === expectInFile[op];
        },
        300_000,
        500,
      ),
    ),
  );
}

/** Runs one change and its clocks; returns ms per clock. */
async function measure(pods: PodView[], parent: string, op: Op, bindingsAfter: number, withFile: boolean): Promise<Partial<Record<Clock, number>>> {
  const t0 = Date.now();
  const since = () => Date.now() - t0;
  const change =
    op === 'add' ? kubectl(['apply', '-f', '-'], bindingYaml(parent, 'MqttToRocketmq'))
    : op === 'change' ? kubectl(['apply', '-f', '-'], bindingYaml(parent, 'RocketmqToMqtt'))
    : kubectl(['delete', 'topicbinding', parent, '-n', NS, '--wait=false']);
  const [served, status, kubeletFile] = await Promise.all([
    servedOnEveryPod(pods, parent, op).then(since),
    statusSays(parent, op, bindingsAfter, pods.length).then(since),
    withFile ? fileOnEveryPod(pods, parent, op).then(since) : undefined,
    change,
  ]);
  return { served, status, ...(kubeletFile !== undefined ? { kubeletFile } : {}) };
}

async function startBridge(redisUrl: string, endpoints: string, replicas: number): Promise<PodView[]> {
  const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: `${BRIDGE}-redis`, namespace: NS, labels: { 'mqbridge.dev/allow-bridges': 'true' } }, stringData: { url: redisUrl } };
  const bridge = {
    apiVersion: 'mqbridge.dev/v1alpha1',
    kind: 'MqttBridge',
    metadata: { name: BRIDGE, namespace: NS },
    spec: { replicas, rocketmq: { endpoints, consumerGroup: GROUP }, sessionStore: { redis: { urlSecret: { name: secret.metadata.name } } } },
  };
  onCleanup('propagation bridge', async () => {
    await kubectl(['delete', 'mqttbridge,topicbinding', '-n', NS, '--ignore-not-found', '--wait=false', BRIDGE, `${BRIDGE}-anchor`]).catch(() => undefined);
  });
  // A bridge in use has other bindings: one that stays, so a removal never leaves it empty.
  const anchor = JSON.parse(bindingYaml(`${BRIDGE}-anchor`, 'MqttToRocketmq')) as { spec: { mqttParentTopic: string } };
  anchor.spec.mqttParentTopic = 'anchor';
  await kubectl(['apply', '-f', '-'], [secret, bridge, anchor].map((o) => JSON.stringify(o)).join('\n---\n'));
  await kubectl(['rollout', 'status', `deployment/${objectNames(BRIDGE).deployment}`, '-n', NS, '--timeout=240s']).catch(async () => {
    await until('the bridge Deployment', async () => (await kubectl(['get', 'deployment', objectNames(BRIDGE).deployment, '-n', NS])).length > 0, 60_000, 500);
    await kubectl(['rollout', 'status', `deployment/${objectNames(BRIDGE).deployment}`, '-n', NS, '--timeout=240s']);
  });
  let pods: PodView[] = [];
  await until(`${replicas} ready bridge pods`, async () => {
    pods = (await get<{ items: PodView[] }>('pods', '-l', selectorString(BRIDGE))).items.filter((p) => !p.metadata.deletionTimestamp && ready(p));
    const m = await get<Conditioned>('mqttbridge', BRIDGE);
    return pods.length === replicas && m.status?.configuredReplicas === replicas;
  }, 240_000, 500);
  return pods;
}

export async function run(opts: { quick: boolean }): Promise<void> {
  const params = { rounds: opts.quick ? 1 : 4, bridgePods: 2, kubeletFile: !opts.quick, probeEveryMs: PROBE_EVERY_MS, probesInFlight: PROBES_IN_FLIGHT, statusPollMs: 100, filePollMs: 500 };
  const machineInfo = machine();
  // The node first: RocketMQ binds the node's address, which exists only while it runs.
  const node = await realNode(NS);
  useRocketmqHost(NODE_IP);
  const rmq = await rocketmq({ topics: [`${TOPIC}:NORMAL`], groups: [GROUP] });
  const pods = await startBridge(node.redisUrl, rmq.endpoints, params.bridgePods);
  const clocks: Clock[] = ['served', 'status', ...(params.kubeletFile ? (['kubeletFile'] as const) : [])];
  const hist = Object.fromEntries(OPS.map((op) => [op, Object.fromEntries(clocks.map((c) => [c, new Histogram()]))])) as Record<Op, Record<Clock, Histogram>>;
  const samplesMs: { round: number; op: Op; ms: Partial<Record<Clock, number>> }[] = [];
  const stem = `prop${Date.now().toString(36).slice(-4)}`;
  for (let round = 0; round < params.rounds; round++) {
    const parent = `${stem}r${round}`;
    for (const [i, op] of OPS.entries()) {
      const ms = await measure(pods, parent, op, op === 'remove' ? 1 : 2, params.kubeletFile);
      samplesMs.push({ round, op, ms });
      for (const c of clocks) if (ms[c] !== undefined) hist[op][c].record(ms[c]! * 1000);
      process.stderr.write(`[node-propagation] round ${round} ${op} (${i + 1}/3): ${clocks.map((c) => `${c} ${ms[c]} ms`).join(', ')}\n`);
    }
  }
  const results = Object.fromEntries(OPS.map((op) => [op, Object.fromEntries(clocks.map((c) => [`${c}Us`, latencySummary(hist[op][c])]))]));
  const servedAll = new Histogram();
  for (const s of samplesMs) servedAll.record(s.ms.served! * 1000);
  const target = { servedP99AtMostUs: 2_000_000, met: servedAll.percentile(99) <= 2_000_000 };
  printTable(
    ['change', ...clocks.flatMap((c) => [`${c} p50`, `${c} max`])],
    OPS.map((op) => [op, ...clocks.flatMap((c) => [fmtUs(hist[op][c].percentile(50)), fmtUs(hist[op][c].max)])]),
  );
  writeResult('node-propagation', opts.quick, {
    machine: machineInfo,
    versions: { rocketmq: rmq.version, kubernetes: process.env.KUBE_VERSION ?? 'v1.34.4' },
    parameters: { ...params, kubeletSyncFrequency: 'default (1m)' },
    results: { ...results, servedEveryChangeUs: latencySummary(servedAll), target, samplesMs },
  });
}
