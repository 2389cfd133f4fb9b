#!/usr/bin/env node
/**
 * DEVELOPMENT TOOL ONLY. Stands in for the kubelet and the Deployment controller on a machine
 * with an API server but no nodes: every bridge Deployment the operator manages is run as
 * local `node dist/bridge/main.js` processes, one per replica, fed from the Deployment's
 * ConfigMap (rewritten on change, so bindings hot-reload as in a pod). A changed pod template
 * replaces the processes one at a time. The Deployment's status is kept up to date from the
 * processes' /readyz, so the operator reports real readiness. Secret volumes are written as
 * files and kept up to date (demo/secret-volumes.ts). POD_RUNNER_NAMESPACE limits it to one
 * namespace. It syncs as soon as a watched Deployment or ConfigMap changes, and every second
 * besides (pod readiness has no watch); a kubelet is far slower to refresh a mounted
 * ConfigMap (its sync period plus a cache TTL, about a minute by default).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, openSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { parse, stringify } from 'yaml';
import { watchResource } from '../operator/controller/informer.js';
import { RESOURCES, resourcePath } from '../operator/k8s/paths.js';
import { KubeRest } from '../operator/k8s/rest.js';
import { CONFIG_FILE, MANAGED_BY } from '../operator/render/names.js';
import { projectSecretVolumes, relocatePaths, type MountMap, type PodTemplate } from './secret-volumes.js';

interface Deployment {
  metadata: { name: string; namespace: string; generation: number };
  spec: { replicas?: number; template: { spec: PodTemplate } };
  status?: Record<string, number>;
}

interface Pod {
  name: string;
  hash: string;
  mqttPort: number;
  httpPort: number;
  tokenApiPort: number;
  dir: string;
  child: ChildProcess;
  mounts: MountMap;
  configText?: string;
}

const bridgeMain = fileURLToPath(new URL('../bridge/main.js', import.meta.url));
const stateDir = process.env.POD_RUNNER_DIR ?? '.run/demo/pods';
const firstMqttPort = Number(process.env.POD_RUNNER_MQTT_PORT ?? 1883);
const firstHttpPort = Number(process.env.POD_RUNNER_HTTP_PORT ?? 19090);
const firstTokenApiPort = Number(process.env.POD_RUNNER_TOKEN_API_PORT ?? 18190);
const onlyNamespace = process.env.POD_RUNNER_NAMESPACE;

const kc = new KubeConfig();
kc.loadFromDefault();
const rest = new KubeRest(kc);
const pods = new Map<string, Pod[]>();
const usedPorts = new Set<number>();

function freePort(from: number): number {
  let port = from;
  while (usedPorts.has(port)) port++;
  usedPorts.add(port);
  return port;
}

function log(msg: string) {
  console.log(`${new Date().toISOString()} pod-runner: ${msg}`);
}

function writeConfig(pod: Pod, text: string) {
  if (pod.configText === text) return;
  const doc = relocatePaths(parse(text) as Record<string, Record<string, unknown>>, pod.mounts);
  doc.mqtt = { ...doc.mqtt, host: '0.0.0.0', port: pod.mqttPort };
  doc.http = { ...doc.http, host: '127.0.0.1', port: pod.httpPort };
  if (doc.auth) doc.auth = { ...doc.auth, tokenApi: { ...(doc.auth.tokenApi as object), host: '127.0.0.1', port: pod.tokenApiPort } };
  const file = join(pod.dir, CONFIG_FILE);
  writeFileSync(`${file}.tmp`, stringify(doc));
  renameSync(`${file}.tmp`, file);
  pod.configText = text;
}

async function startPod(d: Deployment, index: number, hash: string, configText: string): Promise<Pod> {
  const name = `${d.metadata.namespace}-${d.metadata.name}-${hash.slice(0, 6)}-${index}`;
  const dir = join(stateDir, name);
  mkdirSync(dir, { recursive: true });
  const mounts = await projectSecretVolumes(rest, d.metadata.namespace, d.spec.template.spec, dir);
  const pod = { name, hash, dir, mounts, mqttPort: freePort(firstMqttPort), httpPort: freePort(firstHttpPort), tokenApiPort: freePort(firstTokenApiPort) } as Pod;
  writeConfig(pod, configText);
  const out = openSync(join(dir, 'bridge.log'), 'a');
  pod.child = spawn(process.execPath, [bridgeMain, '--config', join(dir, CONFIG_FILE)], { stdio: ['ignore', out, out] });
  pod.child.on('exit', (code) => log(`pod ${name} exited (${code})`));
  log(`started pod ${name}: MQTT 127.0.0.1:${pod.mqttPort}, HTTP 127.0.0.1:${pod.httpPort}, token API 127.0.0.1:${pod.tokenApiPort}, logs ${dir}/bridge.log`);
  return pod;
}

async function stopPod(pod: Pod) {
  if (pod.child.exitCode === null) {
    pod.child.kill('SIGTERM');
    await new Promise((r) => pod.child.once('exit', r));
  }
  usedPorts.delete(pod.mqttPort);
  usedPorts.delete(pod.httpPort);
  usedPorts.delete(pod.tokenApiPort);
  log(`stopped pod ${pod.name}`);
}

async function ready(pod: Pod): Promise<boolean> {
  try {
    return (await fetch(`http://127.0.0.1:${pod.httpPort}/readyz`)).ok;
  } catch {
    return false;
  }
}

async function sync(d: Deployment) {
  const key = `${d.metadata.namespace}/${d.metadata.name}`;
  const cmName = d.spec.template.spec.volumes?.find((v) => v.configMap)?.configMap?.name;
  if (!cmName) return;
  const cm = await rest.get<{ data: Record<string, string> }>(resourcePath(RESOURCES.configMap, d.metadata.namespace, cmName)).catch(() => undefined);
  const text = cm?.data[CONFIG_FILE];
  if (!text) return;
  const hash = createHash('sha256').update(JSON.stringify(d.spec.template)).digest('hex');
  const want = d.spec.replicas ?? 1;
  let list = (pods.get(key) ?? []).filter((p) => p.child.exitCode === null || p.hash !== hash);
  for (const p of list) {
    await projectSecretVolumes(rest, d.metadata.namespace, d.spec.template.spec, p.dir);
    writeConfig(p, text);
  }
  // Replace outdated pods one at a time (maxSurge 1, maxUnavailable 0), then scale.
  const outdated = list.find((p) => p.hash !== hash);
  if (outdated && list.filter((p) => p.hash === hash).length < want) {
    list.push(await startPod(d, list.length, hash, text));
  } else if (outdated && (await Promise.all(list.filter((p) => p.hash === hash).map(ready))).every(Boolean)) {
    await stopPod(outdated);
    list = list.filter((p) => p !== outdated);
  }
  while (list.filter((p) => p.hash === hash).length < want && !outdated) list.push(await startPod(d, list.length, hash, text));
  while (list.length > want && !outdated) await stopPod(list.pop()!);
  pods.set(key, list);

  const current = list.filter((p) => p.hash === hash);
  const readyCount = (await Promise.all(current.map(ready))).filter(Boolean).length;
  const status = { observedGeneration: d.metadata.generation, replicas: list.length, updatedReplicas: current.length, readyReplicas: readyCount, availableReplicas: readyCount };
  const old = d.status ?? {};
  if (Object.entries(status).some(([k, v]) => old[k] !== v)) {
    await rest.mergePatch(resourcePath(RESOURCES.deployment, d.metadata.namespace, d.metadata.name, 'status'), { status }, 'mqbridge-pod-runner');
  }
}

async function loop() {
  for (;;) {
    try {
      const list = await rest.list<Deployment>(resourcePath(RESOURCES.deployment, onlyNamespace), { labelSelector: `app.kubernetes.io/managed-by=${MANAGED_BY}` });
      const seen = new Set<string>();
      for (const d of list.items) {
        seen.add(`${d.metadata.namespace}/${d.metadata.name}`);
        await sync(d);
      }
      for (const [key, list] of pods) {
        if (seen.has(key)) continue;
        for (const p of list) await stopPod(p);
        pods.delete(key);
      }
    } catch (err) {
      log(`sync failed: ${(err as Error).message}`);
    }
    await nap(1000);
  }
}

// A change seen while a sync runs must start the next one at once, not after the nap.
let changed = false;
let wake: (() => void) | undefined;
function onChange() {
  changed = true;
  wake?.();
}
async function nap(ms: number) {
  if (!changed) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
  wake = undefined;
  changed = false;
}

function watchManaged() {
  const watchLog = pino({ name: 'pod-runner', level: 'warn' });
  const selector = `app.kubernetes.io/managed-by=${MANAGED_BY}`;
  for (const resource of [RESOURCES.deployment, RESOURCES.configMap]) {
    watchResource(kc, rest, resourcePath(resource, onlyNamespace), onChange, watchLog, selector);
  }
}

async function shutdown() {
  await Promise.all([...pods.values()].flat().map(stopPod));
  process.exit(0);
}
// Whatever ends this process, its pods must not outlive it.
process.on('exit', () => {
  for (const pod of [...pods.values()].flat()) if (pod.child.exitCode === null) pod.child.kill('SIGKILL');
});
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());
log('watching bridge Deployments (development tool: stands in for the kubelet)');
watchManaged();
void loop();
