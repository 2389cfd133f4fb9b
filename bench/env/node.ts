/**
 * The real node of test/env/node.sh for a benchmark: started (and stopped again) unless one
 * runs already, the chart installed with the images built from the Dockerfiles, and a Redis on
 * the node's address for bridges of several pods. Inside `npm test` the node suite's node and
 * Redis are reused (NODE_DIR and MQBRIDGE_NODE_REDIS set by test/run.sh).
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { onCleanup } from './cleanup.js';
import { kubectlVia } from './kubectl.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const NODE_SCRIPT = `${ROOT}test/env/node.sh`;
const REDIS_SCRIPT = `${ROOT}test/env/redis.sh`;
export const NODE_IP = process.env.NODE_IP ?? '10.244.0.1';
const NODE_ENV = { NODE_DIR: process.env.NODE_DIR ?? `${ROOT}.run/bench-node` };
const REDIS_ENV = { REDIS_DIR: `${ROOT}.run/bench-node-redis`, REDIS_PORT: '16385', REDIS_HOST: NODE_IP, REDIS_PASSWORD: `bench-${process.pid}` };

const script = (path: string, env: Record<string, string>, ...args: string[]) =>
  run('bash', [path, ...args], { env: { ...process.env, ...env }, cwd: ROOT, maxBuffer: 16 << 20, timeout: 900_000 });

/** kubectl against the node's cluster; `input` goes to its stdin. */
export function kubectl(args: string[], input?: string): Promise<string> {
  return kubectlVia(NODE_SCRIPT, NODE_ENV, args, input);
}

export interface RealNode {
  /** A Redis URL pods can use (password included). */
  redisUrl: string;
}

async function ensureNode(): Promise<void> {
  if (await script(NODE_SCRIPT, NODE_ENV, 'status').then(() => true, () => false)) return;
  process.stderr.write('[bench] starting the real node (test/env/node.sh)…\n');
  onCleanup('node', async () => void (await script(NODE_SCRIPT, NODE_ENV, 'stop', '--kill').catch(() => undefined)));
  await script(NODE_SCRIPT, NODE_ENV, 'start');
}

async function ensureRedis(): Promise<string> {
  if (process.env.MQBRIDGE_NODE_REDIS) return process.env.MQBRIDGE_NODE_REDIS;
  await script(REDIS_SCRIPT, REDIS_ENV, 'stop', '--kill').catch(() => undefined);
  onCleanup('node Redis', async () => void (await script(REDIS_SCRIPT, REDIS_ENV, 'stop', '--kill').catch(() => undefined)));
  await script(REDIS_SCRIPT, REDIS_ENV, 'start');
  return (await script(REDIS_SCRIPT, REDIS_ENV, 'url')).stdout.trim();
}

/** `helm upgrade --install` of charts/mqbridge with the built images, watching `namespace`. */
async function installChart(namespace: string): Promise<void> {
  const [operator, bridge] = (await script(NODE_SCRIPT, NODE_ENV, 'images-ref')).stdout.trim().split(/\s+/) as [string, string];
  const helm = process.env.MQBRIDGE_HELM ?? (await script(`${ROOT}test/env/helm.sh`, {}, 'path')).stdout.trim();
  const kubeconfig = (await script(NODE_SCRIPT, NODE_ENV, 'kubeconfig')).stdout.trim();
  const at = (ref: string) => ref.lastIndexOf(':');
  // prettier-ignore
  await run(helm, ['upgrade', '--install', 'mqbridge', 'charts/mqbridge', '-n', 'mqbridge-system', '--create-namespace', '--wait', '--timeout', '240s',
    '--set', `image.repository=${operator.slice(0, at(operator))}`, '--set', `image.tag=${operator.slice(at(operator) + 1)}`, '--set', 'image.pullPolicy=Never',
    '--set', `bridgeImage.repository=${bridge.slice(0, at(bridge))}`, '--set', `bridgeImage.tag=${bridge.slice(at(bridge) + 1)}`,
    '--set', `watchNamespaces={${namespace}}`], { cwd: ROOT, env: { ...process.env, KUBECONFIG: kubeconfig }, timeout: 300_000 });
}

export async function realNode(namespace: string): Promise<RealNode> {
  await ensureNode();
  const [redisUrl] = await Promise.all([ensureRedis(), installChart(namespace)]);
  return { redisUrl };
}
