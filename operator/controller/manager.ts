import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { MqttBridge, TopicBinding } from '../api/types.js';
import { LABELLED_TYPES, RESOURCES, resourcePath } from '../k8s/paths.js';
import type { KubeRest } from '../k8s/rest.js';
import { SECRET_OPT_IN_LABEL } from '../policy/operator-policy.js';
import { BRIDGE_LABEL, MANAGED_BY } from '../render/names.js';
import type { BridgeReconciler } from '../reconcile/bridge-reconciler.js';
import { watchResource, type WatchedCache } from './informer.js';
import type { OperatorMetrics } from './metrics.js';
import { WorkQueue } from './queue.js';

export interface ManagerOptions {
  /** Empty: all namespaces. */
  namespaces: string[];
  workers: number;
  resyncMs: number;
}

type Cache<T extends KubernetesObject> = WatchedCache<T>;

/** A cache over several namespaces (or all) that reads like one. */
class MultiCache<T extends KubernetesObject> {
  constructor(private readonly parts: Map<string, Cache<T>>) {}

  get(name: string, namespace?: string): T | undefined {
    const part = this.parts.get(namespace ?? '') ?? this.parts.get('');
    return part?.get(name, namespace);
  }

  list(namespace?: string): T[] {
    const part = namespace !== undefined ? (this.parts.get(namespace) ?? this.parts.get('')) : undefined;
    if (part) return [...part.list(namespace)];
    return [...this.parts.values()].flatMap((p) => [...p.list(namespace)]);
  }

  get synced(): Promise<void> {
    return Promise.all([...this.parts.values()].map((p) => p.synced)).then(() => undefined);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.parts.values()].map((p) => p.stop()));
  }
}

/**
 * Informers feed keys into the work queue; workers reconcile them. Every change to an
 * MqttBridge, to a TopicBinding (its bridge's key) or to an owned object (its owner's key)
 * enqueues one key; a periodic resync enqueues all of them to repair drift.
 */
export class Manager {
  readonly queue = new WorkQueue();
  readonly bridges: MultiCache<MqttBridge>;
  readonly bindings: MultiCache<TopicBinding>;
  readonly owned = new Map<string, MultiCache<KubernetesObject>>();
  /** Metadata only, of the Secrets that allow bridges to use them. */
  readonly secrets: MultiCache<KubernetesObject>;
  private resyncTimer: NodeJS.Timeout | undefined;
  private workers: Promise<void>[] = [];
  private reconciler: BridgeReconciler | undefined;

  constructor(
    kc: KubeConfig,
    rest: KubeRest,
    private readonly opts: ManagerOptions,
    private readonly metrics: OperatorMetrics,
    private readonly log: Logger,
  ) {
    const namespaces = opts.namespaces.length > 0 ? opts.namespaces : [''];
    const watchAll = <T extends KubernetesObject>(
      type: (typeof RESOURCES)[keyof typeof RESOURCES],
      keysOf: (o: T) => string | string[] | undefined,
      selector?: string,
      metadataOnly = false,
    ) =>
      new MultiCache<T>(
        new Map(
          namespaces.map((ns) => [
            ns,
            watchResource<T>(kc, rest, resourcePath(type, ns || undefined), (o) => this.enqueue(keysOf(o)), log, selector, metadataOnly),
          ]),
        ),
      );
    this.bridges = watchAll<MqttBridge>(RESOURCES.mqttBridge, (b) => `${b.metadata.namespace}/${b.metadata.name}`);
    this.bindings = watchAll<TopicBinding>(RESOURCES.topicBinding, (b) => `${b.metadata.namespace}/${b.spec.bridge}`);
    for (const type of LABELLED_TYPES) {
      const keyOf = (o: KubernetesObject) => {
        const bridge = o.metadata?.labels?.[BRIDGE_LABEL];
        return bridge ? `${o.metadata!.namespace}/${bridge}` : undefined;
      };
      this.owned.set(type.kind, watchAll(type, keyOf, `app.kubernetes.io/managed-by=${MANAGED_BY}`));
    }
    // A Secret gaining or losing the label changes what the bridges of its namespace may mount.
    const bridgesOf = (o: KubernetesObject) => this.bridges.list(o.metadata?.namespace).map((b) => `${b.metadata.namespace}/${b.metadata.name}`);
    this.secrets = watchAll(RESOURCES.secret, bridgesOf, `${SECRET_OPT_IN_LABEL}=true`, true);
  }

  get caches() {
    return { bridges: this.bridges, bindings: this.bindings, owned: this.owned, secrets: this.secrets };
  }

  private get allCaches(): MultiCache<KubernetesObject>[] {
    return [this.bridges, this.bindings, this.secrets, ...this.owned.values()] as MultiCache<KubernetesObject>[];
  }

  async synced(): Promise<void> {
    await Promise.all(this.allCaches.map((c) => c.synced));
  }

  private enqueue(keys: string | string[] | undefined): void {
    for (const key of typeof keys === 'string' ? [keys] : (keys ?? [])) this.queue.add(key);
    this.metrics.queueDepth.set(this.queue.length);
  }

  /** Starts the workers: call once this replica leads. */
  start(reconciler: BridgeReconciler): void {
    this.reconciler = reconciler;
    this.resyncAll();
    this.resyncTimer = setInterval(() => this.resyncAll(), this.opts.resyncMs);
    this.resyncTimer.unref();
    this.workers = Array.from({ length: this.opts.workers }, () => this.work());
  }

  resyncAll(): void {
    const keys = new Set<string>();
    for (const b of this.bridges.list()) keys.add(`${b.metadata.namespace}/${b.metadata.name}`);
    for (const b of this.bindings.list()) keys.add(`${b.metadata.namespace}/${b.spec.bridge}`);
    for (const key of keys) this.enqueue(key);
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      this.metrics.queueDepth.set(this.queue.length);
      if (key === undefined) return;
      const end = this.metrics.reconcileSeconds.startTimer();
      try {
        const result = await this.reconciler!.reconcile(key);
        this.queue.forget(key);
        if (result.requeueAfterMs !== undefined) this.queue.addAfter(key, result.requeueAfterMs);
        this.metrics.reconciles.inc({ result: 'ok' });
      } catch (err) {
        const delay = this.queue.addRateLimited(key);
        this.metrics.reconciles.inc({ result: 'error' });
        this.log.warn({ key, err: (err as Error).message, retryInMs: delay, retries: this.queue.retries(key) }, 'reconcile failed; will retry');
      } finally {
        end();
        this.queue.done(key);
      }
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.resyncTimer);
    this.queue.shutDown();
    await Promise.all(this.workers);
    await Promise.all(this.allCaches.map((c) => c.stop()));
  }
}
