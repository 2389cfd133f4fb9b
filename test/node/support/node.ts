/**
 * The real node of test/env/node.sh, as the node suite sees it: kubectl and helm against its
 * control plane, the images built from the Dockerfiles, and where pods reach the RocketMQ and
 * Redis that run on the host.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../../integration/support/env.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const NODE_SCRIPT = `${ROOT}test/env/node.sh`;
const HELM_SCRIPT = `${ROOT}test/env/helm.sh`;

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the node suite through \`npm test\`, which starts the node and the services its pods use`);
  return value;
}

/** The host's RocketMQ proxy as pods reach it: at the node's address. */
export const podRocketmqEndpoint = () => required('MQBRIDGE_NODE_ROCKETMQ');
/** A Redis on the node's address, with a password (it is not on loopback). */
export const podRedisUrl = () => required('MQBRIDGE_NODE_REDIS');

interface Run {
  ok: boolean;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], input?: string, timeoutMs = 120_000): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { cwd: ROOT, env: process.env, timeout: timeoutMs, maxBuffer: 32 << 20 }, (err, stdout, stderr) =>
      resolve({ ok: !err, stdout, stderr }),
    );
    child.stdin!.end(input ?? '');
  });
}

async function mustRun(cmd: string, args: string[], input?: string, timeoutMs?: number): Promise<string> {
  const r = await run(cmd, args, input, timeoutMs);
  if (!r.ok) throw new Error(`${[cmd, ...args].join(' ')} failed:\n${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

/** kubectl against the node's cluster; throws with kubectl's error. */
export const kubectl = (args: string[], input?: string, timeoutMs?: number) => mustRun('bash', [NODE_SCRIPT, 'kubectl', ...args], input, timeoutMs);
/** kubectl, returning how it ended instead of throwing: for the refusals a test expects. */
export const tryKubectl = (args: string[], input?: string, timeoutMs?: number) => run('bash', [NODE_SCRIPT, 'kubectl', ...args], input, timeoutMs);

export async function kubectlJson<T>(args: string[]): Promise<T> {
  return JSON.parse(await kubectl([...args, '-o', 'json'])) as T;
}

export async function kubeconfig(): Promise<string> {
  return (await mustRun('bash', [NODE_SCRIPT, 'kubeconfig'])).trim();
}

/** The operator and bridge images node.sh built from the Dockerfiles for this source tree. */
export async function images(): Promise<{ operator: string; bridge: string }> {
  const [operator, bridge] = (await mustRun('bash', [NODE_SCRIPT, 'images-ref'])).trim().split(/\s+/);
  return { operator: operator!, bridge: bridge! };
}

export async function helm(args: string[], timeoutMs = 300_000): Promise<string> {
  const bin = process.env.MQBRIDGE_HELM ?? (await mustRun('bash', [HELM_SCRIPT, 'path'])).trim();
  const env = { ...process.env, KUBECONFIG: await kubeconfig() };
  return new Promise((resolve, reject) =>
    execFile(bin, args, { cwd: ROOT, env, timeout: timeoutMs }, (err, stdout, stderr) => (err ? reject(new Error(`helm ${args.join(' ')}: ${stderr}`)) : resolve(stdout))),
  );
}

// ------------------------------------------------------------------------------- pod views

export interface Pod {
  metadata: { name: string; labels?: Record<string, string>; deletionTimestamp?: string };
  spec: { serviceAccountName?: string; containers: { securityContext?: { readOnlyRootFilesystem?: boolean } }[] };
  status: {
    phase: string;
    podIP?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { ready: boolean; restartCount: number }[];
  };
}

export const isReady = (p: Pod) => !p.metadata.deletionTimestamp && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

export async function pods(namespace: string, selector: string): Promise<Pod[]> {
  return (await kubectlJson<{ items: Pod[] }>(['get', 'pods', '-n', namespace, '-l', selector])).items;
}

/** Waits until exactly `n` pods of the selector exist, all Ready, and returns them. */
export async function readyPods(namespace: string, selector: string, n: number, timeoutMs = 180_000): Promise<Pod[]> {
  return waitFor(
    `${n} ready pods of ${selector}`,
    async () => {
      const list = await pods(namespace, selector);
      return list.length === n && list.every(isReady) ? list : undefined;
    },
    timeoutMs,
    500,
  );
}

/** Runs `node -e <script>` in the pod's container and returns its output (the images have no shell tools besides node). */
export const podNode = (namespace: string, pod: string, script: string) => tryKubectl(['exec', '-n', namespace, pod, '--', 'node', '-e', script]);

/** The metric's value summed over its series, scraped from a pod's HTTP port. */
export async function podMetric(podIP: string, httpPort: number, name: string): Promise<number> {
  const text = await (await fetch(`http://${podIP}:${httpPort}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

export interface Conditioned {
  metadata: { generation?: number };
  status?: { observedGeneration?: number; conditions?: { type: string; status: string; reason: string; message: string }[]; [k: string]: unknown };
}

export const condition = (o: Conditioned, type = 'Ready') => o.status?.conditions?.find((c) => c.type === type);
