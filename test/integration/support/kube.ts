import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { RESOURCES, resourcePath, type ResourceType } from '../../../operator/k8s/paths.js';
import { KubeRest, isNotFound } from '../../../operator/k8s/rest.js';
import { uniqueId, waitFor } from './env.js';

const run = promisify(execFile);
export const KUBE_SCRIPT = fileURLToPath(new URL('../../../../test/env/kube.sh', import.meta.url));
export const CRD_DIR = fileURLToPath(new URL('../../../../crds', import.meta.url));

export function kubeconfigPath(): string {
  const path = process.env.KUBECONFIG;
  if (!path) throw new Error('KUBECONFIG is not set: run the tests through `npm test`, which starts the API server');
  return path;
}

export function kubeRest(): KubeRest {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath());
  return new KubeRest(kc);
}

export async function kubectl(...args: string[]): Promise<string> {
  const { stdout } = await run('bash', [KUBE_SCRIPT, 'kubectl', ...args], { env: process.env, timeout: 60_000 });
  return stdout;
}

/** kubectl apply, returning stderr/exit instead of throwing, to read the API server's refusals. */
export async function kubectlApply(yaml: string): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    const child = execFile('bash', [KUBE_SCRIPT, 'kubectl', 'apply', '-f', '-'], { env: process.env, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ ok: !err, output: `${stdout}${stderr}` }),
    );
    child.stdin!.end(yaml);
  });
}

export async function installCrds(): Promise<void> {
  await kubectl('apply', '--server-side', '--force-conflicts', '-f', CRD_DIR);
  await kubectl('wait', '--for=condition=Established', '--timeout=60s', 'crd/mqttbridges.mqbridge.dev', 'crd/topicbindings.mqbridge.dev');
}

export async function createNamespace(prefix: string): Promise<string> {
  const name = uniqueId(`${prefix}-`).toLowerCase().slice(0, 40);
  await kubeRest().create(resourcePath({ group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace' }), { apiVersion: 'v1', kind: 'Namespace', metadata: { name } }, 'test');
  return name;
}

export type Obj = KubernetesObject & { spec?: Record<string, unknown>; status?: Record<string, unknown>; data?: Record<string, string> };

export class Kube {
  readonly rest = kubeRest();

  constructor(readonly namespace: string) {}

  get(type: ResourceType, name: string): Promise<Obj> {
    return this.rest.get<Obj>(resourcePath(type, this.namespace, name));
  }

  async tryGet(type: ResourceType, name: string): Promise<Obj | undefined> {
    try {
      return await this.get(type, name);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  apply(type: ResourceType, obj: Obj): Promise<Obj> {
    const o = { ...obj, metadata: { ...obj.metadata, namespace: this.namespace } };
    return this.rest.apply(resourcePath(type, this.namespace, obj.metadata!.name), o, 'test-user');
  }

  mergePatch(type: ResourceType, name: string, patch: unknown, subresource?: string): Promise<Obj> {
    return this.rest.mergePatch(resourcePath(type, this.namespace, name, subresource), patch, 'test-user');
  }

  delete(type: ResourceType, name: string): Promise<unknown> {
    return this.rest.delete(resourcePath(type, this.namespace, name));
  }

  bridge(name: string, spec: Record<string, unknown>): Promise<Obj> {
    return this.apply(RESOURCES.mqttBridge, { apiVersion: 'mqbridge.dev/v1alpha1', kind: 'MqttBridge', metadata: { name }, spec });
  }

  binding(name: string, spec: Record<string, unknown>): Promise<Obj> {
    return this.apply(RESOURCES.topicBinding, { apiVersion: 'mqbridge.dev/v1alpha1', kind: 'TopicBinding', metadata: { name }, spec });
  }

  /** Waits until the object's Ready condition has `reason` (and its status is current). */
  async waitReady(type: ResourceType, name: string, reason: string, timeoutMs = 30_000): Promise<Obj> {
    return waitFor(`${type.kind} ${name} Ready reason ${reason}`, async () => {
      const obj = await this.tryGet(type, name);
      const conditions = (obj?.status?.conditions ?? []) as { type: string; reason: string; observedGeneration?: number }[];
      const ready = conditions.find((c) => c.type === 'Ready');
      return ready?.reason === reason && obj?.status?.observedGeneration === obj?.metadata?.generation ? obj : undefined;
    }, timeoutMs, 100);
  }
}

export { RESOURCES };
