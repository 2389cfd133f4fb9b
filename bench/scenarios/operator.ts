/**
 * operator: on a real kube-apiserver, the operator and the local pod runner (bridge pods as
 * processes). Time from `kubectl apply` of a TopicBinding to the first message a device gets
 * acknowledged through the running pod (the bridge acknowledges only what RocketMQ stored);
 * time to reconcile 1,000 TopicBindings; the operator's RSS; API writes during an idle resync.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { Histogram } from '../lib/histogram.js';
import { tryPublish } from '../lib/mqtt-probe.js';
import { fmt, fmtUs, latencySummary, machine, packageVersion, printTable, round2, writeResult } from '../lib/output.js';
import { procRssBytes, sleep } from '../lib/proc.js';
import { onCleanup } from '../env/cleanup.js';
import { KUBECONFIG, kube, kubectl } from '../env/kube.js';
import { rocketmq } from '../env/rocketmq.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PORTS = { operatorHttp: 21602, podMqtt: 21611, podHttp: 21631 };
const NS = 'default';

/** The operator runs with the V8 settings the Helm chart gives its container (`nodeOptions`). */
function operatorNodeArgs(): string[] {
  const values = parse(readFileSync(`${ROOT}charts/mqbridge/values.yaml`, 'utf8')) as { nodeOptions?: string };
  return values.nodeOptions?.split(' ').filter(Boolean) ?? [];
}

function startProcess(name: string, args: string[], env: Record<string, string>): { child: ChildProcess; stop: () => Promise<void> } {
  const dir = `${ROOT}.run/bench-operator`;
  mkdirSync(dir, { recursive: true });
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, KUBECONFIG, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    // The pod runner lets its bridge pods finish their graceful stop.
    const t = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(t);
  };
  onCleanup(name, stop);
  return { child, stop };
}

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${PORTS.operatorHttp}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name + '{') || line.startsWith(name + ' ')) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, everyMs = 200): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

const binding = (name: string, parent: string, topic: string) =>
  `apiVersion: mqbridge.dev/v1alpha1\nkind: TopicBinding\nmetadata: {name: ${name}, namespace: ${NS}}\nspec: {bridge: bench, mqttParentTopic: ${parent}, rocketmqTopic: ${topic}, direction: MqttToRocketmq}\n`;

async function readyBindings(prefix: string): Promise<number> {
  const list = JSON.parse(await kubectl(['get', 'topicbindings', '-n', NS, '-o', 'json'])) as {
    items: { metadata: { name: string; generation?: number }; status?: { observedGeneration?: number; conditions?: { type: string; status: string }[] } }[];
  };
  return list.items.filter((b) => b.metadata.name.startsWith(prefix) && b.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
}

export async function run(opts: { quick: boolean }): Promise<void> {
  const params = {
    applies: opts.quick ? 3 : 20,
    bulkBindings: opts.quick ? 50 : 1000,
    resyncSeconds: opts.quick ? 5 : 20,
    operatorWorkers: 2,
    probeRetryMs: 10,
  };
  const topic = `OPB_${Date.now().toString(36).slice(-4).toUpperCase()}`;
  const machineInfo = machine();
  const [rmq] = await Promise.all([rocketmq({ topics: [`${topic}:NORMAL`], groups: ['BENCH_OPERATOR_BRIDGE'] }), kube()]);
  const operator = startProcess('operator', [...operatorNodeArgs(), 'dist/operator/main.js', '--kubeconfig', KUBECONFIG, '--http-port', String(PORTS.operatorHttp), '--bridge-image', 'mqbridge/bridge:bench', '--workers', String(params.operatorWorkers), '--resync-seconds', String(params.resyncSeconds), '--log-level', 'warn'], {});
  const podRunner = startProcess('pod runner', ['dist/demo/pod-runner.js'], { POD_RUNNER_DIR: `${ROOT}.run/bench-operator/pods`, POD_RUNNER_MQTT_PORT: String(PORTS.podMqtt), POD_RUNNER_HTTP_PORT: String(PORTS.podHttp) });
  let results: Record<string, unknown>;
  try {
    await waitFor('the operator', async () => (await fetch(`http://127.0.0.1:${PORTS.operatorHttp}/healthz`)).ok, 30_000);
    await kubectl(['apply', '-f', '-'], `apiVersion: mqbridge.dev/v1alpha1\nkind: MqttBridge\nmetadata: {name: bench, namespace: ${NS}}\nspec:\n  replicas: 1\n  rocketmq: {endpoints: "${rmq.endpoints}", consumerGroup: BENCH_OPERATOR_BRIDGE}\n`);
    await kubectl(['wait', '--for=condition=Ready', '--timeout=120s', `mqttbridge/bench`, '-n', NS]);

    // 1. kubectl apply → first acknowledged message, one new binding at a time.
    const applyToMessage = new Histogram();
    const samplesMs: number[] = [];
    // Apply 0 is a warm-up (first reconcile of a binding, first reload of the pod): not counted.
    for (let k = 0; k <= params.applies; k++) {
      const parent = `applied${k}`;
      const t0 = process.hrtime.bigint();
      const applied = kubectl(['apply', '-f', '-'], binding(`applied-${k}`, parent, topic));
      let attempt = 0;
      while (!(await tryPublish(PORTS.podMqtt, `bench-op-probe-${k}-${attempt++}`, `${parent}/probe`))) await sleep(params.probeRetryMs);
      const us = Number(process.hrtime.bigint() - t0) / 1000;
      await applied;
      if (k > 0) {
        applyToMessage.record(us);
        samplesMs.push(Math.round(us / 1000));
      }
      process.stderr.write(`[operator] apply ${k}: first message after ${fmtUs(us)}\n`);
    }

    // 2. Reconcile of many bindings applied at once.
    const docs = Array.from({ length: params.bulkBindings }, (_, i) => binding(`bulk-${i}`, `bulk${i}`, topic)).join('---\n');
    const b0 = process.hrtime.bigint();
    await kubectl(['apply', '--server-side', '-f', '-'], docs);
    const applySeconds = Number(process.hrtime.bigint() - b0) / 1e9;
    let peakRss = procRssBytes(operator.child.pid!);
    await waitFor(`${params.bulkBindings} bindings Ready`, async () => {
      peakRss = Math.max(peakRss, procRssBytes(operator.child.pid!));
      return (await readyBindings('bulk-')) === params.bulkBindings;
    }, 300_000, 500);
    const reconcileSeconds = Number(process.hrtime.bigint() - b0) / 1e9;
    process.stderr.write(`[operator] ${params.bulkBindings} bindings Ready after ${reconcileSeconds.toFixed(1)} s (kubectl apply took ${applySeconds.toFixed(1)} s)\n`);
    // The last binding really works: a device can publish on it.
    const lastWorks = await tryPublish(PORTS.podMqtt, 'bench-op-last', `bulk${params.bulkBindings - 1}/probe`, 10_000);

    // 3. Idle: everything reconciled; count writes across at least one full resync.
    await sleep(3000);
    const margin = opts.quick ? 2 : 5;
    const w0 = await metric('mqbridge_operator_api_writes_total');
    const r0 = await metric('mqbridge_operator_reconciles_total');
    await sleep((params.resyncSeconds + margin) * 1000);
    const idleWrites = (await metric('mqbridge_operator_api_writes_total')) - w0;
    const idleReconciles = (await metric('mqbridge_operator_reconciles_total')) - r0;
    const rss = procRssBytes(operator.child.pid!);
    results = {
      applyToFirstMessageUs: { ...latencySummary(applyToMessage), samplesMs },
      bulk: { bindings: params.bulkBindings, kubectlApplySeconds: round2(applySeconds), allReadySeconds: round2(reconcileSeconds), lastBindingCarriesMessages: lastWorks },
      operatorRssBytes: { peakDuringBulk: peakRss, idle: rss },
      idleResync: { windowSeconds: params.resyncSeconds + margin, reconciles: idleReconciles, apiWrites: idleWrites },
    };
  } finally {
    await podRunner.stop();
    await operator.stop();
  }
  const r = results as {
    applyToFirstMessageUs: { p50: number; p99: number };
    bulk: { allReadySeconds: number };
    operatorRssBytes: { peakDuringBulk: number };
    idleResync: { apiWrites: number; reconciles: number };
  };
  const targets = {
    applyToMessageP99AtMostUs: 2_000_000,
    bulkReadyAtMostSeconds: 30,
    operatorRssAtMostBytes: 200 * 1024 * 1024,
    idleWrites: 0,
    met: {
      applyToMessage: r.applyToFirstMessageUs.p99 <= 2_000_000,
      bulk: r.bulk.allReadySeconds <= 30,
      rss: r.operatorRssBytes.peakDuringBulk <= 200 * 1024 * 1024,
      idleWrites: r.idleResync.apiWrites === 0,
    },
  };
  printTable(
    ['apply → first message p50', 'p99', `${fmt(params.bulkBindings)} bindings Ready`, 'operator RSS (peak)', 'writes in idle resync'],
    [[fmtUs(r.applyToFirstMessageUs.p50), fmtUs(r.applyToFirstMessageUs.p99), `${r.bulk.allReadySeconds.toFixed(1)} s`, `${(r.operatorRssBytes.peakDuringBulk / 1048576).toFixed(0)} MB`, `${r.idleResync.apiWrites} (${r.idleResync.reconciles} reconciles)`]],
  );
  writeResult('operator', opts.quick, {
    machine: machineInfo,
    versions: { rocketmq: rmq.version, kubernetes: process.env.KUBE_VERSION ?? 'v1.34.4', clientNode: packageVersion('@kubernetes/client-node') },
    parameters: { ...params, topic },
    results: { ...results, targets },
  });
}
