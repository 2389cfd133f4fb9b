import type { KubernetesObject, ObjectCache } from '@kubernetes/client-node';
import { pino } from 'pino';
import type { MqttBridge, TopicBinding } from '../../operator/api/types.js';
import { LABELLED_TYPES, OWNED_TYPES, RESOURCES, resourcePath } from '../../operator/k8s/paths.js';
import { ApiError, type KubeRest } from '../../operator/k8s/rest.js';
import { parsePolicy } from '../../operator/policy/operator-policy.js';
import { renderBridgeConfig } from '../../operator/render/config.js';
import { renderObjects } from '../../operator/render/objects.js';
import { BridgeReconciler, MISSING_TOPIC_RECHECK_MS, nextLookAfter, type Caches } from '../../operator/reconcile/bridge-reconciler.js';
import type { EventRecorder } from '../../operator/reconcile/events.js';
import type { TopicExistence } from '../../operator/reconcile/resolve-bindings.js';
import type { TopicChecker } from '../../operator/rocketmq/topic-checker.js';

/**
 * The reconciler against an API server kept in a Map: what it applies is what the caches hold
 * next time (status subresources merged into their object), as informers would deliver it.
 */
class FakeApi {
  readonly objects = new Map<string, KubernetesObject & { status?: unknown }>();
  readonly writes: string[] = [];

  readonly rest = {
    apply: async (path: string, obj: KubernetesObject) => {
      this.writes.push(path);
      if (path.endsWith('/status')) {
        const main = path.slice(0, -'/status'.length);
        this.objects.set(main, { ...this.objects.get(main)!, status: (obj as { status?: unknown }).status });
      } else {
        this.objects.set(path, obj);
      }
      return obj;
    },
    get: async (path: string) => {
      const obj = this.objects.get(path);
      if (!obj) throw new ApiError(404, 'NotFound', `${path} not found`);
      return obj;
    },
    delete: async (path: string) => {
      this.writes.push(`DELETE ${path}`);
      this.objects.delete(path);
    },
  } as unknown as KubeRest;

  put(obj: KubernetesObject, type: (typeof RESOURCES)[keyof typeof RESOURCES]): void {
    this.objects.set(resourcePath(type, obj.metadata!.namespace, obj.metadata!.name), obj);
  }

  private cacheOf<T extends KubernetesObject>(kind: string): ObjectCache<T> {
    const all = () => [...this.objects.values()].filter((o) => o.kind === kind) as unknown as T[];
    return {
      get: (name: string, ns?: string) => all().find((o) => o.metadata?.name === name && (ns === undefined || o.metadata?.namespace === ns)),
      list: (ns?: string) => all().filter((o) => ns === undefined || o.metadata?.namespace === ns),
    };
  }

  caches(): Caches {
    const kinds = LABELLED_TYPES.map((t) => t.kind);
    return {
      bridges: this.cacheOf<MqttBridge>('MqttBridge'),
      bindings: this.cacheOf<TopicBinding>('TopicBinding'),
      owned: new Map(kinds.map((k) => [k, this.cacheOf(k)])),
      secrets: this.cacheOf('Secret'),
    };
  }
}

const NS = 'iot';
const bridge: MqttBridge = { apiVersion: 'mqbridge.dev/v1alpha1', kind: 'MqttBridge', metadata: { name: 'edge', namespace: NS, uid: 'u-1', generation: 1 }, spec: { rocketmq: { endpoints: 'proxy:8081' } } };
const binding = (name: string, parent: string, topic: string): TopicBinding => ({
  apiVersion: 'mqbridge.dev/v1alpha1',
  kind: 'TopicBinding',
  metadata: { name, namespace: NS, uid: `b-${name}`, generation: 1 },
  spec: { bridge: 'edge', mqttParentTopic: parent, rocketmqTopic: topic },
});

function reconcilerOn(api: FakeApi, topics: Record<string, TopicExistence>) {
  const events: string[] = [];
  const reconciler = new BridgeReconciler({
    rest: api.rest,
    caches: api.caches(),
    topics: { check: async (_e: string, _n: string, t: string) => topics[t] ?? 'missing' } as unknown as TopicChecker,
    events: { record: async (_r: unknown, type: string, reason: string) => void events.push(`${type} ${reason}`) } as unknown as EventRecorder,
    render: { defaultImage: 'example.com/bridge:test' },
    policy: parsePolicy('', 'example.com/bridge:test'),
    log: pino({ level: 'silent' }),
    now: () => new Date('2026-12-01T00:00:00Z'),
    configReports: async () => [],
  });
  return { reconciler, events };
}

const readyReason = (obj: unknown) => (obj as { status?: { conditions?: { type: string; reason: string }[] } }).status?.conditions?.find((c) => c.type === 'Ready')?.reason;
const bindingPath = (name: string) => resourcePath(RESOURCES.topicBinding, NS, name);

describe('BridgeReconciler against a fake API', () => {
  test('a new bridge: every owned object applied once, statuses written, nothing to wait for; the next reconcile writes nothing', async () => {
    const api = new FakeApi();
    api.put(bridge, RESOURCES.mqttBridge);
    api.put(binding('sensors', 'sensors', 'T_SENSORS'), RESOURCES.topicBinding);
    const { reconciler, events } = reconcilerOn(api, { T_SENSORS: 'exists' });
    expect(await reconciler.reconcile(`${NS}/edge`)).toEqual({});
    const kinds = api.writes.filter((w) => !w.endsWith('/status')).map((w) => api.objects.get(w)!.kind);
    expect(kinds).toEqual(['ServiceAccount', 'Role', 'RoleBinding', 'ConfigMap', 'Deployment', 'Service', 'PodDisruptionBudget']);
    expect(readyReason(api.objects.get(bindingPath('sensors')))).toBe('Bound');
    expect(events).toContain('Normal Created');

    api.writes.length = 0;
    expect(await reconciler.reconcile(`${NS}/edge`)).toEqual({});
    expect(api.writes).toEqual([]);
  });

  test('a binding whose RocketMQ topic is missing: TopicNotFound, and a look again once the topic check expires, not at the next resync', async () => {
    const api = new FakeApi();
    api.put(bridge, RESOURCES.mqttBridge);
    api.put(binding('later', 'later', 'T_LATER'), RESOURCES.topicBinding);
    const topics: Record<string, TopicExistence> = { T_LATER: 'missing' };
    const { reconciler } = reconcilerOn(api, topics);
    expect(await reconciler.reconcile(`${NS}/edge`)).toEqual({ requeueAfterMs: MISSING_TOPIC_RECHECK_MS });
    expect(readyReason(api.objects.get(bindingPath('later')))).toBe('TopicNotFound');
    const config = (api.objects.get(resourcePath(RESOURCES.configMap, NS, 'edge-bridge-config')) as { data: Record<string, string> }).data['bridge.yaml']!;
    expect(config).toContain('bindings: []');

    topics.T_LATER = 'exists'; // someone created it
    expect(await reconciler.reconcile(`${NS}/edge`)).toEqual({});
    expect(readyReason(api.objects.get(bindingPath('later')))).toBe('Bound');
  });

  test('a bridge that is gone: its bindings say BridgeNotFound and nothing else is written', async () => {
    const api = new FakeApi();
    api.put(binding('orphan', 'orphan', 'T_ORPHAN'), RESOURCES.topicBinding);
    const { reconciler } = reconcilerOn(api, {});
    expect(await reconciler.reconcile(`${NS}/edge`)).toEqual({});
    expect(api.writes).toEqual([`${bindingPath('orphan')}/status`]);
    expect(readyReason(api.objects.get(bindingPath('orphan')))).toBe('BridgeNotFound');
  });

  test('an object of the bridge\'s name that another owns: Stalled with Conflict, nothing applied', async () => {
    const api = new FakeApi();
    api.put(bridge, RESOURCES.mqttBridge);
    api.put({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'edge-bridge', namespace: NS } }, RESOURCES.serviceAccount);
    const { reconciler } = reconcilerOn(api, {});
    await reconciler.reconcile(`${NS}/edge`);
    expect(api.writes.filter((w) => !w.endsWith('/status'))).toEqual([]);
    const conditions = (api.objects.get(resourcePath(RESOURCES.mqttBridge, NS, 'edge')) as { status: { conditions: { type: string; status: string; reason: string }[] } }).status.conditions;
    expect(conditions).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'Stalled', status: 'True', reason: 'Conflict' })]));
  });
});

test('every kind the renderer makes is an owned kind the reconciler can apply and the manager watches', () => {
  const withEverything: MqttBridge = { ...bridge, spec: { ...bridge.spec, autoscaling: { enabled: true, maxReplicas: 4 }, auth: { mode: 'Token', tokenApi: { enabled: true } } } as MqttBridge['spec'] };
  const kinds = new Set(renderObjects(withEverything, renderBridgeConfig(withEverything, []), { defaultImage: 'x' }).map((o) => o.kind));
  expect([...kinds].filter((k) => !OWNED_TYPES.some((t) => t.kind === k))).toEqual([]);
  expect(kinds.size).toBe(OWNED_TYPES.length);
});

describe('nextLookAfter', () => {
  test.each<[number | undefined, boolean, number | undefined]>([
    [undefined, false, undefined],
    [500, false, 500],
    [undefined, true, MISSING_TOPIC_RECHECK_MS],
    [500, true, 500],
    [60_000, true, MISSING_TOPIC_RECHECK_MS],
  ])('propagation %p, topic missing %p: requeue after %p', (propagationMs, missing, want) => {
    expect(nextLookAfter(propagationMs, missing).requeueAfterMs).toBe(want);
  });
});
