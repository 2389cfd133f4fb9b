import type { KubernetesObject } from '@kubernetes/client-node';
import { CONFIG_REPORT_PATH, parseConfigReport } from '../../bridge/config/report.js';
import type { PodConfig } from '../reconcile/propagation.js';

/** A ready bridge pod as its Service's EndpointSlices list it. */
export interface ReadyPod {
  name: string;
  ip: string;
}

interface EndpointSlice extends KubernetesObject {
  endpoints?: { addresses?: string[]; conditions?: { ready?: boolean }; targetRef?: { kind?: string; name?: string } }[];
}

/**
 * The ready pods behind a Service, from its EndpointSlices: the same readiness the Service routes
 * by, read without any access to Pods. An endpoint whose `ready` is unset counts as ready (the
 * API's rule). Each pod once, by name. Pure.
 */
export function readyPodsOf(slices: readonly KubernetesObject[]): ReadyPod[] {
  const pods = new Map<string, ReadyPod>();
  for (const slice of slices as EndpointSlice[]) {
    for (const ep of slice.endpoints ?? []) {
      const ip = ep.addresses?.[0];
      if (ep.conditions?.ready === false || !ip || ep.targetRef?.kind !== 'Pod' || !ep.targetRef.name) continue;
      pods.set(ep.targetRef.name, { name: ep.targetRef.name, ip });
    }
  }
  return [...pods.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** Asks every pod at once for its config report (GET /configz on the bridge's HTTP port); a bridge has tens of pods, not thousands. */
export async function fetchConfigReports(pods: readonly ReadyPod[], port: number, timeoutMs: number): Promise<PodConfig[]> {
  return Promise.all(pods.map((pod) => fetchConfigReport(pod, port, timeoutMs)));
}

async function fetchConfigReport(pod: ReadyPod, port: number, timeoutMs: number): Promise<PodConfig> {
  const host = pod.ip.includes(':') ? `[${pod.ip}]` : pod.ip;
  try {
    const res = await fetch(`http://${host}:${port}${CONFIG_REPORT_PATH}`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) return { pod: pod.name, error: `HTTP ${res.status}` };
    const report = parseConfigReport(await res.json());
    return report ? { pod: pod.name, report } : { pod: pod.name, error: 'not a config report' };
  } catch (err) {
    return { pod: pod.name, error: (err as Error).name === 'TimeoutError' ? `no answer in ${timeoutMs} ms` : (err as Error).message };
  }
}
