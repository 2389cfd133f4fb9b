import { bindingKey, type BindingFields, type ConfigReport } from '../../bridge/config/report.js';

/** What one ready bridge pod answered at /configz, or why it did not. */
export type PodConfig = { pod: string; report: ConfigReport } | { pod: string; error: string };

/** How far the current ConfigMap has reached the ready pods of one bridge. Pure. */
export interface Propagation {
  readyPods: number;
  /** Ready pods that run exactly the current ConfigMap, with nothing waiting for a restart. */
  current: number;
  /** Ready pods whose config in force is another file than the current one. */
  stale: string[];
  /** A line on what holds the rest back (pods that did not answer or refused the file); empty when nothing does. */
  detail: string;
  /** Ready pods that serve this binding as rendered. */
  podsWith(binding: BindingFields): number;
}

export function propagation(currentHash: string, pods: readonly PodConfig[]): Propagation {
  const reports = pods.flatMap((p) => ('report' in p ? [p] : []));
  const counts = new Map<string, number>();
  for (const { report } of reports) {
    for (const key of new Set(report.bindings.map(bindingKey))) counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return {
    readyPods: pods.length,
    current: reports.filter(({ report }) => report.hash === currentHash && report.restartPending.length === 0).length,
    stale: reports.filter(({ report }) => report.hash !== currentHash).map((p) => p.pod),
    detail: detailOf(currentHash, pods),
    podsWith: (binding) => counts.get(bindingKey(binding)) ?? 0,
  };
}

function detailOf(currentHash: string, pods: readonly PodConfig[]): string {
  const parts: string[] = [];
  const unanswered = pods.flatMap((p) => ('error' in p ? [`${p.pod} (${p.error})`] : []));
  if (unanswered.length > 0) parts.push(`no config report from ${unanswered.join(', ')}`);
  const refused = pods.flatMap((p) => ('report' in p && p.report.rejected?.hash === currentHash ? [`${p.pod}: ${p.report.rejected.problems.join('; ')}`] : []));
  if (refused.length > 0) parts.push(`the current config is refused by ${refused.join(', ')}`);
  return parts.join('; ');
}

/** "in force on 1 of 2 ready bridge pods", plus what holds the others back. */
export function propagationMessage(have: number, p: Propagation): string {
  const base = `in force on ${have} of ${p.readyPods} ready bridge pod${p.readyPods === 1 ? '' : 's'}`;
  return p.detail ? `${base}; ${p.detail}` : base;
}
