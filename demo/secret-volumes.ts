/**
 * DEVELOPMENT TOOL ONLY (used by pod-runner.ts). Does what the kubelet does for Secret volumes:
 * writes each key of the Secret as a file of the volume's directory and keeps the files up to
 * date when the Secret changes, so a bridge process sees key rotation and certificate renewal
 * as it would in a pod.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resourcePath, type ResourceType } from '../operator/k8s/paths.js';
import type { KubeRest } from '../operator/k8s/rest.js';

export interface PodTemplate {
  volumes?: { name: string; configMap?: { name: string }; secret?: { secretName: string } }[];
  containers?: { volumeMounts?: { name: string; mountPath: string }[] }[];
}

// Not among the operator's RESOURCES on purpose: the operator never reads Secrets.
const SECRET: ResourceType = { group: '', version: 'v1', plural: 'secrets', kind: 'Secret' };

/** mountPath in the pod → directory on this machine, for every Secret volume. */
export type MountMap = Map<string, string>;

function writeIfChanged(file: string, content: Buffer): void {
  try {
    if (readFileSync(file).equals(content)) return;
  } catch {
    // a new file
  }
  writeFileSync(`${file}.tmp`, content);
  renameSync(`${file}.tmp`, file);
}

/** Projects the Secret volumes of a pod template under `podDir`; a missing Secret leaves its directory empty. */
export async function projectSecretVolumes(rest: KubeRest, namespace: string, template: PodTemplate, podDir: string): Promise<MountMap> {
  const mounts: MountMap = new Map();
  for (const volume of template.volumes ?? []) {
    if (!volume.secret) continue;
    const mountPath = template.containers?.[0]?.volumeMounts?.find((m) => m.name === volume.name)?.mountPath;
    if (!mountPath) continue;
    const dir = join(podDir, 'volumes', volume.name);
    mkdirSync(dir, { recursive: true });
    mounts.set(mountPath, dir);
    const secret = await rest.get<{ data?: Record<string, string> }>(resourcePath(SECRET, namespace, volume.secret.secretName)).catch(() => undefined);
    const data = secret?.data ?? {};
    for (const [key, value] of Object.entries(data)) writeIfChanged(join(dir, key), Buffer.from(value, 'base64'));
    for (const file of readdirSync(dir)) if (!(file in data)) rmSync(join(dir, file), { force: true });
  }
  return mounts;
}

/** The config with every path under a mounted directory pointed at its local copy. */
export function relocatePaths<T>(value: T, mounts: MountMap): T {
  if (typeof value === 'string') {
    for (const [mountPath, dir] of mounts) if (value === mountPath || value.startsWith(`${mountPath}/`)) return (dir + value.slice(mountPath.length)) as T;
    return value;
  }
  if (Array.isArray(value)) return value.map((v: unknown) => relocatePaths(v, mounts)) as T;
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, relocatePaths(v, mounts)])) as T;
  return value;
}
