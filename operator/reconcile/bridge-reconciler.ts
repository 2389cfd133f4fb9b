import type { KubernetesObject, ObjectCache } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { MQTT_BRIDGE_DEFAULTS, type MqttBridge, type TopicBinding } from '../api/types.js';
import { RESOURCES, ownedTypeOf, resourcePath } from '../k8s/paths.js';
import { ApiError, isNotFound, type KubeRest } from '../k8s/rest.js';
import { admitBridge, topicRefusal } from '../policy/admission.js';
import type { OperatorPolicy } from '../policy/operator-policy.js';
import { configHash } from '../../bridge/config/report.js';
import { fetchConfigReports, readyPodsOf, type ReadyPod } from '../pods/config-reports.js';
import { bindingEntry, configText, consumerGroupOf, renderBridgeConfig, type RenderedConfig } from '../render/config.js';
import { BRIDGE_LABEL, FIELD_MANAGER, HTTP_PORT, objectNames, selectorString } from '../render/names.js';
import { optionalObjectNames, renderObjects, type RenderOptions } from '../render/objects.js';
import type { TopicChecker } from '../rocketmq/topic-checker.js';
import { bindingStatus, sameStatus, type BindingRollout } from './binding-status.js';
import { bridgeStatus, type ApplyOutcome, type DeploymentState } from './bridge-status.js';
import { comparable, containsDesired, ownsFieldsNoLongerDesired } from './drift.js';
import type { EventRecorder } from './events.js';
import { propagation, propagationMessage, type PodConfig, type Propagation } from './propagation.js';
import { resolveBindings, type BindingVerdict, type TopicExistence } from './resolve-bindings.js';

export interface Caches {
  bridges: ObjectCache<MqttBridge>;
  bindings: ObjectCache<TopicBinding>;
  /** Owned objects by kind, filled by label-selected informers (also the EndpointSlices of the bridges' Services). */
  owned: ReadonlyMap<string, ObjectCache<KubernetesObject>>;
  /** Metadata of the Secrets that carry the opt-in label (operator/policy). */
  secrets: ObjectCache<KubernetesObject>;
}

export interface ReconcilerDeps {
  rest: KubeRest;
  caches: Caches;
  topics: TopicChecker;
  events: EventRecorder;
  render: RenderOptions;
  policy: OperatorPolicy;
  log: Logger;
  now?: () => Date;
  /** What each ready pod says it runs; by default GET /configz on the pod. */
  configReports?: (pods: readonly ReadyPod[]) => Promise<PodConfig[]>;
}

/** A reconcile that went through; `requeueAfterMs`: look again then (a config on its way to pods, a RocketMQ topic still missing). */
export interface ReconcileResult {
  requeueAfterMs?: number;
}

/** How often a bridge whose pods do not all run the current config is looked at again: often at first, then calmly. */
export function propagationPollMs(staleForMs: number): number {
  return staleForMs < 30_000 ? 500 : 5_000;
}

/**
 * How soon a bridge with a binding whose RocketMQ topic is missing is looked at again: once the
 * topic checker's answer has expired (10 s), so a topic someone creates is bound then, not at
 * the next full resync.
 */
export const MISSING_TOPIC_RECHECK_MS = 10_000;

/** The sooner of the looks something still waits for; none when nothing does. Pure. */
export function nextLookAfter(propagationMs: number | undefined, topicMissing: boolean): ReconcileResult {
  const waits = [propagationMs, topicMissing ? MISSING_TOPIC_RECHECK_MS : undefined].filter((ms): ms is number => ms !== undefined);
  return waits.length > 0 ? { requeueAfterMs: Math.min(...waits) } : {};
}

const CONFIG_REPORT_TIMEOUT_MS = 1_000;

/** An object of the bridge's name exists and is not the bridge's own: it is never taken over. */
class NotOwned extends Error {}

/**
 * Level-triggered reconcile of one MqttBridge (key `namespace/name`) and the TopicBindings
 * that name it: read the state from the caches, compute the desired objects, apply those
 * that differ with server-side apply, write status only when it changed.
 */
export class BridgeReconciler {
  private readonly now: () => Date;
  private readonly configReports: (pods: readonly ReadyPod[]) => Promise<PodConfig[]>;
  /** Since when each bridge's pods have not all run its current config. */
  private readonly staleSince = new Map<string, number>();

  constructor(private readonly deps: ReconcilerDeps) {
    this.now = deps.now ?? (() => new Date());
    this.configReports = deps.configReports ?? ((pods) => fetchConfigReports(pods, HTTP_PORT, CONFIG_REPORT_TIMEOUT_MS));
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const [namespace, name] = key.split('/') as [string, string];
    const { caches } = this.deps;
    const bridge = caches.bridges.get(name, namespace);
    const bindings = caches.bindings.list(namespace).filter((b) => b.spec.bridge === name);
    const live = bridge && !(bridge.metadata as { deletionTimestamp?: string }).deletionTimestamp ? bridge : undefined;

    const forbidden = (topic: string) => topicRefusal(namespace, topic, this.deps.policy);
    const existence = live ? await this.topicExistence(live, bindings.filter((b) => !forbidden(b.spec.rocketmqTopic))) : new Map<string, TopicExistence>();
    const resolution = resolveBindings(live !== undefined, bindings, (t) => existence.get(t) ?? 'unknown', forbidden);
    if (!live) {
      this.staleSince.delete(key);
      await this.writeBindingStatuses(bindings, resolution.verdicts, undefined);
      return {}; // owned objects go with it through their owner references
    }

    const config = renderBridgeConfig(live, resolution.active);
    const admission = admitBridge(live, this.deps.policy, (secret) => caches.secrets.get(secret, namespace) !== undefined, consumerGroupOf(live));
    // A refused bridge has nothing applied: what runs keeps running as it was, and the status says why.
    const outcome: ApplyOutcome = admission.ok
      ? await this.applyAll(live, renderObjects(live, config, this.deps.render))
      : { ok: false, stalled: true, reason: admission.reason, message: admission.message };
    const rollout = await this.rollout(live, config);
    await this.writeBindingStatuses(bindings, resolution.verdicts, rollout);
    await this.writeBridgeStatus(live, outcome, resolution.active.length, config.mqtt.port, rollout);
    if (!outcome.ok && !outcome.stalled) throw new Error(outcome.message); // retried with backoff
    const topicMissing = [...resolution.verdicts.values()].some((v) => v.state === 'TopicNotFound');
    return nextLookAfter(this.propagationLook(key, rollout), topicMissing);
  }

  /** What the bridge's ready pods run, against the config just rendered. */
  private async rollout(bridge: MqttBridge, config: RenderedConfig): Promise<Propagation> {
    const ns = bridge.metadata.namespace!;
    const service = objectNames(bridge.metadata.name!).service;
    const slices = (this.deps.caches.owned.get('EndpointSlice')?.list(ns) ?? []).filter(
      (s) => s.metadata?.labels?.['kubernetes.io/service-name'] === service && s.metadata.labels[BRIDGE_LABEL] === bridge.metadata.name,
    );
    const pods = readyPodsOf(slices);
    return propagation(configHash(configText(config)), pods.length > 0 ? await this.configReports(pods) : []);
  }

  /** When to look at the pods again, while not all of them run the current config. */
  private propagationLook(key: string, rollout: Propagation): number | undefined {
    if (rollout.current === rollout.readyPods) {
      this.staleSince.delete(key);
      return undefined;
    }
    const since = this.staleSince.get(key) ?? Date.now();
    this.staleSince.set(key, since);
    return propagationPollMs(Date.now() - since);
  }

  private async topicExistence(bridge: MqttBridge, bindings: TopicBinding[]): Promise<Map<string, TopicExistence>> {
    const { endpoints, namespace = '' } = bridge.spec.rocketmq;
    const topics = [...new Set(bindings.map((b) => b.spec.rocketmqTopic))];
    const answers = await Promise.all(topics.map((t) => this.deps.topics.check(endpoints, namespace, t)));
    return new Map(topics.map((t, i) => [t, answers[i]!]));
  }

  private async applyAll(bridge: MqttBridge, desired: KubernetesObject[]): Promise<ApplyOutcome> {
    try {
      // Every object is checked before any is written: a bridge never runs half-applied over another's objects.
      const live = await Promise.all(desired.map((obj) => this.ownLiveObject(bridge, obj)));
      for (const [i, obj] of desired.entries()) await this.applyIfChanged(bridge, obj, live[i]);
      const wanted = new Set(desired.map((o) => `${o.kind}/${o.metadata!.name}`));
      for (const { kind, name } of optionalObjectNames(bridge.metadata.name!)) {
        if (!wanted.has(`${kind}/${name}`)) await this.deleteIfOwned(bridge, kind, name);
      }
      return { ok: true };
    } catch (err) {
      if (err instanceof NotOwned) return { ok: false, stalled: true, reason: 'Conflict', message: err.message };
      const invalid = err instanceof ApiError && (err.status === 422 || err.status === 400);
      this.deps.log.warn({ bridge: bridge.metadata.name, err: (err as Error).message }, 'apply failed');
      if (invalid) await this.deps.events.record(regardingOf(bridge), 'Warning', 'ApplyFailed', (err as Error).message);
      return { ok: false, stalled: invalid, message: (err as Error).message };
    }
  }

  /** The object as it is: from the cache, else (it may exist without our labels) from the API server. */
  private async liveObject(kind: string, ns: string, name: string): Promise<KubernetesObject | undefined> {
    const cached = this.deps.caches.owned.get(kind)?.get(name, ns);
    if (cached) return cached;
    try {
      return await this.deps.rest.get<KubernetesObject>(resourcePath(ownedTypeOf(kind)!, ns, name));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** The live object of `obj`'s name if it is the bridge's own; throws NotOwned when another's holds the name. */
  private async ownLiveObject(bridge: MqttBridge, obj: KubernetesObject): Promise<KubernetesObject | undefined> {
    const live = await this.liveObject(obj.kind!, obj.metadata!.namespace!, obj.metadata!.name!);
    if (live && !ownedBy(live, bridge)) {
      throw new NotOwned(`${obj.kind} ${obj.metadata!.name} exists and is not owned by this MqttBridge; the operator does not take it over (delete or rename it)`);
    }
    return live;
  }

  private async applyIfChanged(bridge: MqttBridge, obj: KubernetesObject, cached: KubernetesObject | undefined): Promise<void> {
    const type = ownedTypeOf(obj.kind!)!;
    const ns = obj.metadata!.namespace!;
    const name = obj.metadata!.name!;
    if (cached && containsDesired(cached, comparable(obj as never)) && !ownsFieldsNoLongerDesired(cached, obj, FIELD_MANAGER)) return;
    await this.deps.rest.apply(resourcePath(type, ns, name), obj, FIELD_MANAGER);
    this.deps.log.info({ bridge: bridge.metadata.name, kind: obj.kind, name }, cached ? 'updated' : 'created');
    await this.deps.events.record(regardingOf(bridge), 'Normal', cached ? 'Updated' : 'Created', `${cached ? 'updated' : 'created'} ${obj.kind} ${name}`);
  }

  private async deleteIfOwned(bridge: MqttBridge, kind: string, name: string): Promise<void> {
    const namespace = bridge.metadata.namespace!;
    const cached = this.deps.caches.owned.get(kind)?.get(name, namespace);
    if (!cached || !ownedBy(cached, bridge)) return;
    try {
      await this.deps.rest.delete(resourcePath(ownedTypeOf(kind)!, namespace, name));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  private async writeBridgeStatus(bridge: MqttBridge, outcome: ApplyOutcome, bindings: number, port: number, rollout: Propagation): Promise<void> {
    const ns = bridge.metadata.namespace!;
    const name = bridge.metadata.name!;
    const names = objectNames(name);
    const dep = this.deps.caches.owned.get('Deployment')?.get(names.deployment, ns) as
      | (KubernetesObject & { spec?: { replicas?: number }; status?: DeploymentState['status'] })
      | undefined;
    const deployment: DeploymentState | undefined = dep && { generation: dep.metadata?.generation, specReplicas: dep.spec?.replicas ?? MQTT_BRIDGE_DEFAULTS.replicas, status: dep.status };
    const endpoint = `${names.service}.${ns}.svc:${port}`;
    const configured = { current: rollout.current, readyPods: rollout.readyPods, detail: rollout.detail };
    const status = bridgeStatus(bridge, outcome, deployment, { bindings, selector: selectorString(name), endpoint, configured }, this.now());
    if (sameStatus(bridge.status, status)) return;
    const reasonOf = (s: typeof status | undefined) => s?.conditions?.find((c) => c.type === 'Ready')?.reason;
    if (!outcome.ok && outcome.reason && reasonOf(bridge.status) !== outcome.reason) {
      await this.deps.events.record(regardingOf(bridge), 'Warning', outcome.reason, outcome.message);
    }
    await this.deps.rest.apply(
      resourcePath(RESOURCES.mqttBridge, ns, name, 'status'),
      { apiVersion: bridge.apiVersion, kind: bridge.kind, metadata: { name, namespace: ns }, status } as KubernetesObject,
      FIELD_MANAGER,
    );
  }

  /**
   * Each write is a round trip to the API server: a thousand new bindings written one after
   * another took tens of seconds, so a few go at a time.
   */
  private async writeBindingStatuses(bindings: TopicBinding[], verdicts: ReturnType<typeof resolveBindings<TopicBinding>>['verdicts'], rollout: Propagation | undefined) {
    await forEachLimited(bindings, STATUS_WRITES_IN_FLIGHT, (b) => this.writeBindingStatus(b, verdicts.get(b)!, rollout && bindingRollout(b, rollout)));
  }

  private async writeBindingStatus(b: TopicBinding, verdict: BindingVerdict, rollout: BindingRollout | undefined): Promise<void> {
    const status = bindingStatus(b, verdict, rollout, this.now());
    if (sameStatus(b.status, status)) return;
    const previous = b.status?.conditions?.find((c) => c.type === 'Ready')?.reason;
    try {
      await this.deps.rest.apply(
        resourcePath(RESOURCES.topicBinding, b.metadata.namespace!, b.metadata.name!, 'status'),
        { apiVersion: b.apiVersion, kind: b.kind, metadata: { name: b.metadata.name, namespace: b.metadata.namespace }, status } as KubernetesObject,
        FIELD_MANAGER,
      );
    } catch (err) {
      if (isNotFound(err)) return; // deleted meanwhile
      throw err;
    }
    const reason = status.conditions?.find((c) => c.type === 'Ready')?.reason;
    // Propagating is a step on the way to Bound, not news.
    if (previous !== reason && reason !== 'Propagating') {
      await this.deps.events.record(regardingOf(b), verdict.state === 'Bound' ? 'Normal' : 'Warning', reason!, verdict.message);
    }
  }
}

const STATUS_WRITES_IN_FLIGHT = 16;

/** A binding as the rendered config holds it, against what the pods run. */
function bindingRollout(b: TopicBinding, rollout: Propagation): BindingRollout {
  const podsWith = rollout.podsWith(bindingEntry(b));
  return { podsWith, readyPods: rollout.readyPods, message: propagationMessage(podsWith, rollout) };
}

async function forEachLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

/** Whether the bridge (this very object, by uid) is the object's controller. */
function ownedBy(obj: KubernetesObject, bridge: MqttBridge): boolean {
  return (obj.metadata?.ownerReferences ?? []).some((ref) => ref.uid === bridge.metadata.uid && ref.kind === bridge.kind);
}

function regardingOf(obj: MqttBridge | TopicBinding) {
  return { apiVersion: obj.apiVersion, kind: obj.kind, name: obj.metadata.name!, namespace: obj.metadata.namespace!, uid: obj.metadata.uid };
}
